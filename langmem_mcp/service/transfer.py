"""Export, import and backup of a data dir.

Export writes one JSON object per line for every row of every table, each with a "table"
field; tables are found from the schema, so tables added by later migrations are covered
without changes here. Derived data (the FTS index, index bookkeeping, vectors) is left out:
it is rebuilt from the rows. Memories are written in a friendly shape (namespace as a list,
metadata as an object) that `import` also accepts from hand-written files, with their validity
(`valid_from`, and `valid_to` / `superseded_by` once superseded); their earlier versions are the
rows of `memory_history`. An import gives memories new ids and maps both along, so the imported
data dir answers `as_of` searches as the exported one did.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langmem_mcp.config import Settings
from langmem_mcp.engine import namespaces, times, validation
from langmem_mcp.errors import InvalidInput, LangmemError
from langmem_mcp.service import secrets
from langmem_mcp.store.memories import Version
from langmem_mcp.store.sqlite import SCHEMA_VERSION, Database

if TYPE_CHECKING:
    from langmem_mcp.service.container import Services

FORMAT = "langmem-mcp-export"
HEADER_TABLE = "_export"
MEMORIES = "memories"
#: Earlier versions of memories: imported after them, under their new ids.
HISTORY = "memory_history"
CHANGES = ("created", "updated", "superseded")
#: Index bookkeeping and index vectors: meaningless in another data dir, or re-made there.
#: (`meta` names the model that made the vectors; imported into another dir it could make
#: that dir's server throw away and re-make its own.)
SKIPPED_TABLES = {"index_tombstones", "memory_vectors", "meta"}
IMPORT_BATCH = 256


def _connect_ro(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


async def check_schema(settings: Settings) -> None:
    """Open the data dir as the server would: migrate an older file, refuse a newer one."""
    db = await Database.open(settings.db_path)
    await db.close()


def exported_tables(conn: sqlite3.Connection) -> list[str]:
    """User tables in creation order, without virtual tables, their shadow tables, or bookkeeping."""
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
    ).fetchall()
    return _importable([n for n, _ in rows], [n for n, sql in rows if _is_virtual(sql)])


def _is_virtual(sql: str | None) -> bool:
    return (sql or "").upper().startswith("CREATE VIRTUAL TABLE")


def _importable(names: list[str], virtual: list[str]) -> list[str]:
    return [
        n
        for n in names
        if not n.startswith("sqlite_")
        and n not in virtual
        and n not in SKIPPED_TABLES
        and not any(n.startswith(v + "_") for v in virtual)
    ]


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$base64": base64.b64encode(value).decode("ascii")}
    return value


def _unplain(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$base64"}:
        return base64.b64decode(value["$base64"])
    return value


def export_records(db_path: Path) -> Iterator[dict[str, Any]]:
    """Every row, read in one transaction: a consistent snapshot even while servers write."""
    conn = _connect_ro(db_path)
    try:
        conn.execute("BEGIN")
        yield {
            "table": HEADER_TABLE,
            "format": FORMAT,
            "schema_version": conn.execute("PRAGMA user_version").fetchone()[0],
            "exported_at": datetime.now(UTC).isoformat(),
        }
        for table in exported_tables(conn):
            if table == MEMORIES:
                cur = conn.execute(
                    "SELECT id, namespace, content, metadata, importance, created_at, updated_at, "
                    "valid_from, valid_to, superseded_by, change FROM memories ORDER BY rowid"
                )
                for i, ns, content, meta, imp, created, updated, since, until, by, change in cur:
                    yield {
                        "table": MEMORIES,
                        "id": i,
                        "namespace": namespaces.split(ns),
                        "content": content,
                        "metadata": json.loads(meta),
                        "importance": imp,
                        "created_at": created,
                        "updated_at": updated,
                        "valid_from": since,
                        **({"valid_to": until} if until is not None else {}),
                        **({"superseded_by": by} if by is not None else {}),
                        **({"change": change} if change != "created" else {}),
                    }
                continue
            cur = conn.execute(f'SELECT * FROM "{table}"')
            cols = [d[0] for d in cur.description]
            for row in cur:
                yield {"table": table, **{c: _plain(v) for c, v in zip(cols, row, strict=True)}}
        conn.execute("COMMIT")
    finally:
        conn.close()


def write_jsonl(records: Iterable[dict[str, Any]], out: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rec in records:
        out.write(json.dumps(rec, ensure_ascii=False) + "\n")
        counts[rec["table"]] = counts.get(rec["table"], 0) + 1
    counts.pop(HEADER_TABLE, None)
    return counts


# -- import ------------------------------------------------------------------------------------
@dataclass
class ImportReport:
    """What an import wrote and what it found already there, so a re-run can be seen to change nothing."""

    created: int = 0
    existing: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # other tables: rows inserted
    skipped: dict[str, int] = field(default_factory=dict)  # other tables: rows already there


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"{path}:{n}: not JSON: {exc}") from exc
            if not isinstance(rec, dict):
                raise InvalidInput(f"{path}:{n}: each line must be a JSON object")
            yield n, rec


def count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


async def import_file(
    services: Services, path: Path, progress: Callable[[int], None] = lambda n: None
) -> ImportReport:
    """Every line is checked first, so a bad line stops the import before anything is written.
    Other tables' rows are then inserted as they are, skipping rows whose key already exists, in
    one transaction (foreign keys checked at commit); then memories go through
    MemoryService.create_many (validation, duplicates, batched embedding, a transaction per batch)."""
    from langmem_mcp.service.memories import NewItem

    rt = services.runtime
    report = ImportReport()
    svc = services.memories
    schema = [
        (r[0], r[1]) for r in await rt.db.fetchall("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
    ]
    allowed = set(_importable([n for n, _ in schema], [n for n, sql in schema if _is_virtual(sql)]))
    others: list[tuple[int, dict[str, Any]]] = []
    for n, rec in read_jsonl(path):
        try:
            table = _check(rec, svc, NewItem, allowed)
        except LangmemError as exc:
            raise InvalidInput(f"{path}:{n}: {exc}; nothing was imported") from exc
        if table not in (HEADER_TABLE, MEMORIES, HISTORY):
            others.append((n, rec))
    if others:
        await _insert_rows(rt.db, path, others, report)
        progress(len(others))

    batch: list[tuple[NewItem, dict[str, Any]]] = []
    new_id: dict[str, str] = {}  # id in the file -> id here (created, or the one already there)
    created: set[str] = set()  # ids here made by this import
    links: list[tuple[str, dict[str, Any]]] = []  # (id here, its line) of created memories

    async def flush() -> None:
        results = await svc.create_many([item for item, _ in batch])
        for (_, rec), res in zip(batch, results, strict=True):
            if isinstance(rec.get("id"), str):
                new_id[rec["id"]] = res.id
            if res.action == "created":
                created.add(res.id)
                links.append((res.id, rec))
        report.created += sum(r.action == "created" for r in results)
        report.existing += sum(r.action == "exists" for r in results)
        progress(len(batch))
        batch.clear()

    versions: list[tuple[str, Version]] = []
    for _, rec in read_jsonl(path):  # checked above
        table = rec.get("table", MEMORIES)
        if table == HEADER_TABLE:
            progress(1)
        elif table == MEMORIES:
            batch.append((_memory_item(rec, NewItem), rec))
            if len(batch) >= IMPORT_BATCH:
                await flush()
        elif table == HISTORY:
            versions.append((rec["memory_id"], _version(rec)))
    if batch:
        await flush()
    # Once every memory is here: what superseded what (a memory names one stored after it), how
    # each current version came about, and the earlier versions of the memories this import made.
    validity = []
    for here, rec in links:
        by, change = rec.get("superseded_by"), rec.get("change") or "created"
        updated = times.instant(rec.get("updated_at"), "updated_at")
        if by is not None or change != "created" or updated is not None:
            validity.append((here, new_id.get(by) if by is not None else None, change, updated))
    await svc.store.set_validity(validity)
    kept = [(new_id[old], v) for old, v in versions if new_id.get(old) in created]
    await svc.store.add_versions(kept)
    if versions:
        report.rows[HISTORY] = len(kept)
        progress(len(versions))
    return report


def _check(rec: dict[str, Any], svc: Any, new_item: Any, allowed: set[str]) -> str:
    """The line's table; raises what would make the line fail (the checks create_many makes)."""
    table = rec.get("table", MEMORIES)
    if not isinstance(table, str):
        raise InvalidInput('"table" must be a string')
    if table == HEADER_TABLE:
        if not isinstance(rec.get("schema_version", 0), int):
            raise InvalidInput("schema_version must be an integer")
        if rec.get("schema_version", 0) > SCHEMA_VERSION:
            raise InvalidInput(
                f"exported by a newer langmem-mcp (schema {rec['schema_version']}; this one knows "
                f"up to {SCHEMA_VERSION}); upgrade langmem-mcp to import it"
            )
    elif table == MEMORIES:
        item = _memory_item(rec, new_item)
        svc.namespace(item.namespace)
        validation.content(item.content, svc.settings.max_content_chars)
        validation.metadata(item.metadata)
        validation.importance(item.importance)
        times.instant(rec.get("updated_at"), "updated_at")
        for key in ("id", "superseded_by"):
            if rec.get(key) is not None and not isinstance(rec[key], str):
                raise InvalidInput(f"{key} must be a string (a memory id)")
        if rec.get("change", "created") not in CHANGES:
            raise InvalidInput(f"change must be one of {', '.join(CHANGES)}")
    elif table == HISTORY:
        if not isinstance(rec.get("memory_id"), str):
            raise InvalidInput("a memory_history line needs memory_id (the id of a memory in the file)")
        _version(rec)
    elif table not in allowed:
        raise InvalidInput(f"this data dir has no table {str(table)[:80]!r} to import into")
    return table


