"""Memory use cases: create, update, delete, get, list, search, stats.

Every surface (MCP tools and resources, REST, CLI import) calls these, so checks and
behaviour are the same whichever door a request came through.
"""

from __future__ import annotations

import asyncio
import builtins
import difflib
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from langmem_mcp.config import Settings
from langmem_mcp.engine import (
    duplicates,
    filters,
    lexical,
    namespaces,
    ranking,
    similarity,
    times,
    validation,
)
from langmem_mcp.engine.context import ContextPolicy
from langmem_mcp.errors import Conflict, InvalidInput, NotFound
from langmem_mcp.index.handle import IndexHandle
from langmem_mcp.service import access
from langmem_mcp.service.models.memories import (
    DedupeCluster,
    DedupeReport,
    ExplainedHit,
    Memory,
    MemoryHistory,
    MemoryHit,
    MemoryPage,
    MemoryVersion,
    NamespaceCount,
    NamespacePage,
    NamespaceStats,
    SearchResult,
    SimilarMemory,
    Stats,
    Why,
    WriteResult,
)
from langmem_mcp.service.secrets import SecretPolicy
from langmem_mcp.store.keywords import KeywordHit, Ranking
from langmem_mcp.store.memories import (
    MemoryRow,
    MemoryStore,
    NewMemory,
    SameContent,
    Superseded,
    content_key,
)
from langmem_mcp.store.sqlite import now_iso
from langmem_mcp.store.vector_rows import VectorRows

if TYPE_CHECKING:  # the index loads after the handshake
    from langmem_mcp.index.shared import SharedIndex

log = logging.getLogger(__name__)

#: Fusion: how many candidates each ranker contributes, and the RRF constant. A small k lets the
#: top of each list dominate, so deep lists add recall without their tails adding noise (LoCoMo
#: ablation in the README: k=60/top 20 → 65.1 recall@10, k=5/top 100 → 66.2; k 3-10 all alike).
FUSION_DEPTH = 100
RRF_K = 5
#: A write of at least this many memories is a bulk write: indexed fast, refined when idle.
BULK_WRITE = 32
#: A question that names one of the speakers in a transcript is usually about what they said.
SPEAKER_BOOST = 2.0
#: Multi-granularity (LoCoMo ablation in the README): a second BM25 list over each memory of a
#: conversation in its stretch of talk, its context counting as much as itself.
WINDOW_CONTEXT_WEIGHT = 1.0

MAX_QUERY_CHARS = 10_000
#: A create reports at most this many similar memories, each shown up to this many characters.
SIMILAR_MAX = 3
SIMILAR_CHARS = 500
#: Namespaces a hint names when a namespace holds nothing.
HINT_NAMESPACES = 3
#: `langmem-mcp dedupe`: the cosine of two memories' own texts that makes them near-duplicates.
#: Measured here: rephrasings of one fact 0.66-0.94, most above 0.8 ("allergic to peanuts" / "has
#: a peanut allergy" 0.90); distinct facts about one user at most 0.55; one fact changed ("lives in
#: Boston" / "lives in Denver") 0.67. A reversed preference ("tabs over spaces" / "spaces over
#: tabs") is 0.96: it clusters, and the newest is kept, which is what it should be.
DEDUPE_THRESHOLD = 0.85

#: Which memories a listing (or the memory browser's search) shows: true now, no longer true, or both.
Validity = Literal["current", "superseded", "all"]
VALIDITY: dict[str, str] = {
    "current": "m.valid_to IS NULL",
    "superseded": "m.valid_to IS NOT NULL",
    "all": "",
}


def _discard(task: asyncio.Future[Any]) -> None:
    """Cancel a task whose result is no longer wanted, and retrieve its exception if it already
    failed (no "exception was never retrieved" at collection)."""
    task.cancel()
    task.add_done_callback(lambda t: t.cancelled() or t.exception())


def to_memory(row: MemoryRow) -> Memory:
    return Memory(
        id=row.id,
        namespace=namespaces.split(row.namespace),
        content=row.content,
        created_at=row.created_at,
        updated_at=row.updated_at,
        metadata=row.metadata,
        importance=row.importance,
        valid_from=row.valid_from or row.created_at,
        valid_to=row.valid_to,
        superseded_by=row.superseded_by,
    )


@dataclass(frozen=True)
class NewItem:
    """One memory to write in a batch (import, formation, capture): what `create` takes one by one."""

    content: str
    namespace: list[str]
    metadata: dict[str, Any] | None = None
    importance: float | None = None
    created_at: str | None = None
    #: Validity carried by an import (default: valid from created_at, and still true).
    valid_from: str | None = None
    valid_to: str | None = None


