"""Redaction cost: redact() per text, and what it adds to a transcript import.

- per text: redact() p50/p95 for short (100 chars), medium (2,000) and long (20,000) texts cut
  from ordinary developer conversation (tests/redaction_corpus.py), clean and with a few fake
  secrets pasted in;
- import throughput: JSONL transcript lines → json.loads → (redact) → SQLite row + FTS5 index,
  and the same with the store's embedder (MiniLM int8, batches of 32) when it loads; the runs
  with and without redaction alternate, and the ratio of their medians is the figure (the machine
  is shared);
- ordinary chat (LoCoMo turns, if shared/data has them): how many texts the pre-filter passes;
- detect-secrets, if installed: scan_line over each line of the same texts, for the record.

    python -m tests.bench.redaction [--rounds 5] [--messages 2000] [--embed-messages 300]
                                    [--embed-rounds 3] [--out bench-results/redaction.json]
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import random
import sqlite3
import statistics
import string
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langmem_mcp.engine.redaction import _anchors, _lower, redact
from tests.bench import locomo_data
from tests.redaction_corpus import dev_conversation

SIZES = {"short": 100, "medium": 2_000, "long": 20_000}
REPS = {"short": 3000, "medium": 600, "long": 80}


def _fake_secrets(r: random.Random) -> list[str]:
    b62 = string.ascii_letters + string.digits

    def rnd(n: int) -> str:
        return "FAKE" + "".join(r.choice(b62) for _ in range(n - 4))

    return [
        "export ANTHROPIC_API_KEY=" + "sk-" + "ant-api03-" + rnd(93) + "AA",
        "DATABASE_URL=postgres://app:" + rnd(16) + "@db.internal:5432/app",
        'token = "' + rnd(32) + '"',
        "aws_access_key_id = " + "AK" + "IA" + rnd(16).upper(),
    ]


def texts_of(size: int, count: int, corpus: Sequence[str], seed: int, secrets: bool) -> list[str]:
    """``count`` texts of ``size`` characters cut from the corpus at random places."""
    r = random.Random(seed)
    stream = "\n\n".join(corpus)
    out = []
    for _ in range(count):
        start = r.randrange(0, len(stream) - size)
        text = stream[start : start + size]
        if secrets:
            secret = r.choice(_fake_secrets(r))
            at = r.randrange(0, max(1, size - len(secret)))
            text = (text[:at] + "\n" + secret + "\n" + text[at:])[: max(size, len(secret) + 2)]
        out.append(text)
    return out


def per_text(fn: Callable[[str], object], texts: Sequence[str]) -> dict[str, float]:
    """p50/p95 in microseconds of fn over each text (one call each, after one warm-up pass)."""
    for t in texts[:20]:
        fn(t)
    times = []
    gc.disable()
    try:
        for t in texts:
            t0 = time.perf_counter_ns()
            fn(t)
            times.append((time.perf_counter_ns() - t0) / 1000)
    finally:
        gc.enable()
    times.sort()
    return {
        "p50_us": round(statistics.median(times), 2),
        "p95_us": round(times[int(0.95 * (len(times) - 1))], 2),
        "n": len(times),
    }


def latency(corpus: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, size in SIZES.items():
        for secrets in (False, True):
            texts = texts_of(size, REPS[name], corpus, seed=size + secrets, secrets=secrets)
            key = name + ("+secrets" if secrets else "")
            out[key] = {"chars": size, **per_text(redact, texts)}
            print(f"redact {key:>14} ({size:>6} chars): {out[key]}", flush=True)
    return out


class Pipeline:
    """A transcript import's per-message work: parse the JSONL line, store the row, index it."""

    def __init__(self, embedder: Any | None) -> None:
        self.embedder = embedder

    def run(self, lines: Sequence[str], with_redaction: bool) -> float:
        db = sqlite3.connect(":memory:")
        db.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, role TEXT, content TEXT, kinds TEXT)")
        db.execute("CREATE VIRTUAL TABLE f USING fts5(content)")
        t0 = time.perf_counter()
        batch: list[tuple[str, str, str]] = []
        for line in lines:
            msg = json.loads(line)
            content = msg["content"]
            kinds = ""
            if with_redaction:
                r = redact(content)
                content, kinds = r.text, ",".join(r.kinds)
            batch.append((msg["role"], content, kinds))
            if len(batch) == 32:
                self._flush(db, batch)
                batch = []
        if batch:
            self._flush(db, batch)
        db.commit()
        elapsed = time.perf_counter() - t0
        db.close()
        return elapsed

    def _flush(self, db: sqlite3.Connection, batch: list[tuple[str, str, str]]) -> None:
        if self.embedder is not None:
            self.embedder.embed([c for _, c, _ in batch])
        with db:
            cur = db.executemany("INSERT INTO m (role, content, kinds) VALUES (?, ?, ?)", batch)
            del cur
            db.executemany("INSERT INTO f (content) VALUES (?)", [(c,) for _, c, _ in batch])


def load_embedder() -> Any | None:
    try:
        from langmem_mcp.store.embeddings import make_embedder

        embedder = make_embedder("minilm-int8")
        if hasattr(embedder, "load"):
            embedder.load()
        embedder.embed(["warm up"])
        return embedder
    except Exception as e:  # the bench still measures the storage-only pipeline
        print(f"embedder not available ({e}); storage-only pipeline only", flush=True)
        return None


