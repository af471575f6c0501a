"""Redaction cost: redact() per text, and what it adds to a single write and to an import.

- per text: redact() p50/p95 for short (100 chars), medium (2,000) and long (20,000) texts cut
  from ordinary developer conversation (tests/redaction_corpus.py), clean and with a few fake
  secrets pasted in;
- single writes (issue #20's budget: <= 1 ms added at p50): one memory at a time through
  MemoryService.create, and through the manage_memory tool over an in-process MCP session, into a
  namespace that is redacted and one under LANGMEM_MCP_KEEP_SECRETS_IN (not redacted), alternating
  write by write in one data dir; the figure is the difference of the two p50s;
- import (budget: <= 10 % throughput): `langmem-mcp import`'s service function (transfer.import_file)
  on transcript turns, into a redacted namespace and into a kept one, fresh data dirs, rounds
  alternating; the figure is the ratio of the median times. Also the synthetic pipeline
  (json.loads → (redact) → SQLite row + FTS5, with and without the MiniLM embedder);
- ordinary chat (LoCoMo turns, if shared/data has them): how many texts the pre-filter passes;
- detect-secrets, if installed: scan_line over each line of the same texts, for the record.

    python -m tests.bench.redaction [--parts latency,chat,pipeline,writes,import,transcripts,detect-secrets]
        [--rounds 5] [--messages 2000] [--embed-messages 300] [--embed-rounds 3]
        [--writes off:200,window:60] [--write-chars 400] [--import-messages 200]
        [--import-rounds 4] [--out bench-results/redaction.json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import json
import random
import sqlite3
import statistics
import string
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
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
        from langmem_mcp.index.embeddings import make_embedder

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


# -- through the service: a single write, an import --------------------------------------------------

REDACTED_NS = ["bench", "redacted"]
KEPT_NS = ["bench", "kept"]  # under LANGMEM_MCP_KEEP_SECRETS_IN: stored as written, no redaction


def _ms(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {
        "p50_ms": round(statistics.median(xs), 3),
        "p95_ms": round(xs[int(0.95 * (len(xs) - 1))], 3),
        "mean_ms": round(statistics.fmean(xs), 3),
    }


async def _alternate(
    texts: Sequence[str], write: Callable[[str, list[str]], Awaitable[Any]]
) -> dict[str, list[float]]:
    """Each text written once into each namespace, the order switching every text."""
    times: dict[str, list[float]] = {"with": [], "without": []}
    for i, text in enumerate(texts):
        pairs = [("with", REDACTED_NS), ("without", KEPT_NS)]
        for label, ns in pairs if i % 2 == 0 else pairs[::-1]:
            t0 = time.perf_counter()
            await write(text, ns)
            times[label].append((time.perf_counter() - t0) * 1000)
    return times


def _compare(times: dict[str, list[float]], texts: Sequence[str]) -> dict[str, Any]:
    """p50 with and without redaction, their difference, and the median of the paired differences
    (the same text written both ways, one right after the other) with a bootstrap 95 % interval."""
    with_, without = _ms(times["with"]), _ms(times["without"])
    diffs = [a - b for a, b in zip(times["with"], times["without"], strict=True)]
    # A text with a secret is shorter once redacted, so it embeds faster: report clean texts apart.
    secret = [redact(t).text != t for t in texts]
    clean = [d for d, s in zip(diffs, secret, strict=True) if not s]
    return {
        "writes_each": len(diffs),
        "with_redaction": with_,
        "without_redaction": without,
        "added_p50_ms": round(with_["p50_ms"] - without["p50_ms"], 3),
        "ratio_p50": round(with_["p50_ms"] / without["p50_ms"], 4),
        "paired_difference": _median_ci(diffs),
        "paired_difference_clean_texts": _median_ci(clean),
        "paired_difference_texts_with_a_secret": _median_ci(
            [d for d, s in zip(diffs, secret, strict=True) if s]
        ),
        "redact_alone_p50_ms": round(per_text(redact, texts)["p50_us"] / 1000, 4),
    }


def _median_ci(xs: list[float]) -> dict[str, Any]:
    """The median and its bootstrap 95 % interval."""
    if not xs:
        return {"n": 0}
    r = random.Random(0)
    boot = sorted(statistics.median(r.choices(xs, k=len(xs))) for _ in range(2000))
    return {
        "n": len(xs),
        "median_ms": round(statistics.median(xs), 3),
        "ci95_ms": [round(boot[50], 3), round(boot[1949], 3)],
    }


def _write_texts(corpus: Sequence[str], n: int, seed: int, chars: int) -> list[str]:
    """n distinct memories of up to ``chars`` characters cut from developer-chat messages, a fake
    secret pasted into every third (the path that does the most work)."""
    r = random.Random(seed)
    out = []
    for i, m in enumerate(corpus[:n]):
        text = m[:chars]
        if i % 3 == 0:
            text += "\n" + r.choice(_fake_secrets(r))
        out.append(text)
    return out


def added_step(memories: Any, texts: Sequence[str]) -> dict[str, Any]:
    """What redaction adds to a write, measured without the write's noise: the step create_many runs
    on its validated memories (``MemoryService.secrets.memories``), the same texts into a redacted
    namespace and into a kept one (where the step is only the namespace check)."""
    from langmem_mcp.store.memories import NewMemory

    def step(ns: list[str]) -> Callable[[str], object]:
        key = "/".join(ns)
        return lambda text: memories.secrets.memories(
            [NewMemory(id="x", namespace=key, content=text, metadata={"source": "bench"}, importance=0.5)]
        )

    with_, without = per_text(step(REDACTED_NS), texts), per_text(step(KEPT_NS), texts)
    return {
        "with_redaction": with_,
        "without_redaction": without,
        "added_p50_ms": round((with_["p50_us"] - without["p50_us"]) / 1000, 4),
        "added_p95_ms": round((with_["p95_us"] - without["p95_us"]) / 1000, 4),
    }


async def single_writes(
    corpus: Sequence[str], tmp: Path, chars: int, modes: dict[str, int]
) -> dict[str, Any]:
    """Single writes with each context_vectors mode (mode → how many texts)."""
    from langmem_mcp.config import Settings
    from langmem_mcp.service.container import open_services
    from tests.mcp_client import call, memory_session

    keep = "/".join(KEPT_NS)
    out: dict[str, Any] = {}
    for mode, n in modes.items():
        texts = _write_texts(corpus, n, seed=20, chars=chars)
        warm = _write_texts(corpus[n:], 10, seed=21, chars=chars)
        out.setdefault("mean_chars", round(statistics.fmean(len(t) for t in texts)))
        settings = Settings(
            data_dir=tmp / f"service-{mode}", llm="none", keep_secrets_in=keep, context_vectors=mode
        )  # type: ignore[arg-type]
        async with open_services(settings) as services:
            memories = services.memories

            async def create(text: str, ns: list[str], memories: Any = memories) -> None:
                await memories.create(text, ns)

            await services.runtime.index.get()
            await _alternate(warm, create)
            key = f"memory_service[context_vectors={mode}]"
            out[key] = _compare(await _alternate(texts, create), texts)
            if "added_step" not in out:
                out["added_step"] = added_step(memories, texts)
                print(f"the step a write adds (SecretPolicy.memories): {out['added_step']}", flush=True)
        print(f"single write, {key}: {out[key]}", flush=True)
        env = {
            "LANGMEM_MCP_KEEP_SECRETS_IN": keep,
            "LANGMEM_MCP_LLM": "none",
            "ANTHROPIC_API_KEY": "",
            "LANGMEM_MCP_CONTEXT_VECTORS": mode,
        }
        async with memory_session(tmp / f"mcp-{mode}", **env) as session:

            async def tool(text: str, ns: list[str]) -> None:
                await call(session, "manage_memory", content=text, namespace=ns)

            await _alternate(warm, tool)
            key = f"manage_memory[context_vectors={mode}]"
            out[key] = _compare(await _alternate(texts, tool), texts)
        print(f"single write, {key} (in-process MCP): {out[key]}", flush=True)
    return out


def _with_without(
    times: dict[str, list[float]], n: int, unit: str
) -> tuple[dict[str, float], dict[str, Any]]:
    """The median seconds with and without redaction, and what the reports say of them: seconds,
    `unit` per second, the ratio, every round's seconds."""
    med = {k: statistics.median(v) for k, v in times.items()}
    return med, {
        "seconds_with": round(med["with"], 3),
        "seconds_without": round(med["without"], 3),
        f"{unit}_per_s_with": round(n / med["with"], 1),
        f"{unit}_per_s_without": round(n / med["without"], 1),
        "ratio_with_over_without": round(med["with"] / med["without"], 3),
        "all_seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
    }