@dataclass(frozen=True)
class _SimilarReads:
    """The similar-memory check's reads, made before the new memory's vector exists."""

    index: SharedIndex
    exact: tuple[list[str], Any] | None  # the namespace's kept vectors, when searched exactly
    fresh: tuple[list[str], Any] | None  # else its rows not yet in the Chroma collection
    ended: set[str]


class MemoryService:
    """Agent memory: one memory at a time or in bulk, and hybrid search within a namespace."""

    def __init__(
        self,
        settings: Settings,
        store: MemoryStore,
        vectors: VectorRows,
        index: IndexHandle,
        schema_version: int,
        context: ContextPolicy,
    ) -> None:
        self.settings = settings
        self.context = context
        self.store = store
        self.vectors = vectors
        self.index = index
        self.schema_version = schema_version
        self.secrets = SecretPolicy.of(settings)

    def namespace(self, namespace: Sequence[str] | None) -> str:
        """The stored key of a namespace given by a caller (None: the configured default), checked
        against what the caller may touch."""
        return access.check(
            namespaces.join(self.settings.default_namespace if namespace is None else namespace)
        )

    def _uuid(self, memory_id: Any) -> str:
        if not isinstance(memory_id, str) or not memory_id:
            raise InvalidInput("id is required for update, supersede and delete")
        try:
            return str(uuid.UUID(memory_id))
        except ValueError as exc:
            raise NotFound(f"no memory with id {memory_id[:80]!r} in this namespace") from exc

    async def _owned(self, memory_id: Any, ns: str) -> MemoryRow:
        mid = self._uuid(memory_id)
        await self.store.ensure_keys()
        row = await self.store.get(mid)
        if row is None or row.namespace != ns:
            # The same answer whether the id is unknown or lives elsewhere: reveal nothing.
            raise NotFound(f"no memory with id {mid!r} in namespace {namespaces.split(ns)}")
        return row

    # -- writes ----------------------------------------------------------------------------
    async def create(
        self,
        content: Any,
        namespace: Sequence[str] | None = None,
        metadata: Any = None,
        importance: Any = None,
    ) -> WriteResult:
        """One memory; the same text (normalised) already current in the namespace is not stored
        again. A new memory's result lists the current memories most similar to it (at least
        `similar_threshold`), so the caller can supersede an older version of the same fact: the
        one encoding the write makes is scored against the namespace's kept vectors, read before
        the new memory joins them."""
        item = NewItem(content, namespace, metadata, importance)  # type: ignore[arg-type]
        threshold = self.settings.similar_threshold
        if threshold <= 0:
            [result] = await self.create_many([item])
            return result
        new, redacted = self._validated([item])
        # The check's reads need no vector: they are made while the new memory is embedded, and
        # only its scoring (and in a large namespace its Chroma query) runs beside the insert.
        todo = await self._new_positions(new)
        if not todo:  # a duplicate: nothing to embed or to compare
            [result] = await self._insert(new, redacted, [None])
            return result
        reads = asyncio.ensure_future(self._similar_reads(new[0].namespace))
        try:
            vectors = await self._vectors(new, todo)
        except BaseException:
            _discard(reads)
            raise
        if vectors[0] is None:  # no vector (the model failed): stored for the worker, not compared
            _discard(reads)
            [result] = await self._insert(new, redacted, vectors)
            return result
        check = asyncio.ensure_future(self._similar_hint(vectors[0], new[0].namespace, threshold, reads))
        await asyncio.sleep(0)  # the check's Chroma query starts before the insert's statements
        try:
            [result] = await self._insert(new, redacted, vectors)
        finally:
            similar = await check
        similar = [m for m in similar if m.id != result.id][:SIMILAR_MAX]
        if result.action != "created" or not similar:
            return result
        return result.model_copy(update={"similar": similar})

    async def _similar_reads(self, ns: str) -> _SimilarReads:
        """What the similar-memory check reads before it has the new memory's vector: the
        namespace's superseded ids, and its kept vectors when it is searched exactly, else those
        of its rows not yet in the Chroma collection (read before the query: a row the worker
        finishes meanwhile is in the collection by then). Read while the text is embedded, so a
        memory another writer commits during those milliseconds is not compared: the check is a
        hint, and that memory was written at the same moment."""
        index = await self.index.get()
        dim = index.embedder.dim
        exact, ended = await asyncio.gather(
            self.vectors.matrix(ns, dim, self.settings.exact_search_max), self.store.ended_ids(ns)
        )
        fresh = None if exact is not None else await self.vectors.fresh(ns, dim)
        return _SimilarReads(index, exact, fresh, ended)

    async def _similar_hint(
        self, vector: Any, ns: str, threshold: float, reads: asyncio.Future[_SimilarReads]
    ) -> list[SimilarMemory]:
        """`_similar`, as a hint beside a write: its failure never fails the write (logged)."""
        try:
            return await self._similar(vector, ns, threshold, await reads)
        except Exception:  # noqa: BLE001 - the memory is stored either way
            log.warning("the similar-memory check of a create failed", exc_info=True)
            return []

    async def _similar(
        self, vector: Any, ns: str, threshold: float, reads: _SimilarReads
    ) -> list[SimilarMemory]:
        """The current memories of `ns` whose index vectors are at least `threshold` similar to
        `vector`, best first. A large namespace is asked through its approximate index."""
        index, exact, ended = reads.index, reads.exact, reads.ended
        want = SIMILAR_MAX + 1
        scored: list[tuple[str, float]] = []
        if exact is None:
            near = await self._approximate(index, vector, ns, want + len(ended), fresh=reads.fresh)
            if near is not None:  # a hit whose memory is gone is dropped by get_many below
                scored = [(i, s) for s, i in near if i not in ended]
            else:
                exact = await self.vectors.matrix(ns, index.embedder.dim, None)
        if exact is not None:
            ids, matrix = exact
            if ended:
                keep = [k for k, i in enumerate(ids) if i not in ended]
                ids, matrix = [ids[k] for k in keep], matrix[keep]
            scored = [(ids[i], score) for i, score in similarity.top_k(vector, matrix, want)]
        picked = [(i, score) for i, score in scored if score >= threshold]
        rows = await self.store.get_many([i for i, _ in picked])
        return [
            SimilarMemory(id=i, content=_clip(rows[i].content, SIMILAR_CHARS), similarity=round(score, 3))
            for i, score in picked
            if i in rows
        ]

    async def create_many(self, items: Sequence[NewItem]) -> list[WriteResult]:
        """Validate all; embed the new texts (batched with concurrent writes); commit the rows with
        their vectors in one transaction: they are then found by keywords and by meaning. Their
        context, and the vector that mixes it in, are the index worker's to add."""
        new, redacted = self._validated(items)
        if not new:
            return []
        return await self._insert(new, redacted, await self._vectors(new))

    def _validated(self, items: Sequence[NewItem]) -> tuple[list[NewMemory], list[Any]]:
        new = [
            NewMemory(
                id=str(uuid.uuid4()),
                namespace=self.namespace(it.namespace),
                content=validation.content(it.content, self.settings.max_content_chars),
                metadata=validation.metadata(it.metadata),
                importance=0.5 if it.importance is None else validation.importance(it.importance),  # type: ignore[arg-type]
                created_at=times.instant(it.created_at, "created_at"),
                valid_from=times.instant(it.valid_from, "valid_from"),
                valid_to=times.instant(it.valid_to, "valid_to"),
            )
            for it in items
        ]
        return self.secrets.memories(new) if new else ([], [])

    async def _vectors(self, new: Sequence[NewMemory], todo: Sequence[int] | None = None) -> list[Any]:
        """The own-text vectors of the memories to store (None for one the namespace has already:
        nothing is embedded for a duplicate); `todo`: the positions to embed, if looked up."""
        if todo is None:
            todo = await self._new_positions(new)
        vectors: list[Any] = [None] * len(new)
        if todo:
            for k, vector in zip(todo, await self._embed([new[k].content for k in todo]), strict=True):
                vectors[k] = vector
        return vectors

    async def _new_positions(self, new: Sequence[NewMemory]) -> list[int]:
        """The positions of the memories the namespace does not hold yet (the same text, current)."""
        known = await self.store.known_keys([(m.namespace, content_key(m.content)) for m in new])
        return [
            k
            for k, m in enumerate(new)
            if m.valid_to is not None or (m.namespace, content_key(m.content)) not in known
        ]

    async def _insert(
        self, new: list[NewMemory], redacted: list[Any], vectors: list[Any]
    ) -> list[WriteResult]:
        inserted = await self.store.insert_many(
            new, vectors, bulk=sum(v is not None for v in vectors) >= BULK_WRITE
        )
        self.index.notify()
        for ns, added in inserted.vectors.items():
            self.vectors.added(ns, added)
        outcome = inserted.outcome
        return [
            WriteResult(action="created", id=m.id, redacted=list(kinds))
            if existing is None
            else WriteResult(action="exists", id=existing, redacted=list(kinds))
            for (m, existing), kinds in zip(outcome, redacted, strict=True)
        ]

    async def _embed(self, texts: list[str]) -> list[Any]:
        """The vectors of new texts; None for each when the model or the index fails: the write
        still commits (SQLite is the truth), and the index worker embeds the rows later."""
        try:
            return list(await self.index.embed(texts))
        except Exception as exc:  # noqa: BLE001 - a broken index must not fail a write
            log.warning(
                "%d memories saved; indexing them now failed (%s); they stay marked unindexed for the "
                "next index pass (or the next start)",
                len(texts),
                exc,
            )
            return [None] * len(texts)

    async def update(
        self,
        memory_id: Any,
        namespace: Sequence[str] | None = None,
        content: Any = None,
        metadata: Any = None,
        importance: Any = None,
    ) -> WriteResult:
        """A correction: the memory keeps its id, and the version it replaces goes to its history."""
        ns = self.namespace(namespace)
        row = await self._owned(memory_id, ns)
        new_content = (
            None if content is None else validation.content(content, self.settings.max_content_chars)
        )
        meta = None if metadata is None else validation.metadata(metadata)
        imp = validation.importance(importance)
        if new_content is None and meta is None and imp is None:
            raise InvalidInput("update needs new content (or metadata/importance)")
        new_content, meta, redacted = self.secrets.change(ns, new_content, meta)
        if new_content == row.content:
            new_content = None  # the same text: nothing to re-index
        if meta == row.metadata:
            meta = None
        if imp == row.importance:
            imp = None
        if new_content is None and meta is None and imp is None:
            return WriteResult(action="updated", id=row.id, redacted=list(redacted))  # no new version
        vector = None
        if new_content is not None:
            if content_key(new_content) != content_key(row.content):
                other = await self.store.find_current(ns, content_key(new_content))
                if other is not None and other.id != row.id:
                    raise Conflict(f"memory {other.id!r} in this namespace already says the same")
            vector = (await self._embed([new_content]))[0]
        updated = await self.store.update(row.id, new_content, meta, imp, vector)
        if updated is None:
            raise NotFound(f"no memory with id {row.id!r} in namespace {namespaces.split(ns)}")
        if new_content is not None:
            self.index.notify()
        return WriteResult(action="updated", id=row.id, redacted=list(redacted))

    async def supersede(
        self,
        memory_id: Any,
        namespace: Sequence[str] | None = None,
        content: Any = None,
        metadata: Any = None,
        importance: Any = None,
    ) -> WriteResult:
        """The world changed: a new memory says what is true now, and the old one ends (valid_to
        now, superseded_by the new id); it stays readable with include_superseded and as_of.
        The new memory keeps the old one's metadata and importance unless others are given. If
        the namespace already holds the new text, that memory is the one that supersedes."""
        ns = self.namespace(namespace)
        row = await self._owned(memory_id, ns)
        text = validation.content(content, self.settings.max_content_chars)
        meta = row.metadata if metadata is None else validation.metadata(metadata)
        imp = validation.importance(importance)
        [new], [redacted] = self.secrets.memories(
            [
                NewMemory(
                    id=str(uuid.uuid4()),
                    namespace=ns,
                    content=text,
                    metadata=meta,
                    importance=row.importance if imp is None else imp,
                    created_at=now_iso(),
                )
            ]
        )
        [vector] = await self._embed([new.content])
        try:
            done = await self.store.supersede(row.id, new, vector)
        except Superseded as exc:
            later = f"by {exc.by!r}; supersede that one instead" if exc.by else "(it is no longer current)"
            raise Conflict(f"memory {row.id!r} was already superseded {later}") from exc
        except SameContent as exc:
            raise InvalidInput(
                f"the new content says the same as memory {row.id!r}; supersede takes the fact that "
                "replaces it (to fix its wording, use update)"
            ) from exc
        if done is None:
            raise NotFound(f"no memory with id {row.id!r} in namespace {namespaces.split(ns)}")
        new_id, _inserted = done
        self.index.notify()
        return WriteResult(action="superseded", id=new_id, superseded=row.id, redacted=list(redacted))

    async def delete(self, memory_id: Any, namespace: Sequence[str] | None = None) -> WriteResult:
        ns = self.namespace(namespace)
        row = await self._owned(memory_id, ns)
        if not await self.store.delete(row.id):
            raise NotFound(f"no memory with id {row.id!r} in namespace {namespaces.split(ns)}")
        if self.index.ready:
            index = await self.index.get()
            try:
                await asyncio.to_thread(index.delete, ns, [row.id])
                await self.store.clear_tombstones([row.id])
            except Exception as exc:  # noqa: BLE001 - committed already; the tombstone stays for the worker
                log.warning(
                    "memory %s deleted; removing its vector failed (%s); the next index pass removes it",
                    row.id,
                    exc,
                )
        self.index.notify()
        return WriteResult(action="deleted", id=row.id)

    # -- reads -----------------------------------------------------------------------------
    async def rows(self, ids: Sequence[str]) -> dict[str, MemoryRow]:
        """The stored rows of these ids (missing ones left out), for services that read in bulk."""
        return await self.store.get_many(ids)

    async def get(self, memory_id: Any, namespace: Sequence[str] | None = None) -> Memory:
        return to_memory(await self._owned(memory_id, self.namespace(namespace)))

    async def history(self, memory_id: Any, namespace: Sequence[str] | None = None) -> MemoryHistory:
        """Every version of a memory, oldest first; the last one is the memory as it is now."""
        ns = self.namespace(namespace)
        row = await self._owned(memory_id, ns)
        versions = [MemoryVersion(**asdict(v)) for v in await self.store.versions(row.id)]
        versions.append(
            MemoryVersion(
                content=row.content,
                metadata=row.metadata,
                importance=row.importance,
                valid_from=row.valid_from or row.created_at,
                valid_to=row.valid_to,
                changed_at=row.created_at if row.change == "created" else row.updated_at,
                change=row.change,
            )
        )
        return MemoryHistory(
            id=row.id,
            namespace=namespaces.split(ns),
            versions=versions,
            superseded_by=row.superseded_by,
            supersedes=await self.store.superseded_ids(row.id),
        )

    async def list(
        self,
        namespace: Sequence[str] | None = None,
        limit: int = 50,
        cursor: str | None = None,
        *,
        newest_first: bool = False,
        filter: dict[str, Any] | None = None,
        created_from: str | None = None,
        created_to: str | None = None,
        validity: Validity = "all",
    ) -> MemoryPage:
        """A page in stored order (`newest_first`: the reverse), optionally only memories whose
        metadata passes `filter`, that were created in [created_from, created_to] (ISO dates
        or times; a date alone means the whole day), and (`validity`) that are current or
        superseded."""
        ns = self.namespace(namespace)
        limit, _ = validation.paging(limit, 0)
        try:
            after = int(cursor) if cursor else 0
        except ValueError as exc:
            raise InvalidInput(f"cursor {str(cursor)[:40]!r} is not one this server issued") from exc
        if after < 0:
            raise InvalidInput("cursor is not one this server issued")
        where, params = _listing_filter(filter, created_from, created_to, validity)
        await self.store.ensure_keys()
        page = await self.store.page(ns, limit, after, newest_first=newest_first, where=where, params=params)
        next_cursor = str(page[-1][0]) if len(page) == limit else None
        return MemoryPage(
            namespace=namespaces.split(ns),
            memories=[to_memory(r) for _, r in page],
            next_cursor=next_cursor,
            note=None if page or after or where else await self._empty_note(ns),
        )

    async def count(
        self,
        namespace: Sequence[str] | None = None,
        *,
        filter: dict[str, Any] | None = None,
        created_from: str | None = None,
        created_to: str | None = None,
        validity: Validity = "all",
    ) -> int:
        """How many memories `list` would page through with the same conditions."""
        where, params = _listing_filter(filter, created_from, created_to, validity)
        return await self.store.count(self.namespace(namespace), where, params)

    async def version(self, namespace: Sequence[str] | None = None) -> str:
        """A value that changes whenever the namespace's memories change (live views poll it)."""
        return await self.store.version(self.namespace(namespace))

    async def change_marker(self) -> tuple[int, int]:
        """Moves whenever anything is written to the store, by any process: the cheap test a
        live view makes before asking `version`."""
        return await self.store.change_marker()

    async def namespaces(self, cursor: Any = None, limit: Any = 50) -> NamespacePage:
        """Every namespace the caller may see, in order, with its counts; paged by `cursor`
        (the last namespace of the previous page)."""
        limit, _ = validation.paging(limit, 0)
        if cursor is not None and not isinstance(cursor, str):
            raise InvalidInput("cursor must be the next_cursor of a previous page")
        rows = await self.store.namespace_page(cursor or "", limit, access.current().prefix)
        return NamespacePage(
            namespaces=[
                NamespaceCount(namespace=namespaces.split(k), count=n, current=c) for k, n, c in rows
            ],
            next_cursor=rows[-1][0] if len(rows) == limit else None,
        )

    async def _empty_note(self, ns: str) -> str | None:
        """For a namespace that holds no memories: the closest namespaces the caller may see
        that do (a misspelt namespace must not look like an empty store). None if it holds some."""
        counts = {
            k: n for k, n in (await self.store.count_by_namespace()).items() if access.current().allows(k)
        }
        if ns in counts:
            return None
        shown = _ns_text(ns)
        if not counts:
            return f"namespace {shown} holds no memories; no namespace you can use holds any yet"
        closest = sorted(
            counts, key=lambda k: (-difflib.SequenceMatcher(None, ns, k).ratio(), -counts[k], k)
        )[:HINT_NAMESPACES]
        return f"namespace {shown} holds no memories; closest: " + ", ".join(
            f"{_ns_text(k)} ({counts[k]})" for k in closest
        )

    async def find(
        self,
        query: Any,
        namespace: Sequence[str] | None = None,
        limit: int = 10,
        offset: int = 0,
        filter: dict[str, Any] | None = None,
        *,
        include_superseded: Any = False,
        as_of: Any = None,
        created_after: Any = None,
        created_before: Any = None,
    ) -> SearchResult:
        """A search as the tools and routes answer it: the hits, and a note naming the closest
        namespaces when the namespace searched holds no memories at all."""
        hits = await self.search(
            query,
            namespace,
            limit,
            offset,
            filter,
            include_superseded=include_superseded,
            as_of=as_of,
            created_after=created_after,
            created_before=created_before,
        )
        note = None if hits else await self._empty_note(self.namespace(namespace))
        return SearchResult(memories=hits, note=note)

    async def search(
        self,
        query: Any,
        namespace: Sequence[str] | None = None,
        limit: int = 10,
        offset: int = 0,
        filter: dict[str, Any] | None = None,
        weights: ranking.Weights | None = None,
        explain: bool = False,
        *,
        include_superseded: Any = False,
        as_of: Any = None,
        created_after: Any = None,
        created_before: Any = None,
        superseded_only: bool = False,
    ) -> builtins.list[MemoryHit]:
        """Hybrid search: FTS5 BM25 and vector similarity fused by reciprocal rank, then
        blended with recency and importance when those weights are set. `explain=True` returns
        `ExplainedHit`s carrying each hit's ranks and score parts (the memory browser shows them).

        Only memories true now are searched, unless `include_superseded` (superseded ones rank
        by the same score as the others) or `as_of` (the memories true at that moment,
        superseded since or not); `created_after` ≤ created_at < `created_before`.
        `superseded_only`: only memories that are no longer true (the memory browser's filter)."""
        ns = self.namespace(namespace)
        text = validation.query(query, MAX_QUERY_CHARS)
        limit, offset = validation.paging(limit, offset)
        if not isinstance(include_superseded, bool):
            raise InvalidInput("include_superseded must be true or false")
        await self.store.ensure_keys()  # rows from before schema 9 get their keys and UTC times
        moment = times.instant(as_of, "as_of")
        after = times.instant(created_after, "created_after")
        before = times.instant(created_before, "created_before")
        when = times.conditions(
            # a namespace with nothing superseded needs no condition (and keeps the fast paths)
            current_only=not include_superseded
            and not superseded_only
            and moment is None
            and await self.store.has_ended(ns),
            as_of=moment,
            created_after=after,
            created_before=before,
        )
        if superseded_only:
            when = times.both(when, (VALIDITY["superseded"], []))
        where, params = times.both(filters.compile_filter(filter), when)
        depth = max(FUSION_DEPTH, offset + limit)
        semantic = asyncio.ensure_future(self._semantic(text, ns, depth, where, params))
        try:
            lexical_ids, window_ids = await self._keywords(text, ns, depth, where, params)
        finally:
            semantic_ids = await semantic
        fused = ranking.reciprocal_rank_fusion([lexical_ids, window_ids, semantic_ids], k=RRF_K)
        # Equal scores keep the rankers' own order (not the ids'), so results do not depend on ids:
        # meaning's first (a tie between a keyword match and a closer meaning goes to the meaning).
        lex_at = {k: i for i, k in enumerate(lexical_ids)}
        sem_at = {k: i for i, k in enumerate(semantic_ids)}

        def tiebreak(k: str) -> tuple[int, int]:
            return (sem_at.get(k, depth), lex_at.get(k, depth))

        def why(k: str, blended: ranking.Scored | None = None, w: ranking.Weights | None = None) -> Why:
            parts = {}
            if blended is not None and w is not None:
                parts = {
                    "relevance": round(w.relevance * blended.relevance, 6),
                    "recency": round(w.recency * blended.recency, 6),
                    "importance": round(w.importance * blended.importance, 6),
                }
            lex, sem = lex_at.get(k), sem_at.get(k)
            return Why(
                keyword_rank=None if lex is None else lex + 1,
                meaning_rank=None if sem is None else sem + 1,
                fused=round(fused[k], 6),
                **parts,
            )

        w = weights or ranking.Weights(
            self.settings.weight_relevance, self.settings.weight_recency, self.settings.weight_importance
        )
        if w.recency == 0 and w.importance == 0:
            # Pure relevance: rank first, then read only the page's rows.
            order = sorted(fused, key=lambda k: (-fused[k], tiebreak(k)))
            page = order[offset : offset + limit]
            rows = await self.store.get_many(page)
            return [self._hit(rows[k], fused[k], why(k) if explain else None) for k in page if k in rows]
        rows = await self.store.get_many(list(fused))
        fused = {k: v for k, v in fused.items() if k in rows}  # deleted meanwhile
        scored = ranking.blend(
            fused,
            {k: datetime.fromisoformat(rows[k].updated_at) for k in fused},
            {k: rows[k].importance for k in fused},
            w,
            self.settings.recency_half_life_days,
        )
        scored.sort(key=lambda x: (-x.score, tiebreak(x.id)))
        return [
            self._hit(rows[s.id], s.score, why(s.id, s, w) if explain else None)
            for s in scored[offset : offset + limit]
        ]

    @staticmethod
    def _hit(row: MemoryRow, score: float, why: Why | None) -> MemoryHit:
        fields = to_memory(row).model_dump()
        if why is None:
            return MemoryHit(**fields, score=round(score, 6))
        return ExplainedHit(**fields, score=round(score, 6), why=why)

    async def _keywords(
        self, text: str, ns: str, depth: int, where: str, params: Sequence[Any]
    ) -> tuple[builtins.list[str], builtins.list[str]]:
        """Two BM25 rankings from one pass: each memory with its context weighted as configured,
        and each memory of a conversation in its stretch of talk (context weighted as itself);
        memories by a speaker the query names first."""
        phrases = lexical.phrases(text)
        if not phrases:
            return [], []
        rankings = [Ranking(self.context.lexical_weight)]
        if WINDOW_CONTEXT_WEIGHT > 0:
            rankings.append(Ranking(WINDOW_CONTEXT_WEIGHT, in_conversation=True))
        lists = await self.store.keywords.rank(
            phrases,
            ns,
            rankings,
            depth,
            where,
            params,
            rows_max=self.settings.keyword_rows_max,
        )
        ranked = [self._speaker_first(text, hits) for hits in lists]
        return ranked[0], ranked[1] if len(ranked) > 1 else []

    @staticmethod
    def _speaker_first(text: str, hits: builtins.list[KeywordHit]) -> builtins.list[str]:
        by_speaker = {h.id: lexical.speaker(h.content) for h in hits}
        named = lexical.mentioned_speakers(text, {s for s in by_speaker.values() if s})
        scored = [(h.id, h.score * (SPEAKER_BOOST if by_speaker[h.id] in named else 1.0)) for h in hits]
        scored.sort(key=lambda p: -p[1])
        return [i for i, _ in scored]

    async def _semantic(
        self, text: str, ns: str, depth: int, where: str, params: Sequence[Any]
    ) -> builtins.list[str]:
        if not text.strip():
            return []
        index = await self.index.get()
        dim = index.embedder.dim
        # Up to exact_search_max memories (≈1 ms per 600), every vector kept in SQLite is scored;
        # a larger namespace goes through its HNSW index in Chroma, once that is filled. The
        # vectors are read while the query is embedded.
        embedding = asyncio.ensure_future(asyncio.to_thread(index.embedder.embed, [text]))
        try:
            exact = await self.vectors.matrix(ns, dim, self.settings.exact_search_max, where, params)
        finally:
            vector = (await embedding)[0]
        if exact is None:
            near = await self._approximate(index, vector, ns, depth, where, params)
            if near is not None:
                return await self._present([i for _, i in near], ns, depth, where, params)
            exact = await self.vectors.matrix(ns, dim, None, where, params)
            assert exact is not None  # no limit: always a matrix
        ids, matrix = exact
        return [ids[i] for i, _ in similarity.top_k(vector, matrix, depth)]

    async def _approximate(
        self,
        index: SharedIndex,
        vector: Any,
        ns: str,
        depth: int,
        where: str = "",
        params: Sequence[Any] = (),
        fresh: tuple[builtins.list[str], Any] | None = None,
    ) -> builtins.list[tuple[float, str]] | None:
        """(similarity, id) best first from the namespace's Chroma collection, None while it has
        none. Rows written since the worker last ran are not in the collection yet: their own
        text's vector is scored exactly beside the approximate hits. Read first (or given, read
        earlier): a row the worker finishes meanwhile was put in the collection before it left
        this list."""
        fresh_ids, fresh_vectors = fresh or await self.vectors.fresh(ns, index.embedder.dim, where, params)
        hits = await asyncio.to_thread(index.query, vector, ns, depth * (4 if where else 1))
        if hits is None:
            return None
        pending = set(fresh_ids)
        scored = [(h.similarity, h.id) for h in hits if h.id not in pending]
        scored += [(score, fresh_ids[i]) for i, score in similarity.top_k(vector, fresh_vectors, depth)]
        scored.sort(key=lambda p: -p[0])
        return scored

    async def _present(
        self, ids: builtins.list[str], ns: str, depth: int, where: str, params: Sequence[Any]
    ) -> builtins.list[str]:
        """The approximate index's hits whose memory exists and passes the filter."""
        passes = await self.store.present(ids, where, params)
        strays = [i for i in ids if i not in passes]
        if strays:  # a vector whose memory is gone (its tombstone lost): drop it now
            index = await self.index.get()
            await asyncio.to_thread(index.delete, ns, strays)
        return [i for i in ids if passes.get(i)][:depth]

    async def stats(self) -> Stats:
        counts = {
            k: v for k, v in (await self.store.count_by_namespace()).items() if access.current().allows(k)
        }
        model = self.settings.embedder
        if self.index.ready:
            model = (await self.index.get()).embedder.model_id
        return Stats(
            total=sum(counts.values()),
            namespaces=[
                NamespaceStats(namespace=namespaces.split(k), count=v) for k, v in sorted(counts.items())
            ],
            embedding_model=model,
            index_ready=self.index.ready,
            data_dir=str(self.settings.data_dir),
            schema_version=self.schema_version,
        )

    # -- near-duplicates (langmem-mcp dedupe) ---------------------------------------------------
    async def dedupe(
        self, namespace: Sequence[str] | None = None, threshold: float = DEDUPE_THRESHOLD, apply: bool = False
    ) -> DedupeReport:
        """Clusters of near-duplicate current memories in one namespace (or every namespace the
        caller may use): memories whose own texts are at least `threshold` similar to the newest
        of their cluster. With `apply`, the newest is kept and supersedes the others, so their
        text stays in history."""
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold <= 1:
            raise InvalidInput(f"threshold must be a number above 0 and at most 1, not {threshold!r}")
        if namespace is not None:
            keys = [self.namespace(namespace)]
        else:
            keys = sorted(k for k in await self.store.count_by_namespace() if access.current().allows(k))
        embedder = await self._embedder()
        report = DedupeReport(threshold=threshold, applied=apply)
        for ns in keys:
            rows = await self.store.current_rows(ns)
            if len(rows) < 2:
                continue
            vectors = await asyncio.to_thread(embedder.embed, [r.content for r in rows])
            newest = sorted(range(len(rows)), key=lambda i: (rows[i].created_at, i), reverse=True)
            for keep, members in duplicates.clusters(vectors, newest, float(threshold)):
                report.clusters.append(
                    DedupeCluster(
                        namespace=namespaces.split(ns),
                        keep=SimilarMemory(id=rows[keep].id, content=rows[keep].content, similarity=1.0),
                        duplicates=[
                            SimilarMemory(id=rows[j].id, content=rows[j].content, similarity=round(s, 3))
                            for j, s in members
                        ],
                    )
                )
        if apply:
            at = now_iso()
            for cluster in report.clusters:
                for dup in cluster.duplicates:
                    if await self.store.end(dup.id, cluster.keep.id, at):
                        report.superseded += 1
        return report

    async def _embedder(self) -> Any:
        """The index's embedder when the index is loaded; else the model alone (a CLI command
        needs no vector index, nor the index owner's lock, to embed)."""
        if self.index.ready:
            return (await self.index.get()).embedder
        from langmem_mcp.index.embeddings import shared_embedder

        embedder = shared_embedder(self.settings.embedder)
        load = getattr(embedder, "load", None)
        if load is not None:
            await asyncio.to_thread(load)
        return embedder


def _listing_filter(
    spec: dict[str, Any] | None,
    created_from: str | None,
    created_to: str | None,
    validity: Validity = "all",
) -> tuple[str, list[Any]]:
    where, params = filters.compile_filter(spec)
    clauses = [where] if where else []
    if validity not in VALIDITY:
        raise InvalidInput(f"validity must be one of {', '.join(VALIDITY)}, not {str(validity)[:20]!r}")
    if validity != "all":
        clauses.append(VALIDITY[validity])
    for value, name, op in ((created_from, "from", ">="), (created_to, "to", "<")):
        if value in (None, ""):
            continue
        bound = times.instant(value, name, end_of_day=op == "<")
        clauses.append(f"m.created_at {op} ?")
        params.append(bound)
    return " AND ".join(clauses), params


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _ns_text(key: str) -> str:
    return json.dumps(namespaces.split(key), ensure_ascii=False)