def _memory_item(rec: dict[str, Any], new_item: Any) -> Any:
    if "content" not in rec:
        raise InvalidInput('a memory line needs "content"')
    ns = rec.get("namespace")
    if isinstance(ns, str):
        ns = namespaces.parse(ns)
    return new_item(
        content=rec["content"],
        namespace=ns,
        metadata=rec.get("metadata"),
        importance=rec.get("importance"),
        created_at=times.instant(rec.get("created_at"), "created_at"),
        valid_from=times.instant(rec.get("valid_from"), "valid_from"),
        valid_to=times.instant(rec.get("valid_to"), "valid_to"),
    )


def _version(rec: dict[str, Any]) -> Version:
    """A memory_history line, checked."""
    content = rec.get("content")
    if not isinstance(content, str):
        raise InvalidInput("a memory_history line needs content (text)")
    meta = rec.get("metadata", "{}")
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError as exc:
            raise InvalidInput("metadata of a memory_history line is not JSON") from exc
    if rec.get("change") not in CHANGES:
        raise InvalidInput(f"change of a memory_history line must be one of {', '.join(CHANGES)}")
    importance = validation.importance(rec.get("importance"))
    since = times.instant(rec.get("valid_from"), "valid_from")
    changed = times.instant(rec.get("changed_at"), "changed_at")
    if importance is None or since is None or changed is None:
        raise InvalidInput("a memory_history line needs importance, valid_from and changed_at")
    return Version(
        content=content,
        metadata=validation.metadata(meta),
        importance=importance,
        valid_from=since,
        valid_to=times.instant(rec.get("valid_to"), "valid_to"),
        change=rec["change"],
        changed_at=changed,
    )