async def import_throughput(corpus: Sequence[str], n: int, rounds: int, tmp: Path) -> dict[str, Any]:
    """transfer.import_file (what `langmem-mcp import` runs) on n transcript turns."""
    from langmem_mcp.config import Settings
    from langmem_mcp.service import transfer
    from langmem_mcp.service.container import open_services
    from langmem_mcp.service.secrets import SecretPolicy
    from langmem_mcp.store.memories import NewMemory

    turns = [f"{'User' if i % 2 == 0 else 'Assistant'}: {m}" for i, m in enumerate(corpus[:n])]
    files = {}
    for label, ns in (("with", REDACTED_NS), ("without", KEPT_NS)):
        files[label] = tmp / f"turns-{label}.jsonl"
        files[label].write_text("".join(json.dumps({"content": t, "namespace": ns}) + "\n" for t in turns))
    times: dict[str, list[float]] = {"with": [], "without": []}
    for k in range(rounds + 1):  # round 0 warms up (model, caches) and is not counted
        for label in ("with", "without") if k % 2 == 0 else ("without", "with"):
            settings = Settings(
                data_dir=tmp / f"import-{k}-{label}", llm="none", keep_secrets_in="/".join(KEPT_NS)
            )
            async with open_services(settings) as services:
                await services.runtime.index.get()
                t0 = time.perf_counter()
                report = await transfer.import_file(services, files[label])
                elapsed = time.perf_counter() - t0
            assert report.created == n, report
            if k:
                times[label].append(elapsed)
    med, compared = _with_without(times, n, "messages")
    policy = SecretPolicy(("/".join(KEPT_NS),))
    step = {}
    for label, ns in (("with", REDACTED_NS), ("without", KEPT_NS)):
        new = [
            NewMemory(id=str(i), namespace="/".join(ns), content=t, metadata={}, importance=0.5)
            for i, t in enumerate(turns)
        ]
        t0 = time.perf_counter()
        policy.memories(new)
        step[label] = time.perf_counter() - t0
    out = {
        "messages": n,
        "rounds": rounds,
        "mean_chars": round(statistics.fmean(len(t) for t in turns)),
        **compared,
        # the redaction step alone over the same turns, against the import's median time without it
        "step_seconds_with": round(step["with"], 4),
        "step_seconds_without": round(step["without"], 4),
        "step_share_of_import": round((step["with"] - step["without"]) / med["without"], 4),
    }
    print(f"import through transfer.import_file: {out}", flush=True)
    return out


