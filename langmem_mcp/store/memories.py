"""Memory rows in SQLite: CRUD, BM25 search through FTS5, and the index bookkeeping.

Each row also stores its *context* (the memories around it, for the index). Which memories count
as context is a rule of the engine (`engine.context.ContextPolicy`); the store is handed the rule
(`ContextRules`) and applies it inside its write transactions, so a row and its neighbours'
contexts change together.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import aiosqlite

from langmem_mcp.store.sqlite import Database, now_iso, sha256_hex


class ContextRules(Protocol):
    """How many neighbours on each side make a memory's context, how far apart in time they may
    be, and how a context is stored as one text."""

    @property
    def before(self) -> int: ...
    @property
    def after(self) -> int: ...
    @property
    def window_seconds(self) -> float: ...
    @property
    def lexical_weight(self) -> float: ...

    def join(self, before: Sequence[str], after: Sequence[str]) -> str: ...
    def split(self, context: str) -> tuple[list[str], list[str]]: ...
    def widened(self) -> ContextRules:
        """The rule seen from the other side: whose context contains a given memory."""
        ...


def content_hash(content: str) -> str:
    return sha256_hex(content)


def normalised(content: str) -> str:
    """The text as "the same memory" compares it: case folded, runs of whitespace as one space,
    without trailing punctuation ("I like tea!" is "i like tea"). Text that is nothing but
    punctuation keeps it."""
    text = " ".join(unicodedata.normalize("NFC", content).casefold().split())
    end = len(text)
    while end and (text[end - 1].isspace() or unicodedata.category(text[end - 1]).startswith("P")):
        end -= 1
    return text[:end] or text


def content_key(content: str) -> str:
    """What makes two memories of a namespace the same: the hash of their normalised text."""
    return sha256_hex(normalised(content))


def utc_text(value: str) -> str:
    """An ISO time as every time is stored: UTC, `datetime.isoformat()` ("…+00:00", microseconds
    when not 0). Such texts order as the times do. (A naive time is UTC; text that is not a
    time is left as it is.)"""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class MemoryRow:
    id: str
    namespace: str
    content: str
    metadata: dict[str, Any]
    importance: float
    created_at: str
    updated_at: str
    content_hash: str
    context: str = ""
    #: Valid from (its created_at unless given) until valid_to (None: true now).
    valid_from: str = ""
    valid_to: str | None = None
    superseded_by: str | None = None
    #: How the current version came about: created, updated or superseded (at updated_at).
    change: str = "created"

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> MemoryRow:
        return cls(
            id=row["id"],
            namespace=row["namespace"],
            content=row["content"],
            metadata=json.loads(row["metadata"]),
            importance=row["importance"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            content_hash=row["content_hash"],
            context=row["context"],
            valid_from=row["valid_from"],
            valid_to=row["valid_to"],
            superseded_by=row["superseded_by"],
            change=row["change"],
        )


_COLUMNS = (
    "id, namespace, content, metadata, importance, created_at, updated_at, content_hash, context, "
    "valid_from, valid_to, superseded_by, change"
)
#: A memory `m` that is true now (not superseded, not ended).
CURRENT = "m.valid_to IS NULL"


@dataclass(frozen=True)
class Version:
    """An earlier version of a memory, as memory_history keeps it."""

    content: str
    metadata: dict[str, Any]
    importance: float
    valid_from: str
    valid_to: str | None
    change: str
    changed_at: str


@dataclass(frozen=True)
class NewMemory:
    id: str
    namespace: str
    content: str
    metadata: dict[str, Any]
    importance: float
    created_at: str | None = None
    #: Validity, for memories that come with their own (imports); default: from created_at, open.
    valid_from: str | None = None
    valid_to: str | None = None


class Superseded(Exception):
    """The memory to supersede is no longer current: `by` replaced it already (None: it ended)."""

    def __init__(self, by: str | None) -> None:
        super().__init__(by)
        self.by = by


class SameContent(Exception):
    """The new text is the same as the memory it would supersede."""


class MemoryStore:
    """Memory rows, their FTS5 index and their contexts (kept by `rules`)."""

    def __init__(self, db: Database, rules: ContextRules) -> None:
        self.db = db
        self.rules = rules
        self._keyed = False

    # -- reads ---------------------------------------------------------------------------
    async def get(self, memory_id: str) -> MemoryRow | None:
        row = await self.db.fetchone(f"SELECT {_COLUMNS} FROM memories WHERE id = ?", (memory_id,))
        return MemoryRow.from_row(row) if row else None

    async def get_many(self, ids: Sequence[str]) -> dict[str, MemoryRow]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = await self.db.fetchall(f"SELECT {_COLUMNS} FROM memories WHERE id IN ({marks})", list(ids))
        return {r["id"]: MemoryRow.from_row(r) for r in rows}

    async def find_current(self, namespace: str, key: str) -> MemoryRow | None:
        """The current memory of the namespace with this content_key, if any."""
        await self.ensure_keys()
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM memories m WHERE namespace = ? AND content_key = ? AND {CURRENT}",
            (namespace, key),
        )
        return MemoryRow.from_row(row) if row else None

    async def has_ended(self, namespace: str) -> bool:
        """Does the namespace hold any superseded (ended) memory? (partial index: microseconds)"""
        return (
            await self.db.fetchone(
                "SELECT 1 FROM memories WHERE namespace = ? AND valid_to IS NOT NULL LIMIT 1", (namespace,)
            )
            is not None
        )

    async def current_rows(self, namespace: str) -> list[MemoryRow]:
        """Every memory of a namespace that is true now, oldest first."""
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM memories m WHERE namespace = ? AND {CURRENT} ORDER BY rowid",
            (namespace,),
        )
        return [MemoryRow.from_row(r) for r in rows]

    async def ended_ids(self, namespace: str) -> set[str]:
        """The ids of the namespace's superseded (ended) memories (partial index: only those)."""
        rows = await self.db.fetchall(
            "SELECT id FROM memories WHERE namespace = ? AND valid_to IS NOT NULL", (namespace,)
        )
        return {r[0] for r in rows}

    async def versions(self, memory_id: str) -> list[Version]:
        """The earlier versions of a memory, oldest first (the current one is its row)."""
        rows = await self.db.fetchall(
            "SELECT content, metadata, importance, valid_from, valid_to, change, changed_at "
            "FROM memory_history WHERE memory_id = ? ORDER BY seq",
            (memory_id,),
        )
        return [Version(r[0], json.loads(r[1]), r[2], r[3], r[4], r[5], r[6]) for r in rows]

    async def superseded_ids(self, memory_id: str) -> list[str]:
        """The memories this one superseded, oldest first."""
        rows = await self.db.fetchall(
            "SELECT id FROM memories WHERE superseded_by = ? ORDER BY rowid", (memory_id,)
        )
        return [r[0] for r in rows]

    async def namespace_page(
        self, after: str, limit: int, prefix: str | None = None
    ) -> list[tuple[str, int, int]]:
        """(namespace, memories, current ones) in namespace order after `after`, only those equal
        to or under `prefix` when given (segment-wise)."""
        where, params = "namespace > ?", [after]
        if prefix is not None:
            # under "a/b": "a/b" itself, or between "a/b/" and "a/b0" ('0' follows '/')
            where += " AND (namespace = ? OR (namespace > ? AND namespace < ?))"
            params += [prefix, prefix + "/", prefix + "0"]
        rows = await self.db.fetchall(
            f"SELECT namespace, COUNT(*), COUNT(*) - COUNT(valid_to) FROM memories WHERE {where} "
            "GROUP BY namespace ORDER BY namespace LIMIT ?",
            (*params, limit),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def ensure_keys(self) -> None:
        """Finish schema 9 for rows stored before it (once per process; a no-op after): their
        content_key, and their created_at / valid_from in the one UTC spelling every time is
        written in, so times compare as text (an import used to keep a file's "Z")."""
        if self._keyed:
            return
        while True:
            rows = await self.db.fetchall(
                "SELECT rowid, content, created_at, valid_from FROM memories WHERE content_key IS NULL LIMIT 2000"
            )
            if not rows:
                break
            async with self.db.transaction() as conn:
                await conn.executemany(
                    "UPDATE memories SET content_key = ?, created_at = ?, valid_from = ? "
                    "WHERE rowid = ? AND content_key IS NULL",
                    [(content_key(r[1]), utc_text(r[2]), utc_text(r[3]), r[0]) for r in rows],
                )
        self._keyed = True

    async def page(self, namespace: str, limit: int, after_rowid: int = 0) -> list[tuple[int, MemoryRow]]:
        """Oldest first, keyset-paged by rowid so a listing never costs more than a page."""
        rows = await self.db.fetchall(
            f"SELECT rowid, {_COLUMNS} FROM memories WHERE namespace = ? AND rowid > ? ORDER BY rowid LIMIT ?",
            (namespace, after_rowid, limit),
        )
        return [(r["rowid"], MemoryRow.from_row(r)) for r in rows]

    async def lexical(
        self,
        match: str,
        namespace: str,
        limit: int,
        where: str = "",
        params: Sequence[Any] = (),
        context_weight: float = 0.4,
    ) -> list[tuple[str, float, str]]:
        """(id, BM25 score — higher is better, content) within one namespace, best first; the
        context column counts `context_weight` as much as the memory's own text."""
        rank = f"bm25(memories_fts, 1.0, {float(context_weight)!r}, 0.0)"
        sql = (
            f"SELECT m.id, -{rank}, m.content FROM memories_fts JOIN memories m ON m.rowid = memories_fts.rowid "
            f"WHERE memories_fts MATCH ? AND m.namespace = ? {('AND ' + where) if where else ''} "
            f"ORDER BY {rank} LIMIT ?"
        )
        rows = await self.db.fetchall(sql, (match, namespace, *params, limit))
        return [(r[0], r[1], r[2]) for r in rows]

    async def present(
        self, ids: Sequence[str], where: str = "", params: Sequence[Any] = ()
    ) -> dict[str, bool]:
        """Which of `ids` still exist, each with whether it passes the filter `where` (alias `m`;
        empty: every row passes)."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = await self.db.fetchall(
            f"SELECT id, {f'({where})' if where else '1'} FROM memories m WHERE id IN ({marks})",
            (*params, *ids),
        )
        return {r[0]: bool(r[1]) for r in rows}

    async def count_by_namespace(self) -> dict[str, int]:
        rows = await self.db.fetchall("SELECT namespace, COUNT(*) FROM memories GROUP BY namespace")
        return {r[0]: r[1] for r in rows}

    # -- writes (each one transaction; acknowledged only after COMMIT) --------------------
    async def insert_many(
        self, items: Sequence[NewMemory]
    ) -> tuple[list[tuple[NewMemory, str | None]], set[str]]:
        """Insert, skipping verbatim duplicates within a namespace, in one transaction.

        Returns each item with the id of the existing memory when it was a duplicate (None when
        inserted), and the ids of older memories whose context now includes a new one (they
        need re-indexing). Duplicates never touch the existing row. Contexts are computed in
        memory per namespace from its tail and the batch, so a batch costs a few queries, not
        several per memory.
        """
        await self.ensure_keys()
        existing_of: dict[int, str] = {}
        touched: set[str] = set()
        by_ns: dict[str, list[int]] = {}
        for k, item in enumerate(items):
            by_ns.setdefault(item.namespace, []).append(k)
        async with self.db.transaction() as conn:
            for ns, ks in by_ns.items():
                existing_of |= await _insert_namespace_batch(
                    conn, ns, [(k, items[k]) for k in ks], self.rules, touched
                )
        results = [(item, existing_of.get(k)) for k, item in enumerate(items)]
        return results, touched

    async def update(
        self,
        memory_id: str,
        content: str | None,
        metadata: dict[str, Any] | None,
        importance: float | None,
    ) -> tuple[MemoryRow | None, set[str]]:
        """Change a memory in place; returns the new row (None if the id is gone) and the ids of
        neighbours whose context changed with it."""
        touched: set[str] = set()
        async with self.db.transaction() as conn:
            await _keep_version(conn, memory_id)  # a correction: the version it replaces is history
            sets, params = ["updated_at = ?", "change = 'updated'"], [now_iso()]
            if content is not None:
                sets += ["content = ?", "content_hash = ?", "content_key = ?", "indexed = 0"]
                params += [content, content_hash(content), content_key(content)]
            if metadata is not None:
                sets.append("metadata = ?")
                params.append(json.dumps(metadata))
            if importance is not None:
                sets.append("importance = ?")
                params.append(importance)
            cur = await conn.execute(
                f"UPDATE memories SET {', '.join(sets)} WHERE id = ?", (*params, memory_id)
            )
            if cur.rowcount == 0:
                return None, touched
            if content is not None:
                rowid = await _rowid(conn, memory_id)
                touched = await _refresh_neighbours(conn, rowid, self.rules)
        return await self.get(memory_id), touched

    async def supersede(self, old_id: str, new: NewMemory) -> tuple[str, bool, set[str]] | None:
        """The world changed: store `new` (or find the current memory that already says it) and
        end `old_id` at `new.created_at`, superseded by it, in one transaction. Returns the id
        holding the new fact, whether it was inserted, and the neighbours to re-index; None if
        `old_id` is gone. Raises Superseded if it is no longer current, SameContent if `new`
        says the same."""
        assert new.created_at is not None
        await self.ensure_keys()
        touched: set[str] = set()
        async with self.db.transaction() as conn:
            async with conn.execute(
                "SELECT namespace, content_key, valid_to, superseded_by FROM memories WHERE id = ?", (old_id,)
            ) as cur:
                old = await cur.fetchone()
            if old is None:
                return None
            if old[2] is not None:
                raise Superseded(old[3])
            if content_key(new.content) == old[1]:
                raise SameContent()
            existing = await _insert_namespace_batch(conn, old[0], [(0, new)], self.rules, touched)
            new_id = existing.get(0, new.id)
            await _keep_version(conn, old_id)
            await conn.execute(
                "UPDATE memories SET valid_to = ?, superseded_by = ?, change = 'superseded', updated_at = ? "
                "WHERE id = ?",
                (new.created_at, new_id, new.created_at, old_id),
            )
        return new_id, 0 not in existing, touched

    async def end(self, old_id: str, by: str, at: str) -> bool:
        """`by` (an existing memory) supersedes `old_id` at `at`; False if that is no longer current."""
        async with self.db.transaction() as conn:
            if (
                await _one(conn, "SELECT 1 FROM memories WHERE id = ? AND valid_to IS NULL", (old_id,))
                is None
            ):
                return False
            await _keep_version(conn, old_id)
            await conn.execute(
                "UPDATE memories SET valid_to = ?, superseded_by = ?, change = 'superseded', updated_at = ? "
                "WHERE id = ?",
                (at, by, at, old_id),
            )
        return True

    async def set_validity(self, links: Sequence[tuple[str, str | None, str, str | None]]) -> None:
        """(id, superseded_by, change, updated_at or None to keep it) of imported memories, set
        after all of them are stored (a memory names one stored after it)."""
        if not links:
            return
        async with self.db.transaction() as conn:
            await conn.executemany(
                "UPDATE memories SET superseded_by = ?, change = ?, updated_at = COALESCE(?, updated_at) "
                "WHERE id = ?",
                [(by, change, updated, i) for i, by, change, updated in links],
            )

    async def add_versions(self, versions: Sequence[tuple[str, Version]]) -> None:
        """(memory id, version) rows of history, oldest first (imports)."""
        if not versions:
            return
        async with self.db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO memory_history (memory_id, content, metadata, importance, valid_from, valid_to,"
                " change, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        i,
                        v.content,
                        json.dumps(v.metadata),
                        v.importance,
                        v.valid_from,
                        v.valid_to,
                        v.change,
                        v.changed_at,
                    )
                    for i, v in versions
                ],
            )

    async def delete(self, memory_id: str) -> tuple[bool, set[str]]:
        """Delete the row and leave a tombstone, so the vector is removed even after a crash.
        Its history goes with it (trigger memories_forget). Also returns the neighbours whose
        context changed."""
        async with self.db.transaction() as conn:
            rowid = await _rowid(conn, memory_id)
            if rowid is None:
                return False, set()
            neighbours = await _neighbour_rowids(conn, rowid, self.rules, before=True, after=True)
            await conn.execute(
                "INSERT OR IGNORE INTO index_tombstones (id, namespace) "
                "SELECT id, namespace FROM memories WHERE rowid = ?",
                (rowid,),
            )
            await conn.execute("DELETE FROM memories WHERE rowid = ?", (rowid,))
            touched = set()
            for r in neighbours:
                if await _set_context(conn, r, self.rules):
                    touched.add(await _id_of(conn, r))
        return True, touched

    # -- index bookkeeping -------------------------------------------------------------------
    async def clear_tombstones(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        async with self.db.transaction() as conn:
            await conn.executemany("DELETE FROM index_tombstones WHERE id = ?", [(i,) for i in ids])


async def _keep_version(conn: aiosqlite.Connection, memory_id: str) -> None:
    """Copy a memory's current version into its history (inside the caller's transaction)."""
    await conn.execute(
        "INSERT INTO memory_history (memory_id, content, metadata, importance, valid_from, valid_to,"
        " change, changed_at) SELECT id, content, metadata, importance, valid_from, valid_to, change,"
        " updated_at FROM memories WHERE id = ?",
        (memory_id,),
    )


# -- context maintenance (inside a write transaction) ---------------------------------------
async def _one(conn: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> Any:
    async with conn.execute(sql, params) as cur:
        row = await cur.fetchone()
    return None if row is None else row[0]


async def _rowid(conn: aiosqlite.Connection, memory_id: str) -> int | None:
    return await _one(conn, "SELECT rowid FROM memories WHERE id = ?", (memory_id,))


async def _id_of(conn: aiosqlite.Connection, rowid: int) -> str:
    return await _one(conn, "SELECT id FROM memories WHERE rowid = ?", (rowid,))


async def _around(
    conn: aiosqlite.Connection, rowid: int, policy: ContextRules
) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """The memories just before and after `rowid` in its namespace, nearest first, that lie
    within the time window (a gap ends the run: an older conversation is not context)."""
    async with conn.execute("SELECT namespace, created_at FROM memories WHERE rowid = ?", (rowid,)) as cur:
        me = await cur.fetchone()
    if me is None:
        return [], []
    t0 = datetime.fromisoformat(me[1])
    out: list[list[tuple[int, str]]] = []
    for op, order, n in (("<", "DESC", policy.before), (">", "ASC", policy.after)):
        async with conn.execute(
            f"SELECT rowid, content, created_at FROM memories WHERE namespace = ? AND rowid {op} ? "
            f"ORDER BY rowid {order} LIMIT ?",
            (me[0], rowid, n),
        ) as cur:
            rows = await cur.fetchall()
        run = []
        for r in rows:
            if abs((datetime.fromisoformat(r[2]) - t0).total_seconds()) > policy.window_seconds:
                break
            run.append((r[0], r[1]))
        out.append(run)
    return out[0], out[1]


async def _set_context(conn: aiosqlite.Connection, rowid: int, policy: ContextRules) -> bool:
    """Recompute one memory's stored context; True (and marked for re-indexing) if it changed."""
    before, after = await _around(conn, rowid, policy)
    context = policy.join([c for _, c in reversed(before)], [c for _, c in after])
    cur = await conn.execute(
        "UPDATE memories SET context = ?, indexed = 0 WHERE rowid = ? AND context != ?",
        (context, rowid, context),
    )
    return cur.rowcount == 1


