"""Secrets already in a data dir: find them (``scan-secrets``), or redact them (``--redact``).

Data written before redaction existed, or while a namespace was opted out, can hold secrets.
Scanning reads every place ``service.secrets`` redacts on the way in (memories, thread messages,
formed state, prompt versions, memory history) and reports where secrets are and of which kind,
never their text. Redacting then writes each such row again as it would be stored today:

- a memory in place, as ``MemoryService.update`` does: its FTS row and its neighbours' contexts
  change with it, and every vector whose text changed is computed again from the redacted text (the
  memory is superseded; if its redacted text already exists in the namespace it is merged into that
  memory);
- other rows in place (a message's dedup key is recomputed from its redacted content);
- finally the leftovers of the old text are wiped from the file: FTS5 keeps deleted terms in its
  segments until they are merged (``optimize``), SQLite keeps deleted text in free pages
  (``secure_delete`` while redacting, then ``VACUUM``) and in the WAL (checkpointed and truncated).

Memories in namespaces under ``LANGMEM_MCP_KEEP_SECRETS_IN`` are reported as kept and left alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langmem_mcp.engine import namespaces
from langmem_mcp.errors import NotFound
from langmem_mcp.service.secrets import STORED, Encoding, SecretPolicy, redact_row, union
from langmem_mcp.store.memories import MemoryStore, content_key
from langmem_mcp.store.sqlite import Database

if TYPE_CHECKING:
    from langmem_mcp.service.container import Services

log = logging.getLogger(__name__)

PAGE = 500
MEMORIES = "memories"
#: How each place is named in a report.
TITLES = {
    MEMORIES: "memories",
    "svc_messages": "thread messages",
    "svc_states": "user and thread state",
    "prompt_versions": "prompt versions",
    "memory_history": "earlier versions of memories",
}
#: The namespace a row of a table without a namespace column belongs to (SQL over the table), so
#: rows of namespaces whose secrets are kept are kept too.
NAMESPACE_OF = {
    "memory_history": "(SELECT m.namespace FROM memories m WHERE m.id = memory_history.memory_id)",
}


@dataclass(frozen=True)
class Hit:
    """A stored row holding secrets: where it is (no secret text), and of which kinds."""

    table: str
    where: str
    kinds: tuple[str, ...]
    kept: bool = False  # in a namespace whose secrets the user keeps


@dataclass
class Scan:
    """What a scan of the stored data read and found, table by table, so `--redact` changes exactly that."""

    rows: dict[str, int] = field(default_factory=dict)  # rows read per table
    hits: list[Hit] = field(default_factory=list)

    @property
    def found(self) -> list[Hit]:
        """The hits to redact (not kept)."""
        return [h for h in self.hits if not h.kept]


@dataclass
class Redaction:
    """What ``redact_stored`` did."""

    before: Scan
    after: Scan
    changed: dict[str, int] = field(default_factory=dict)  # rows rewritten per table
    merged: int = 0  # memories whose redacted text was already another memory's
    compacted: bool = False
    note: str = ""


@dataclass(frozen=True)
class _Fix:
    hit: Hit
    key: Any  # a memory's (id, namespace); another row's rowid
    values: dict[str, Any]


# -- where secrets can be ---------------------------------------------------------------------------
async def memory_history_places(db: Database) -> dict[str, dict[str, Encoding]]:
    """The memory history's tables and their text columns, for those this data dir has.

    Earlier versions of a memory (a correction's replaced text, a superseded memory's versions) are
    rows of ``memory_history`` (schema 9): its ``content`` (text) and ``metadata`` (JSON) columns.
    Scanning, redacting and the final wipe cover it like the other places; a row's namespace is its
    memory's (``NAMESPACE_OF``), so the history of a kept namespace is kept with it.
    """
    guess: dict[str, dict[str, Encoding]] = {"memory_history": {"content": "text", "metadata": "json"}}
    out: dict[str, dict[str, Encoding]] = {}
    for table, columns in guess.items():
        have = await _columns(db, table)
        present = {c: e for c, e in columns.items() if c in have}
        if present:
            out[table] = present
    return out


async def _columns(db: Database, table: str) -> set[str]:
    return {r[1] for r in await db.fetchall(f'PRAGMA table_info("{table}")')}


async def _places(db: Database) -> dict[str, dict[str, Encoding]]:
    places = {}
    for table, columns in STORED.items():
        if await _columns(db, table):
            places[table] = columns
    return places | await memory_history_places(db)


# -- scanning -------------------------------------------------------------------------------------
async def scan_stored(services: Services) -> Scan:
    """Where secrets are stored in this data dir (read only)."""
    scan = Scan()
    async for _ in _findings(services, scan):
        pass
    return scan


async def _findings(services: Services, scan: Scan) -> AsyncIterator[_Fix]:
    policy = services.memories.secrets
    db = services.runtime.db
    async for fix in _memory_findings(db, policy, scan):
        yield fix
    for table, columns in (await _places(db)).items():
        async for fix in _row_findings(db, policy, table, columns, scan):
            yield fix


async def _pages(db: Database, sql: str) -> AsyncIterator[Any]:
    """Rows of ``sql`` (which selects rowid first and takes the last rowid seen), a page at a time."""
    after = -(2**63)
    while True:
        rows = await db.fetchall(sql, (after, PAGE))
        for r in rows:
            yield r
        if len(rows) < PAGE:
            return
        after = rows[-1][0]


async def _memory_findings(db: Database, policy: SecretPolicy, scan: Scan) -> AsyncIterator[_Fix]:
    sql = (
        "SELECT rowid, id, namespace, content, metadata, context FROM memories "
        "WHERE rowid > ? ORDER BY rowid LIMIT ?"
    )
    scan.rows[MEMORIES] = 0
    async for r in _pages(db, sql):
        scan.rows[MEMORIES] += 1
        _, mid, ns, content, metadata, context = r
        kept = policy.keeps(ns)
        clean = SecretPolicy()  # what would be taken out, kept or not
        text, in_content = clean.text(ns, content)
        meta, in_metadata = clean.value(ns, json.loads(metadata))
        in_context = clean.text(ns, context)[1] if context else ()
        kinds = union(in_content, in_metadata, in_context)
        if not kinds:
            continue
        where = f"memory {mid} in {ns}" + ("" if in_content or in_metadata else " (in its context)")
        hit = Hit(MEMORIES, where, kinds, kept)
        scan.hits.append(hit)
        if not kept and (in_content or in_metadata):
            values = {"content": text if in_content else None, "metadata": meta if in_metadata else None}
            yield _Fix(hit, (mid, ns), values)


async def _row_findings(
    db: Database, policy: SecretPolicy, table: str, columns: Mapping[str, Encoding], scan: Scan
) -> AsyncIterator[_Fix]:
    have = await _columns(db, table)
    names = list(columns) + [c for c in ("dedup_key", "timestamp", "namespace") if c in have]
    selected = [*names, *([f"{NAMESPACE_OF[table]} AS namespace"] if table in NAMESPACE_OF else [])]
    names += ["namespace"] if table in NAMESPACE_OF else []
    sql = f'SELECT rowid, {", ".join(selected)} FROM "{table}" WHERE rowid > ? ORDER BY rowid LIMIT ?'
    scan.rows[table] = 0
    async for r in _pages(db, sql):
        scan.rows[table] += 1
        values = dict(zip(names, r[1:], strict=True))
        fixed, kinds = redact_row(table, values, columns)
        if not kinds:
            continue
        kept = isinstance(values.get("namespace"), str) and policy.keeps(values["namespace"])
        hit = Hit(table, await _where(db, table, r[0]), kinds, kept)
        scan.hits.append(hit)
        if not kept:
            yield _Fix(hit, r[0], {k: v for k, v in fixed.items() if k in columns or k == "dedup_key"})


async def _where(db: Database, table: str, rowid: int) -> str:
    """A row's place in words a user can act on."""
    if table == "svc_messages":
        r = await db.fetchone("SELECT scope, thread_id, id FROM svc_messages WHERE rowid = ?", (rowid,))
        assert r is not None
        return f"thread {_scoped(r[0], r[1])}, message {r[2]}"
    if table == "svc_states":
        r = await db.fetchone(
            "SELECT scope, target, target_id, function_id FROM svc_states WHERE rowid = ?", (rowid,)
        )
        assert r is not None
        return f"{r[1]} {_scoped(r[0], r[2])}, memory function {r[3]}"
    if table == "prompt_versions":
        r = await db.fetchone("SELECT scope, name, version FROM prompt_versions WHERE rowid = ?", (rowid,))
        assert r is not None
        return f"prompt {_scoped(r[0], r[1])}, version {r[2]}"
    if table == "memory_history":
        r = await db.fetchone(
            "SELECT h.memory_id, m.namespace, (SELECT count(*) FROM memory_history k WHERE"
            " k.memory_id = h.memory_id AND k.seq <= h.seq) FROM memory_history h"
            " LEFT JOIN memories m ON m.id = h.memory_id WHERE h.rowid = ?",
            (rowid,),
        )
        assert r is not None
        return f"memory {r[0]} in {r[1]}, earlier version {r[2]}"
    return f"{table} row {rowid}"