def throughput(corpus: Sequence[str], rounds: int, embed_messages: int, embed_rounds: int) -> dict[str, Any]:
    lines = [
        json.dumps({"role": "user" if i % 2 == 0 else "assistant", "content": m})
        for i, m in enumerate(corpus)
    ]
    chars = sum(len(m) for m in corpus)
    out: dict[str, Any] = {"messages": len(lines), "chars": chars}
    anchors = [len(_anchors(_lower(m))) for m in corpus]
    out["prefilter"] = {
        "messages_without_anchor": round(sum(a == 0 for a in anchors) / len(corpus), 3),
        "anchors_per_1k_chars": round(1000 * sum(anchors) / chars, 1),
    }
    print(f"pre-filter over the corpus: {out['prefilter']}", flush=True)
    t0 = time.perf_counter()
    for m in corpus:
        redact(m)
    alone = time.perf_counter() - t0
    out["redact_only"] = {
        "seconds": round(alone, 4),
        "messages_per_s": round(len(corpus) / alone),
        "mb_per_s": round(chars / alone / 1e6, 1),
        "changed": sum(redact(m).text != m for m in corpus),
    }
    print(f"redact alone over the corpus: {out['redact_only']}", flush=True)
    pipelines = {"storage": (Pipeline(None), lines, rounds)}
    if embed_messages:
        embedder = load_embedder()
        if embedder is not None:  # ~1000x the storage-only time: fewer messages and rounds
            pipelines["storage+embedding"] = (Pipeline(embedder), lines[:embed_messages], embed_rounds)
    for name, (p, msgs, n_rounds) in pipelines.items():
        times: dict[str, list[float]] = {"without": [], "with": []}
        p.run(msgs[:50], True)  # warm-up
        for _ in range(n_rounds):  # interleaved, so a slow spell of the machine hits both
            times["without"].append(p.run(msgs, False))
            times["with"].append(p.run(msgs, True))
        med = {k: statistics.median(v) for k, v in times.items()}
        out[name] = {
            "messages": len(msgs),
            "rounds": n_rounds,
            "seconds_without": round(med["without"], 4),
            "seconds_with": round(med["with"], 4),
            "messages_per_s_without": round(len(msgs) / med["without"], 1),
            "messages_per_s_with": round(len(msgs) / med["with"], 1),
            "ratio_with_over_without": round(med["with"] / med["without"], 3),
        }
        print(f"import pipeline [{name}]: {out[name]}", flush=True)
    return out


def ordinary_chat() -> dict[str, Any] | None:
    """The pre-filter on chat that is not about code: LoCoMo's turns, when shared/data has them."""
    if not locomo_data.DATA_DIR.exists():
        return None
    texts = [t.memory for conv in locomo_data.load() for t in conv.turns]
    out: dict[str, Any] = {
        "messages": len(texts),
        "messages_without_anchor": round(sum(not _anchors(_lower(t)) for t in texts) / len(texts), 3),
        "changed": sum(redact(t).text != t for t in texts),
        **per_text(redact, texts),
    }
    print(f"ordinary chat (LoCoMo turns): {out}", flush=True)
    return out


def detect_secrets_latency(corpus: Sequence[str]) -> dict[str, Any] | None:
    try:
        from detect_secrets.core.scan import scan_line
        from detect_secrets.settings import default_settings
    except ImportError:
        return None

    def scan(text: str) -> None:
        for line in text.splitlines():
            list(scan_line(line))

    out: dict[str, Any] = {
        "version": importlib.metadata.version("detect-secrets"),
        "how": "scan_line over each line, default plugins and filters",
    }
    with default_settings():
        for name, size, reps in (("1k", 1_000, 60), ("medium", 2_000, 40), ("long", 20_000, 6)):
            out[name] = {
                "chars": size,
                **per_text(scan, texts_of(size, reps, corpus, seed=size, secrets=False)),
            }
            print(f"detect-secrets {name:>6} ({size:>6} chars): {out[name]}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--embed-messages", type=int, default=300, help="0: no embedding pipeline")
    parser.add_argument("--embed-rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench-results/redaction.json"))
    args = parser.parse_args()
    corpus = dev_conversation(args.messages, seed=7)
    results: dict[str, Any] = {"latency": latency(corpus)}
    results["latency"]["1k"] = {"chars": 1000, **per_text(redact, texts_of(1000, 1000, corpus, 1000, False))}
    print(f"redact {'1k':>14} ({1000:>6} chars): {results['latency']['1k']}", flush=True)
    chat = ordinary_chat()
    if chat is not None:
        results["ordinary_chat"] = chat
    results["import"] = throughput(corpus, args.rounds, args.embed_messages, args.embed_rounds)
    ds = detect_secrets_latency(corpus)
    if ds is not None:
        results["detect_secrets"] = ds
        results["speedup_vs_detect_secrets"] = {
            k: round(ds[k]["p50_us"] / results["latency"][k]["p50_us"]) for k in ("1k", "medium", "long")
        }
        print(f"speed-up over detect-secrets (p50): {results['speedup_vs_detect_secrets']}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
