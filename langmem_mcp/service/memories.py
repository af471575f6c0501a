"""Memory use cases: create, update, delete, get, list, search, stats.

Every surface (MCP tools and resources, REST, CLI import) calls these, so checks and
behaviour are the same whichever door a request came through.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

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
from langmem_mcp.errors import Conflict, InvalidInput, NotFound
from langmem_mcp.index.handle import IndexHandle
from langmem_mcp.service import access
from langmem_mcp.service.models.memories import (
    DedupeCluster,
    DedupeReport,
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
    WriteResult,
)
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

#: Fusion: how many candidates each ranker contributes, and the RRF constant. A small k lets the
#: top of each list dominate, so deep lists add recall without their tails adding noise (LoCoMo
#: ablation in the README: k=60/top 20 → 65.1 recall@10, k=5/top 100 → 66.2; k 3-10 all alike).
FUSION_DEPTH = 100
RRF_K = 5
#: A write of at least this many memories is a bulk write: indexed fast, refined when idle.
BULK_WRITE = 32
#: A question that names one of the speakers in a transcript is usually about what they said.
SPEAKER_BOOST = 2.0
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
    content: str
    namespace: list[str]
    metadata: dict[str, Any] | None = None
    importance: float | None = None
    created_at: str | None = None
    #: Validity carried by an import (default: valid from created_at, and still true).
    valid_from: str | None = None
    valid_to: str | None = None


class MemoryService:
    """Agent memory: one memory at a time or in bulk, and hybrid search within a namespace."""

    def __init__(
        self,
        settings: Settings,
        store: MemoryStore,
        vectors: VectorRows,
        index: IndexHandle,
        schema_version: int,
    ) -> None:
        self.settings = settings
        self.store = store
        self.vectors = vectors
        self.index = index
        self.schema_version = schema_version

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
        `similar_threshold`), so the caller can supersede an older version of the same fact.
        The new text is embedded for that while its row is committed."""
        item = NewItem(content, namespace, metadata, importance)  # type: ignore[arg-type]
        threshold = self.settings.similar_threshold
        if threshold <= 0:
            [result] = await self.create_many([item])
            return result
        text = validation.content(content, self.settings.max_content_chars)
        ns = self.namespace(namespace)
        check = asyncio.ensure_future(self._similar(text, ns, threshold))
        try:
            [result] = await self.create_many([item])
        except BaseException:
            check.add_done_callback(_consume)
            raise
        similar = [m for m in await check if m.id != result.id][:SIMILAR_MAX]
        if result.action != "created" or not similar:
            return result
        return result.model_copy(update={"similar": similar})

    async def _similar(self, text: str, ns: str, threshold: float) -> list[SimilarMemory]:
        """The current memories of `ns` whose index vectors are at least `threshold` similar to
        `text`, best first. It runs while the new memory is stored: the kept vectors are asked
        for at once, so they are read before the new memory's neighbours are re-indexed with it
        in their context (which would make them look like it), and the text is embedded
        meanwhile. A large namespace is asked through its approximate index."""
        index = await self.index.get()
        encoding = asyncio.ensure_future(asyncio.to_thread(index.embedder.embed, [text]))
        try:
            exact, ended = await asyncio.gather(
                self.vectors.matrix(ns, index.embedder.dim, self.settings.exact_search_max),
                self.store.ended_ids(ns),
            )
        finally:
            vector = (await encoding)[0]
        want = SIMILAR_MAX + 1  # the new memory itself may be among them
        scored: list[tuple[str, float]] = []
        if exact is None:
            hits = await asyncio.to_thread(index.query, vector, ns, want + len(ended))
            if hits is not None:
                live = await self.store.present([h.id for h in hits if h.id not in ended])
                scored = [(h.id, h.similarity) for h in hits if live.get(h.id)]
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
        """Validate all, embed in one batch, commit in one transaction, then index."""
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
        if not new:
            return []
        outcome, touched = await self.store.insert_many(new)
        inserted = [m.id for m, existing in outcome if existing is None]
        await self._reindex([*inserted, *touched], bulk=len(inserted) >= BULK_WRITE)
        return [
            WriteResult(action="created", id=m.id)
            if existing is None
            else WriteResult(action="exists", id=existing)
            for m, existing in outcome
        ]

    async def _reindex(self, ids: Sequence[str], bulk: bool = False) -> None:
        """Embed and index these memories now (their SQLite rows are already committed)."""
        if not ids:
            return
        rows = await self.store.get_many(list(dict.fromkeys(ids)))
        await self.index.index_rows(list(rows.values()), bulk=bulk)

    async def update(
        self,
        memory_id: Any,
        namespace: Sequence[str] | None = None,
        content: Any = None,
        metadata: Any = None,
        importance: Any = None,
    ) -> WriteResult:
        ns = self.namespace(namespace)
        row = await self._owned(memory_id, ns)
        new_content = (
            None if content is None else validation.content(content, self.settings.max_content_chars)
        )
        meta = None if metadata is None else validation.metadata(metadata)
        imp = validation.importance(importance)
        if new_content is None and meta is None and imp is None:
            raise InvalidInput("update needs new content (or metadata/importance)")
        if new_content == row.content:
            new_content = None
        if meta == row.metadata:
            meta = None
        if imp == row.importance:
            imp = None
        if new_content is None and meta is None and imp is None:
            return WriteResult(action="updated", id=row.id)  # nothing changes: no new version
        if new_content is not None and content_key(new_content) != content_key(row.content):
            other = await self.store.find_current(ns, content_key(new_content))
            if other is not None and other.id != row.id:
                raise Conflict(f"memory {other.id!r} in this namespace already says the same")
        updated, touched = await self.store.update(row.id, new_content, meta, imp)
        if updated is None:
            raise NotFound(f"no memory with id {row.id!r} in namespace {namespaces.split(ns)}")
        if new_content is not None:
            await self._reindex([updated.id, *touched])
        return WriteResult(action="updated", id=row.id)

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
        new = NewMemory(
            id=str(uuid.uuid4()),
            namespace=ns,
            content=text,
            metadata=meta,
            importance=row.importance if imp is None else imp,
            created_at=now_iso(),
        )
        try:
            done = await self.store.supersede(row.id, new)
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
        new_id, inserted, touched = done
        await self._reindex([*([new_id] if inserted else []), *touched])
        return WriteResult(action="superseded", id=new_id, superseded=row.id)

    async def delete(self, memory_id: Any, namespace: Sequence[str] | None = None) -> WriteResult:
        ns = self.namespace(namespace)
        row = await self._owned(memory_id, ns)
        deleted, touched = await self.store.delete(row.id)
        if not deleted:
            raise NotFound(f"no memory with id {row.id!r} in namespace {namespaces.split(ns)}")
        if self.index.ready:
            index = await self.index.get()
            await asyncio.to_thread(index.delete, ns, [row.id])
            await self.store.clear_tombstones([row.id])
            await self._reindex(list(touched))
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
                change=row.change,  # type: ignore[arg-type]
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
        self, namespace: Sequence[str] | None = None, limit: int = 50, cursor: str | None = None
    ) -> MemoryPage:
        ns = self.namespace(namespace)
        limit, _ = validation.paging(limit, 0)
        try:
            after = int(cursor) if cursor else 0
        except ValueError as exc:
            raise InvalidInput(f"cursor {cursor[:40]!r} is not one this server issued") from exc
        await self.store.ensure_keys()
        page = await self.store.page(ns, limit, after)
        next_cursor = str(page[-1][0]) if len(page) == limit else None
        return MemoryPage(
            namespace=namespaces.split(ns),
            memories=[to_memory(r) for _, r in page],
            next_cursor=next_cursor,
            note=None if page or after else await self._empty_note(ns),
        )

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
        *,
        include_superseded: Any = False,
        as_of: Any = None,
        created_after: Any = None,
        created_before: Any = None,
    ) -> list[MemoryHit]:
        """Hybrid search: FTS5 BM25 and vector similarity fused by reciprocal rank, then
        blended with recency and importance when those weights are set.

        Only memories true now are searched, unless `include_superseded` (superseded ones rank
        by the same score as the others) or `as_of` (the memories true at that moment,
        superseded since or not); `created_after` ≤ created_at < `created_before`."""
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
            current_only=not include_superseded and moment is None and await self.store.has_ended(ns),
            as_of=moment,
            created_after=after,
            created_before=before,
        )
        where, params = times.both(filters.compile_filter(filter), when)
        depth = max(FUSION_DEPTH, offset + limit)
        semantic = asyncio.ensure_future(self._semantic(text, ns, depth, where, params))
        try:
            lexical_ids = await self._lexical(text, ns, depth, where, params)
        finally:
            semantic_ids = await semantic
        fused = ranking.reciprocal_rank_fusion([lexical_ids, semantic_ids], k=RRF_K)
        # Equal scores keep the rankers' own order (not the ids'), so results do not depend on ids.
        lex_at = {k: i for i, k in enumerate(lexical_ids)}
        sem_at = {k: i for i, k in enumerate(semantic_ids)}

        def tiebreak(k: str) -> tuple[int, int]:
            return (lex_at.get(k, depth), sem_at.get(k, depth))

        w = weights or ranking.Weights(
            self.settings.weight_relevance, self.settings.weight_recency, self.settings.weight_importance
        )
        if w.recency == 0 and w.importance == 0:
            # Pure relevance: rank first, then read only the page's rows.
            order = sorted(fused, key=lambda k: (-fused[k], tiebreak(k)))
            page = order[offset : offset + limit]
            rows = await self.store.get_many(page)
            return [
                MemoryHit(**to_memory(rows[k]).model_dump(), score=round(fused[k], 6))
                for k in page
                if k in rows
            ]
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
            MemoryHit(**to_memory(rows[s.id]).model_dump(), score=round(s.score, 6))
            for s in scored[offset : offset + limit]
        ]

    async def _lexical(self, text: str, ns: str, depth: int, where: str, params: Sequence[Any]) -> list[str]:
        """BM25 over each memory and its context; memories by a speaker the query names first."""
        match = lexical.match_expression(text)
        if not match:
            return []
        hits = await self.store.lexical(
            lexical.within_namespace(match, ns), ns, depth, where, params, self.store.rules.lexical_weight
        )
        by_speaker = {i: lexical.speaker(content) for i, _, content in hits}
        named = lexical.mentioned_speakers(text, {s for s in by_speaker.values() if s})
        scored = [(i, score * (SPEAKER_BOOST if by_speaker[i] in named else 1.0)) for i, score, _ in hits]
        scored.sort(key=lambda p: -p[1])
        return [i for i, _ in scored]

    async def _semantic(self, text: str, ns: str, depth: int, where: str, params: Sequence[Any]) -> list[str]:
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
            hits = await asyncio.to_thread(index.query, vector, ns, depth * (4 if where else 1))
            if hits is not None:
                return await self._present([h.id for h in hits], ns, depth, where, params)
            exact = await self.vectors.matrix(ns, dim, None, where, params)
        ids, matrix = exact
        return [ids[i] for i, _ in similarity.top_k(vector, matrix, depth)]

    async def _present(
        self, ids: list[str], ns: str, depth: int, where: str, params: Sequence[Any]
    ) -> list[str]:
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


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve a background task's exception nobody awaits (the write it served failed)."""
    if not task.cancelled():
        task.exception()


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _ns_text(key: str) -> str:
    return json.dumps(namespaces.split(key), ensure_ascii=False)
