"""`langmem-mcp doctor`: check this install end to end and say what to fix.

Checks: the data dir is writable; the embedding model loads offline; every indexed memory has
its vector in SQLite, and Chroma's collections of large namespaces agree with them; whether an LLM
is configured, and how a configured endpoint answers one tiny request; and that each host config
that names this server points at this install and data dir. Capture: what the hooks stored, what
waits in the queue, and the last hook errors. Exits 1 if a check failed (warnings do not fail).

`--repair` mends the index now instead of queueing the work for the next server start: a vector
index that cannot be opened or read is moved aside (kept) and rebuilt from the vectors kept in
SQLite, memories without a vector are embedded. With a server running on the data dir, the server
(which owns the index) is asked to do it, in the background.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

from langmem_mcp.config import Settings

NAME = "doctor"
HELP = "check the data dir, model, index, LLM and host configs of this install"

OK, WARN, FAIL = "ok", "warn", "FAIL"
#: The endpoint check waits at most this long (or LANGMEM_MCP_LLM_TIMEOUT if shorter), without retries.
ENDPOINT_TIMEOUT = 30.0


#: What the index check found: nothing to mend, work to redo (from SQLite), or unreadable files.
INDEX_OK, INDEX_STALE, INDEX_BROKEN = "ok", "stale", "broken"
REPAIR_HINT = "`langmem-mcp doctor --repair` rebuilds it from the vectors kept in SQLite"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project-dir", default=".", help="project folder for Claude Code / VS Code configs")
    p.add_argument(
        "--repair",
        action="store_true",
        help="rebuild a broken or inconsistent vector index now, from the vectors kept in SQLite",
    )


class Report:
    def __init__(self, repairing: bool = False) -> None:
        self.failed = False
        self.repairing = repairing

    def line(self, status: str, what: str, detail: str) -> None:
        self.failed |= status == FAIL
        print(f"[{status:>4}] {what}: {detail}")

    def problem(self, what: str, detail: str) -> None:
        """A failed check; only a warning when --repair is about to mend it."""
        self.line(WARN if self.repairing else FAIL, what, detail)


def check_data_dir(r: Report, settings: Settings) -> bool:
    d = settings.data_dir
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = d / f".doctor-{uuid.uuid4().hex}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        r.line(FAIL, "data dir", f"{d} is not writable ({exc}); set --data-dir or LANGMEM_MCP_DATA_DIR")
        return False
    r.line(OK, "data dir", f"{d} is writable")
    return True


def check_model(r: Report, settings: Settings) -> Any:
    from langmem_mcp.index.embeddings import make_embedder

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a model that needs a download must fail here
    try:
        t0 = time.perf_counter()
        embedder = make_embedder(settings.embedder)
        if hasattr(embedder, "load"):
            embedder.load()
        vec = embedder.embed(["doctor check"])
        ms = (time.perf_counter() - t0) * 1000
    except Exception as exc:  # noqa: BLE001 - report any failure to load
        r.line(FAIL, "model", f"{settings.embedder} did not load offline: {exc}")
        return None
    r.line(OK, "model", f"{embedder.model_id} loaded offline in {ms:.0f} ms (dim {len(vec[0])})")
    return embedder


async def check_index(r: Report, settings: Settings, embedder: Any) -> str:
    """The vectors kept in SQLite (one per indexed memory), then Chroma's collections of large
    namespaces against them. What is off is queued for the server's next start to redo: rows
    to re-embed (`indexed = 0`), stray vectors to delete (tombstones). Returns INDEX_OK,
    INDEX_STALE or INDEX_BROKEN."""
    from langmem_mcp.index.chroma import VectorIndex
    from langmem_mcp.store import vector_rows
    from langmem_mcp.store.sqlite import Database

    where = settings.chroma_url or str(settings.chroma_dir)
    try:
        db = await Database.open(settings.db_path)
    except Exception as exc:  # noqa: BLE001
        r.line(FAIL, "database", f"{settings.db_path}: {exc}")
        return INDEX_OK  # nothing the index repair could mend
    try:
        total = int(await db.scalar("SELECT COUNT(*) FROM memories"))
        pending = int(
            await db.scalar("SELECT COUNT(*) FROM memories WHERE indexed != 1 OR context_stale = 1")
        )
        r.line(
            OK,
            "database",
            f"{settings.db_path}: {total} memories, schema {await db.scalar('PRAGMA user_version')}",
        )
        missing = int(await db.scalar(f"SELECT COUNT(*) FROM memories m WHERE {vector_rows.LACKING}"))
        kept = int(await db.scalar("SELECT COUNT(*) FROM memory_vectors"))
        if missing:
            async with db.transaction() as conn:
                await conn.execute(f"UPDATE memories AS m SET indexed = 0 WHERE {vector_rows.LACKING}")
            r.problem(
                "vectors",
                f"{missing} indexed memories had no vector; marked to be re-embedded at start",
            )
        elif pending:
            r.line(
                WARN, "vectors", f"{pending} memories wait to be indexed; the server finishes this at start"
            )
        else:
            r.line(OK, "vectors", f"{kept} kept in SQLite, one for each memory")

        verdict = INDEX_STALE if missing or pending else INDEX_OK
        try:
            index = await asyncio.to_thread(
                VectorIndex.open, embedder, path=settings.chroma_dir, url=settings.chroma_url
            )
        except Exception as exc:  # noqa: BLE001
            r.problem("index", f"cannot open the vector index at {where} ({exc}); {REPAIR_HINT}")
            return INDEX_BROKEN
        try:
            return await _check_collections(r, settings, embedder, db, index, where, verdict)
        finally:
            await asyncio.to_thread(index.close)
    finally:
        await db.close()


async def _check_collections(
    r: Report, settings: Settings, embedder: Any, db: Any, index: Any, where: str, verdict: str
) -> str:
    from langmem_mcp.store import vector_rows

    if index.model_changed:
        r.line(WARN, "index", f"{where} was built by another model: dropped; the server re-embeds at start")
        return INDEX_STALE
    large = {row[0] for row in await db.fetchall(vector_rows.NAMESPACES_OVER, (settings.exact_search_max,))}
    try:
        in_index = await asyncio.to_thread(index.all_ids)
        # A search in each collection loads its HNSW graph: corrupt segment files show here.
        probe = (await asyncio.to_thread(embedder.embed, ["doctor check"]))[0]
        for ns in index.filled():
            await asyncio.to_thread(index.query, probe, ns, 1)
    except Exception as exc:  # noqa: BLE001
        r.problem("index", f"cannot read the vector index at {where} ({exc}); {REPAIR_HINT}")
        return INDEX_BROKEN
    lost: list[tuple[str, str]] = []
    stray: list[tuple[str, str]] = []
    for ns, ids in in_index.items():
        in_db = {
            row[0] for row in await db.fetchall("SELECT id FROM memory_vectors WHERE namespace = ?", (ns,))
        }
        if ns in index.filled():
            lost += [(ns, i) for i in in_db - ids]
        stray += [(ns, i) for i in ids - in_db]
    if lost or stray:
        async with db.transaction() as conn:
            await conn.executemany("UPDATE memories SET indexed = 0 WHERE id = ?", [(i,) for _, i in lost])
            await conn.executemany(
                "INSERT OR IGNORE INTO index_tombstones (id, namespace) VALUES (?, ?)",
                [(i, ns) for ns, i in stray],
            )
        r.problem(
            "index",
            f"{where}: {len(lost)} memories missing from Chroma, {len(stray)} vectors without a memory; "
            "queued for the server to mend at start",
        )
        return INDEX_STALE
    waiting = large - index.filled()
    if waiting or index.has_legacy:
        r.line(
            WARN,
            "index",
            f"{where}: {len(waiting)} namespaces over {settings.exact_search_max} memories wait for their "
            "approximate index"
            + (" (and the single collection of an older version)" if index.has_legacy else "")
            + "; the server builds them from the kept vectors at start",
        )
        return INDEX_STALE
    n = sum(len(v) for v in in_index.values())
    r.line(
        OK,
        "index",
        f"{where}: {len(in_index)} namespaces over {settings.exact_search_max} memories in Chroma "
        f"({n} vectors), consistent with SQLite",
    )
    return verdict


def repair_index(r: Report, settings: Settings, embedder: Any, broken: bool) -> None:
    """Rebuild the index from SQLite, as a server does when its index fails (index/healing.py):
    here, if no server owns the index; otherwise by asking the server that does."""
    import sqlite3

    from langmem_mcp.index.shared import SharedIndex

    t0 = time.perf_counter()
    # What the server would log as it heals, this reports below.
    logging.getLogger("langmem_mcp.index.healing").setLevel(logging.ERROR)
    shared = SharedIndex(settings, embedder)
    try:
        doing = shared.rebuild(broken)  # takes the index over if no server holds it
        if not shared.is_owner:
            pid = _owner_pid(settings)
            r.line(
                OK,
                "repair",
                f"asked the running server{f' (pid {pid})' if pid else ''} to mend the index: {doing}; "
                "it searches large namespaces exactly until it is done (see its log)",
            )
            return
        guard, indexer = shared.guard, shared.indexer
        assert guard is not None and indexer is not None
        if not guard.heal(indexer):
            r.line(FAIL, "repair", f"could not rebuild the vector index at {guard.where}: {guard.failure}")
            return
        with sqlite3.connect(settings.db_path) as conn:
            marks = ",".join("?" * len(guard.refilled))
            vectors = conn.execute(
                f"SELECT COUNT(*) FROM memory_vectors WHERE namespace IN ({marks})", guard.refilled
            ).fetchone()[0]
        done = [f"moved the unreadable index aside to {m} (kept)" for m in guard.moved]
        done.append(f"rebuilt {len(guard.refilled)} large namespaces ({vectors} vectors) from SQLite")
        if shared.reconciled:
            done.append(f"embedded {shared.reconciled} memories that had no vector")
        r.line(OK, "repair", "; ".join(done) + f" in {time.perf_counter() - t0:.1f} s")
    finally:
        shared.close()


def _owner_pid(settings: Settings) -> int | None:
    from langmem_mcp.index.owner import INFO_FILE

    try:
        return int(json.loads((settings.data_dir / INFO_FILE).read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def check_llm(r: Report, settings: Settings) -> None:
    if settings.llm == "none":
        r.line(OK, "LLM", "off (LANGMEM_MCP_LLM=none): memory tools work; LLM features are disabled")
    elif settings.llm_endpoint_configured and settings.llm in ("auto", "anthropic"):
        base = f" at {settings.anthropic_base_url}" if settings.anthropic_base_url else ""
        key = " (no key needed)" if settings.local_llm_endpoint and not settings.anthropic_api_key else ""
        r.line(OK, "LLM", f"Anthropic Messages API{base}, model {settings.anthropic_model}{key}")
    elif settings.llm == "anthropic":
        r.line(FAIL, "LLM", "LANGMEM_MCP_LLM=anthropic but no ANTHROPIC_API_KEY is set")
    else:
        r.line(
            OK,
            "LLM",
            "no API key: LLM features use the host's model through MCP sampling where the host offers it",
        )


async def check_llm_endpoint(r: Report, settings: Settings) -> None:
    """One tiny request to the configured endpoint, asking for a tool call, to say how it
    answers: with tool calls, with tool calls written as JSON text, in text only, with
    malformed JSON, too slowly, or not at all. Skipped when no endpoint is configured."""
    if settings.llm not in ("auto", "anthropic") or not settings.llm_endpoint_configured:
        return
    from langmem_mcp.llm.anthropic_llm import AnthropicLLM
    from langmem_mcp.llm.base import LLMError, ToolSpec
    from langmem_mcp.llm.factory import LOCAL_KEY
    from langmem_mcp.llm.structured import calls_in_json, find_json

    timeout = min(settings.llm_timeout, ENDPOINT_TIMEOUT)
    llm = AnthropicLLM(
        settings.anthropic_api_key or LOCAL_KEY,
        model=settings.anthropic_model,
        base_url=settings.anthropic_base_url,
        max_tokens=256,
        timeout=timeout,
        max_retries=0,
    )
    ping = ToolSpec(
        "ping",
        "Confirms that the connection works.",
        {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]},
    )
    what = f"LLM endpoint ({settings.anthropic_model})"
    t0 = time.perf_counter()
    try:
        reply = await llm.complete(
            "This is a connection check.",
            [{"role": "user", "content": "Call the tool ping with ok set to true."}],
            tools=[ping],
            tool_choice="ping",
            procedure="doctor",
        )
    except LLMError as exc:
        r.line(FAIL, what, str(exc))
        return
    finally:
        await llm.aclose()
    ms = (time.perf_counter() - t0) * 1000
    found = find_json(reply.text)
    if any(c.name == "ping" for c in reply.tool_calls):
        r.line(OK, what, f"answers with tool calls ({ms:.0f} ms)")
    elif found.error is not None:
        r.line(
            WARN,
            what,
            f"answers with malformed JSON ({found.error}); the procedures feed that back once, then "
            "fail: a model that calls tools works better",
        )
    elif found.found and calls_in_json(found.value, [ping]):
        r.line(OK, what, f"writes its tool calls as JSON text, which the procedures read ({ms:.0f} ms)")
    elif reply.text.strip():
        r.line(
            WARN,
            what,
            "answers in text only, without tool calls: the procedures read text answers (summaries "
            "from prose, memories from lists), with less structure",
        )
    else:
        r.line(WARN, what, "answered with nothing (no text, no tool call)")


def check_hosts(r: Report, settings: Settings, project_dir: Path) -> None:
    from langmem_mcp.commands.install import all_host_configs, launch_command

    command, args, _ = launch_command()
    data_dir = str(settings.data_dir.expanduser().absolute())
    for hc in all_host_configs(project_dir):
        label = f"{hc.host} ({hc.path})"
        if not hc.path.exists():
            continue
        try:
            servers = json.loads(hc.path.read_text(encoding="utf-8")).get(hc.key) or {}
        except (json.JSONDecodeError, AttributeError) as exc:
            r.line(WARN, label, f"not valid JSON: {exc}")
            continue
        ours = {
            n: e
            for n, e in servers.items()
            if isinstance(e, dict)
            and "langmem" in " ".join([str(e.get("command", "")), *map(str, e.get("args", []))])
        }
        if not ours:
            r.line(WARN, label, f"no langmem-mcp entry; run `langmem-mcp install {hc.host}`")
        for name, e in ours.items():
            env_dir = (e.get("env") or {}).get("LANGMEM_MCP_DATA_DIR")
            if e.get("command") != command or list(e.get("args", [])) != args:
                r.line(WARN, f"{label} {name!r}", f"runs {e.get('command')}, not this install ({command})")
            elif not Path(command).exists():
                r.line(FAIL, f"{label} {name!r}", f"{command} does not exist")
            elif env_dir != data_dir:
                r.line(WARN, f"{label} {name!r}", f"uses data dir {env_dir}, not {data_dir}")
            else:
                r.line(OK, f"{label} {name!r}", "points at this install and data dir")


def check_capture(r: Report, settings: Settings, project_dir: Path) -> None:
    """Claude Code's capture hooks: installed for this data dir, what they stored, what waits, and
    the last errors (a hook never fails its host, so this is where its errors show)."""
    from langmem_mcp.commands.install import claude_settings_path, is_our_hook
    from langmem_mcp.service import capture_log
    from langmem_mcp.store import capture as store

    data_dir = str(settings.data_dir.expanduser().absolute())
    for scope in ("user", "project"):
        path = claude_settings_path(scope, project_dir)
        try:
            hooks = json.loads(path.read_text(encoding="utf-8")).get("hooks") or {}
        except (OSError, ValueError, AttributeError):
            continue
        commands = [
            h["command"]
            for groups in hooks.values()
            if isinstance(groups, list)
            for g in groups
            if isinstance(g, dict)
            for h in g.get("hooks") or []
            if is_our_hook(h)
        ]
        if commands:
            elsewhere = [c for c in commands if data_dir not in c]
            if elsewhere:
                r.line(
                    WARN,
                    f"claude-code hooks ({path})",
                    f"{len(elsewhere)} use another data dir than {data_dir}",
                )
            else:
                r.line(OK, f"claude-code hooks ({path})", f"{len(commands)} capture hooks for this data dir")
    if settings.db_path.exists():
        try:
            conn = store.connect(settings.db_path, 5000)
        except Exception:  # noqa: BLE001 - an older file: nothing captured into it yet
            conn = None
        if conn is not None:
            try:
                q = store.queue_state(conn)
            finally:
                conn.close()
            status = WARN if q.failing else OK
            detail = f"{q.sessions} sessions captured" + (
                f", last stored {q.last_stored[:19]}" if q.last_stored else ""
            )
            detail += f"; {q.waiting} jobs waiting" if q.waiting else "; queue empty"
            if q.failing:
                detail += f" ({q.failing} failed and will be retried; last error: {q.last_error})"
            r.line(status, "capture", detail)
    errors = capture_log.recent(settings.data_dir, 5)
    if errors:
        r.line(
            WARN,
            "last hook errors",
            f"{len(errors)} most recent, newest first ({settings.data_dir / capture_log.LOG_FILE}):",
        )
        for e in errors:
            print(f"       {e.get('at', '?')} {e.get('event', '?')}: {e.get('error', '?')}")
    else:
        r.line(OK, "last hook errors", "none recorded")


def run(args: argparse.Namespace, settings: Settings) -> int:
    r = Report(repairing=args.repair)
    if check_data_dir(r, settings):
        embedder = check_model(r, settings)
        if embedder is not None:
            verdict = asyncio.run(check_index(r, settings, embedder))
            if args.repair and verdict != INDEX_OK:
                repair_index(r, settings, embedder, broken=verdict == INDEX_BROKEN)
            elif args.repair:
                r.line(OK, "repair", "nothing to repair")
    check_llm(r, settings)
    asyncio.run(check_llm_endpoint(r, settings))
    check_hosts(r, settings, Path(args.project_dir).absolute())
    check_capture(r, settings, Path(args.project_dir).absolute())
    print("doctor: problems found" if r.failed else "doctor: all checks passed")
    return 1 if r.failed else 0