def _scoped(scope: str, name: str) -> str:
    return f"{scope}/{name}" if scope else name


# -- redacting ------------------------------------------------------------------------------------
async def redact_stored(services: Services) -> Redaction:
    """Redact every secret found (not kept), then wipe what is left of the old text in the file."""
    db = services.runtime.db
    await db.conn.execute("PRAGMA secure_delete = ON")  # text freed from here on is zeroed
    before = Scan()
    fixes = [fix async for fix in _findings(services, before)]
    changed: dict[str, int] = {}
    memories, merged = await _redact_memories(services, [f for f in fixes if f.hit.table == MEMORIES])
    if memories:
        changed[MEMORIES] = memories
    for fix in fixes:
        if fix.hit.table != MEMORIES and await _redact_row(db, fix.hit.table, fix):
            changed[fix.hit.table] = changed.get(fix.hit.table, 0) + 1
    compacted, note = await wipe_freed_text(db)
    after = await scan_stored(services)
    return Redaction(before, after, changed, merged, compacted, note)


async def _redact_memories(services: Services, fixes: list[_Fix]) -> tuple[int, int]:
    """Supersede each memory by its redacted text (FTS row and neighbours' contexts change with it),
    then re-embed every memory whose text or context changed, in one batch: a neighbour shared by
    several redacted memories is embedded once. A memory whose redacted text another memory of its
    namespace already has is merged into it (if it is current: a superseded memory is redacted in
    place and stays superseded). Returns (memories changed, of which merged)."""
    memories = services.memories
    store = memories.store
    index = services.runtime.index
    await index.get()  # loaded first: this process (or the server owning the index) re-indexes
    changed = merged = 0
    updates: list[tuple[str, str | None, Any]] = []
    planned: dict[tuple[str, str], str] = {}  # (namespace, redacted text's hash): the memory keeping it
    for fix in fixes:
        mid, ns = fix.key
        content, metadata = fix.values["content"], fix.values["metadata"]
        if content is not None and await _is_current(store, mid):
            other = await store.find_current(ns, content_key(content))
            twin = planned.setdefault((ns, content_key(content)), mid)
            if (other is not None and other.id != mid) or twin != mid:
                try:
                    await memories.delete(mid, namespaces.split(ns))
                except NotFound:  # deleted meanwhile
                    continue
                changed, merged = changed + 1, merged + 1
                continue
        updates.append((mid, content, metadata))
    for start in range(0, len(updates), PAGE):
        page = updates[start : start + PAGE]
        texts = [c for _, c, _ in page if c is not None]
        vectors = iter(await index.embed(texts)) if texts else iter(())
        for mid, content, metadata in page:
            # No version is kept: the one replaced holds the secret (earlier versions are redacted
            # as places of their own).
            row = await store.update(
                mid, content, metadata, None, None if content is None else next(vectors), keep_history=False
            )
            changed += row is not None
    index.notify()
    # The index worker re-makes the changed memories' contexts and vectors and their neighbours':
    # only then is no old text left in a context or a vector.
    while await store.pending():
        await asyncio.sleep(0.05)
    return changed, merged