#: Integer keys the data dir numbers itself: a merged data dir's own rows already use them.
#: Such rows are recognised by their other unique keys (a message's thread and id).
RENUMBERED = {"svc_messages": "seq", "prompt_versions": "id"}


async def _insert_rows(
    db: Database, path: Path, records: list[tuple[int, dict[str, Any]]], report: ImportReport
) -> None:
    columns: dict[str, set[str]] = {}
    # (scope, thread_id) -> [(seq in the file, seq here)], to renumber formation watermarks
    seqs: dict[tuple[Any, Any], list[tuple[int, int]]] = {}
    try:
        async with db.transaction() as conn:
            await conn.execute("PRAGMA defer_foreign_keys = ON")
            for _, rec in records:
                table = rec["table"]
                if table not in columns:
                    async with conn.execute(f'PRAGMA table_info("{table}")') as cur:
                        columns[table] = {r[1] for r in await cur.fetchall()}
                values = {k: _unplain(v) for k, v in rec.items() if k in columns[table]}
                values = secrets.redact_row(table, values)[0]  # memories are redacted by create_many
                old_seq = values.pop(RENUMBERED[table], None) if table in RENUMBERED else None
                if table == "svc_watermarks" and isinstance(values.get("seq"), int):
                    values["seq"] = _renumbered(
                        seqs, (values.get("scope"), values.get("thread_id")), values["seq"]
                    )
                if not values:
                    continue
                names = ", ".join(f'"{k}"' for k in values)
                marks = ", ".join("?" * len(values))
                cur = await conn.execute(
                    f'INSERT OR IGNORE INTO "{table}" ({names}) VALUES ({marks})', list(values.values())
                )
                bucket = report.rows if cur.rowcount == 1 else report.skipped
                bucket[table] = bucket.get(table, 0) + 1
                if table == "svc_messages" and isinstance(old_seq, int):
                    key = (values.get("scope"), values.get("thread_id"))
                    async with conn.execute(
                        "SELECT seq FROM svc_messages WHERE scope = ? AND thread_id = ? AND id = ?",
                        (*key, values.get("id")),
                    ) as found:
                        row = await found.fetchone()
                    if row is not None:
                        seqs.setdefault(key, []).append((old_seq, row[0]))
    except sqlite3.IntegrityError as exc:
        raise InvalidInput(
            f"{path}: rows refer to rows that are neither in the file nor in this data dir ({exc}); "
            "nothing was imported"
        ) from exc


def _renumbered(seqs: dict[tuple[Any, Any], list[tuple[int, int]]], thread: tuple[Any, Any], seq: int) -> int:
    """A watermark's message number here: that of the last message it covered."""
    mapped = seqs.get(thread)
    if not mapped:
        return seq
    return max((new for old, new in mapped if old <= seq), default=0)


# -- backup ------------------------------------------------------------------------------------
def backup(db_path: Path, dest: Path) -> int:
    """Copy the database with SQLite's online backup API (consistent while servers write) into
    `dest` as a ready data dir. The vectors kept in SQLite come along, so the copy is searchable
    without re-embedding; Chroma's collections are not copied (they may be mid-write): a server
    opened on the copy refills those of large namespaces from the vectors.
    Returns the number of memories copied."""
    if dest.exists() and any(dest.iterdir()):
        raise InvalidInput(f"{dest} is not empty; back up into a new or empty directory")
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / db_path.name
    src = _connect_ro(db_path)
    out = sqlite3.connect(target)
    try:
        src.backup(out)
        out.execute("DELETE FROM index_tombstones")  # their vectors are in no collection there
        out.commit()
        return int(out.execute("SELECT COUNT(*) FROM memories").fetchone()[0])
    finally:
        out.close()
        src.close()