async def _neighbour_rowids(
    conn: aiosqlite.Connection, rowid: int, policy: ContextRules, before: bool = True, after: bool = True
) -> list[int]:
    """Rows whose window contains `rowid`: the `after` ones before it and the `before` ones after."""
    prev, nxt = await _around(conn, rowid, policy.widened())
    return ([r for r, _ in prev] if before else []) + ([r for r, _ in nxt] if after else [])


async def _refresh_neighbours(
    conn: aiosqlite.Connection, rowid: int | None, policy: ContextRules, before: bool = True
) -> set[str]:
    if rowid is None:
        return set()
    touched = set()
    for r in await _neighbour_rowids(conn, rowid, policy, before=True, after=before):
        if await _set_context(conn, r, policy):
            touched.add(await _id_of(conn, r))
    return touched


@dataclass
class _Seq:
    """One memory in a namespace's run, as the context computation sees it."""

    id: str
    content: str
    at: datetime
    context: str
    new: bool
    rowid: int | None = None


def _contexts(seq: list[_Seq], policy: ContextRules) -> list[str]:
    """Each memory's context within `seq` (ordered as stored): the nearest neighbours on each
    side that lie within the time window; a gap ends the run."""
    out = []
    for i, me in enumerate(seq):
        parts: list[list[str]] = []
        for step, n in ((-1, policy.before), (1, policy.after)):
            run, j = [], i + step
            while 0 <= j < len(seq) and len(run) < n:
                if abs((seq[j].at - me.at).total_seconds()) > policy.window_seconds:
                    break
                run.append(seq[j].content)
                j += step
            parts.append(run)
        out.append(policy.join(list(reversed(parts[0])), parts[1]))
    return out