async def _is_current(store: MemoryStore, memory_id: str) -> bool:
    """Only a current memory can be merged into its twin: a superseded one keeps its place in its
    supersede chain, whatever its redacted text says."""
    row = await store.get(memory_id)
    return row is not None and row.valid_to is None


async def _redact_row(db: Database, table: str, fix: _Fix) -> bool:
    values = dict(fix.values)
    sets = ", ".join(f'"{k}" = ?' for k in values)
    async with db.transaction() as conn:
        try:
            cur = await conn.execute(
                f'UPDATE "{table}" SET {sets} WHERE rowid = ?', (*values.values(), fix.key)
            )
        except sqlite3.IntegrityError:
            # Another message of the thread has the same timestamp and, once redacted, the same
            # content: keep both, without a dedup key for this one.
            values["dedup_key"] = None
            cur = await conn.execute(
                f'UPDATE "{table}" SET {sets} WHERE rowid = ?', (*values.values(), fix.key)
            )
    return cur.rowcount == 1


async def wipe_freed_text(db: Database) -> tuple[bool, str]:
    """Leave no old text in the file: merge every FTS5 index's segments (deleted terms stay in them
    until then), rebuild the file without free pages, and empty the WAL. Returns whether all of it
    was done, and if not, what to do."""
    fts = [
        r[0]
        for r in await db.fetchall("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        if (r[1] or "").upper().startswith("CREATE VIRTUAL TABLE") and "FTS5" in (r[1] or "").upper()
    ]
    async with db.transaction() as conn:
        for name in fts:
            await conn.execute(f'INSERT INTO "{name}"("{name}") VALUES (\'optimize\')')
    try:
        await db.conn.execute("VACUUM")
    except sqlite3.OperationalError as exc:
        log.warning("VACUUM failed: %s", exc)
        return False, (
            f"the database file could not be compacted ({exc}): deleted text may remain in its free "
            "pages. Stop the servers using this data dir and run `langmem-mcp scan-secrets --redact` again"
        )
    busy = await db.fetchone("PRAGMA wal_checkpoint(TRUNCATE)")
    if busy is not None and busy[0]:
        return False, (
            "another process was reading the database, so its write-ahead log could not be emptied: old "
            "text may remain in memory.sqlite3-wal until the servers stop. Run `langmem-mcp scan-secrets "
            "--redact` again with the servers stopped"
        )
    return True, ""