def transcript_import(
    corpus: Sequence[str], sessions: int, turns: int, rounds: int, tmp: Path
) -> dict[str, Any]:
    """`langmem-mcp import-transcripts` (the capture path: parse, redact, queue, store with the
    model) on Claude Code session files, with redaction and with it patched out (capture text has
    no opt-out: the patch stands in for "without"), alternating, fresh data dirs."""
    import contextlib

    from langmem_mcp.commands import import_transcripts
    from langmem_mcp.config import Settings
    from langmem_mcp.engine import redaction
    from langmem_mcp.service import capture_accept, secrets
    from tests.capture_support import Transcript

    root = tmp / "claude-projects"
    messages = iter(corpus * (1 + 2 * sessions * turns // max(1, len(corpus))))
    files = []
    for s in range(sessions):
        t = Transcript(root / f"p{s % 3}" / f"s{s}.jsonl", tmp / f"project-{s % 3}")
        for _ in range(turns):
            t.exchange(next(messages), next(messages))
        files.append(t.path)

    @contextlib.contextmanager
    def unredacted() -> Any:
        def keep(text: str) -> redaction.Redacted:
            return redaction.Redacted(text, ())

        saved = capture_accept.redact, secrets.redact
        capture_accept.redact = secrets.redact = keep  # type: ignore[assignment]
        try:
            yield
        finally:
            capture_accept.redact, secrets.redact = saved

    times: dict[str, list[float]] = {"with": [], "without": []}
    stored = 0
    for k in range(rounds + 1):  # round 0 warms up (model, caches) and is not counted
        for label in ("with", "without") if k % 2 == 0 else ("without", "with"):
            settings = Settings(data_dir=tmp / f"transcripts-{k}-{label}", llm="none")
            with unredacted() if label == "without" else contextlib.nullcontext():
                t0 = time.perf_counter()
                report = import_transcripts._accept_all(settings, files, lambda n: None)
                import_transcripts._store(settings, report["jobs"], quiet=True)
                elapsed = time.perf_counter() - t0
            stored = report["turns"]
            if k:
                times[label].append(elapsed)
    out = {
        "sessions": sessions,
        "turns": stored,
        "rounds": rounds,
        **_with_without(times, stored, "turns")[1],
    }
    print(f"import-transcripts: {out}", flush=True)
    return out


def _commit() -> str:
    """The checked-out commit, marked when the working tree has changes."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=False).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


PARTS = ("latency", "chat", "pipeline", "writes", "import", "transcripts", "detect-secrets")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--embed-messages", type=int, default=300, help="0: no embedding pipeline")
    parser.add_argument("--embed-rounds", type=int, default=3)
    parser.add_argument("--write-chars", type=int, default=400, help="longest single-write memory")
    parser.add_argument(
        "--writes",
        default="off:200,window:60",
        help="context_vectors mode:single writes into each namespace, comma-separated",
    )
    parser.add_argument("--import-messages", type=int, default=200)
    parser.add_argument("--import-rounds", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("bench-results/redaction.json"))
    args = parser.parse_args()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = parts - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; use {', '.join(PARTS)}")
    corpus = dev_conversation(args.messages, seed=7)
    results: dict[str, Any] = {}
    if args.out.exists():  # a run of some parts keeps the figures of the others
        results = json.loads(args.out.read_text())
    stamp = {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": _commit()}
    measured = results.setdefault("measured", {})  # which run each part's figures come from
    measured.update({p: stamp for p in parts if p != "detect-secrets"})
    if "latency" in parts:
        results["latency"] = latency(corpus)
        results["latency"]["1k"] = {
            "chars": 1000,
            **per_text(redact, texts_of(1000, 1000, corpus, 1000, False)),
        }
        print(f"redact {'1k':>14} ({1000:>6} chars): {results['latency']['1k']}", flush=True)
    if "chat" in parts:
        chat = ordinary_chat()
        if chat is not None:
            results["ordinary_chat"] = chat
    if "pipeline" in parts:
        results["import"] = throughput(corpus, args.rounds, args.embed_messages, args.embed_rounds)
    with tempfile.TemporaryDirectory() as tmp:
        if "writes" in parts:
            modes = {
                m.split(":")[0].strip(): int(m.split(":")[1]) for m in args.writes.split(",") if m.strip()
            }
            results["single_write"] = asyncio.run(single_writes(corpus, Path(tmp), args.write_chars, modes))
        if "import" in parts:
            results["import_service"] = asyncio.run(
                import_throughput(corpus, args.import_messages, args.import_rounds, Path(tmp))
            )
        if "transcripts" in parts:
            results["import_transcripts"] = transcript_import(corpus, 6, 20, args.import_rounds, Path(tmp))
    if "detect-secrets" in parts:
        ds = detect_secrets_latency(corpus)
        if ds is not None and "latency" in results:
            measured["detect-secrets"] = stamp
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