async def _insert_namespace_batch(
    conn: aiosqlite.Connection,
    ns: str,
    batch: list[tuple[int, NewMemory]],
    policy: ContextRules,
    touched: set[str],
) -> dict[int, str]:
    """Insert one namespace's share of a batch; returns {position: existing id} for duplicates:
    a memory of the namespace with the same normalised text and the same end of validity (for a
    new memory: a current one)."""
    digests = {k: (content_key(item.content), item.valid_to) for k, item in batch}
    known: dict[tuple[str, str | None], str] = {}
    unique = list(dict.fromkeys(key for key, _ in digests.values()))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        async with conn.execute(
            f"SELECT content_key, valid_to, id FROM memories WHERE namespace = ? AND content_key IN ({','.join('?' * len(chunk))})",
            (ns, *chunk),
        ) as cur:
            for r in await cur.fetchall():
                known.setdefault((r[0], r[1]), r[2])
    reach = max(policy.before, policy.after)
    async with conn.execute(
        "SELECT rowid, id, content, created_at, context FROM memories WHERE namespace = ? ORDER BY rowid DESC LIMIT ?",
        (ns, reach),
    ) as cur:
        tail = [
            _Seq(r[1], r[2], datetime.fromisoformat(r[3]), r[4], False, r[0])
            for r in reversed(await cur.fetchall())
        ]
    seq = list(tail)
    duplicates: dict[int, str] = {}
    fresh: list[tuple[NewMemory, str, tuple[str, str | None]]] = []
    for k, item in batch:
        digest = digests[k]
        if digest in known:
            duplicates[k] = known[digest]
            continue
        known[digest] = item.id
        created = item.created_at or now_iso()
        seq.append(_Seq(item.id, item.content, datetime.fromisoformat(created), "", True))
        fresh.append((item, created, digest))
    contexts = _contexts(seq, policy)
    for old, computed in zip(tail, contexts, strict=False):
        # The tail's own earlier neighbours are not in `seq`: keep its stored before-part.
        context = policy.join(policy.split(old.context)[0], policy.split(computed)[1])
        if context != old.context:
            await conn.execute(
                "UPDATE memories SET context = ?, indexed = 0 WHERE rowid = ?", (context, old.rowid)
            )
            touched.add(old.id)
    await conn.executemany(
        "INSERT INTO memories (id, namespace, content, metadata, importance, created_at, updated_at,"
        " content_hash, context, content_key, valid_from, valid_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                item.id,
                ns,
                item.content,
                json.dumps(item.metadata),
                item.importance,
                created,
                created,
                content_hash(item.content),
                context,
                digest[0],
                item.valid_from or created,
                item.valid_to,
            )
            for (item, created, digest), context in zip(fresh, contexts[len(tail) :], strict=True)
        ],
    )
    return duplicates
