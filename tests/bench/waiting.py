"""What counting the work that waits for a model costs a SessionStart hook.

`service.waiting.waiting_work(db)` is what a hook calls to say how much waits to be distilled
(SQLite only). Its cost is measured on a data dir holding `--threads` threads of `--messages`
messages each (half of the threads distilled already) and `--memories` memories of which
`--episodes` are raw episodes, against the baseline a hook pays anyway in the same run: opening
the database (`Database.open`, which checks the schema) and closing it. Rounds alternate, and the
figure is the ratio of medians.

    python -m tests.bench.waiting [--threads 500] [--messages 40] [--memories 50000]
                                  [--episodes 200] [--rounds 200] [--out bench-results/waiting.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from langmem_mcp.config import Settings
from langmem_mcp.service.waiting import DISTILL, waiting_work
from langmem_mcp.store.sqlite import Database, now_iso, sha256_hex


async def fill(db: Database, threads: int, messages: int, memories: int, episodes: int) -> None:
    """Rows as the service writes them (threads, messages, watermarks, memories), in bulk."""
    now = now_iso()
    async with db.transaction() as conn:
        for t in range(threads):
            tid = f"session-{t}"
            await conn.execute(
                "INSERT INTO svc_threads (scope, id, metadata, created_at, updated_at) VALUES ('', ?, '{}', ?, ?)",
                (tid, now, now),
            )
            rows = [
                (
                    "",
                    tid,
                    f"m{t}-{i}",
                    "user" if i % 2 == 0 else "assistant",
                    json.dumps(f"message {i} of session {t} about the build, the tests and the deploy"),
                    "dev" if i % 2 == 0 else None,
                    now,
                    now,
                )
                for i in range(messages)
            ]
            await conn.executemany(
                "INSERT INTO svc_messages (scope, thread_id, id, role, content, user_id, timestamp, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            if t % 2 == 0:  # half of the sessions distilled already
                await conn.execute(
                    "INSERT INTO svc_watermarks (scope, thread_id, function_id, user_id, seq, updated_at)"
                    " VALUES ('', ?, ?, '', (SELECT MAX(seq) FROM svc_messages WHERE thread_id = ?), ?)",
                    (tid, DISTILL, tid, now),
                )
        mems = []
        for i in range(memories):
            raw = i < episodes
            namespace = "episodes" if raw or i % 10 == 0 else f"projects/p{i % 20}"
            metadata = (
                {"kind": "episode", "status": "raw"}
                if raw
                else {"kind": "episode", "status": "distilled"}
                if namespace == "episodes"
                else {"source": "message"}
            )
            content = f"memory {i}: the build uses cache key {uuid.uuid4().hex[:8]}"
            mems.append(
                (str(uuid.uuid4()), namespace, content, json.dumps(metadata), now, now, sha256_hex(content))
            )
        await conn.executemany(
            "INSERT INTO memories (id, namespace, content, metadata, created_at, updated_at, content_hash, indexed)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
            mems,
        )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Settings(data_dir=Path(tmp)).db_path
        db = await Database.open(path)
        await fill(db, args.threads, args.messages, args.memories, args.episodes)
        expected = await waiting_work(db)
        await db.close()
        open_close, count, both = [], [], []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            db = await Database.open(path)
            t1 = time.perf_counter()
            work = await waiting_work(db)
            t2 = time.perf_counter()
            await db.close()
            t3 = time.perf_counter()
            assert work == expected
            open_close.append((t1 - t0) + (t3 - t2))
            count.append(t2 - t1)
            both.append(t3 - t0)
    ms = lambda xs: round(statistics.median(xs) * 1000, 3)  # noqa: E731
    return {
        "data": {
            "threads": args.threads,
            "messages_per_thread": args.messages,
            "memories": args.memories,
            "raw_episodes": args.episodes,
            "waiting": {"threads": expected.threads, "episodes": expected.episodes},
        },
        "rounds": args.rounds,
        "baseline_open_close_p50_ms": ms(open_close),
        "waiting_work_p50_ms": ms(count),
        "open_count_close_p50_ms": ms(both),
        "waiting_work_over_baseline": round(statistics.median(count) / statistics.median(open_close), 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=500)
    p.add_argument("--messages", type=int, default=40)
    p.add_argument("--memories", type=int, default=50_000)
    p.add_argument("--episodes", type=int, default=200)
    p.add_argument("--rounds", type=int, default=200)
    p.add_argument("--out", default="bench-results/waiting.json")
    args = p.parse_args()
    result = asyncio.run(run(args))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
