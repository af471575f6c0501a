"""Memory use cases: create, update, delete, get, list, search, stats.

Every surface (MCP tools and resources, REST, CLI import) calls these, so checks and
behaviour are the same whichever door a request came through.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from langmem_mcp.config import Settings
from langmem_mcp.engine import context as ctx
from langmem_mcp.engine import filters, lexical, namespaces, ranking, similarity, validation
from langmem_mcp.engine.context import ContextPolicy
from langmem_mcp.errors import Conflict, InvalidInput, NotFound
from langmem_mcp.index.handle import IndexHandle
from langmem_mcp.service import access
from langmem_mcp.service.models.memories import (
    ExplainedHit,
    Memory,
    MemoryHit,
    MemoryPage,
    NamespaceStats,
    Stats,
    Why,
    WriteResult,
)
from langmem_mcp.service.secrets import SecretPolicy
from langmem_mcp.store.memories import MemoryRow, MemoryStore, NewMemory, content_hash
from langmem_mcp.store.vector_rows import VectorRows

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
#: conversation in its stretch of talk (its context counting as much as itself), and a small
#: bonus for a candidate among other candidates of the same stretch (ranking.stretch).
WINDOW_CONTEXT_WEIGHT = 1.0
STRETCH_WEIGHT = 0.1
STRETCH_WINDOW = 2
MAX_QUERY_CHARS = 10_000


def to_memory(row: MemoryRow) -> Memory:
    return Memory(
        id=row.id,
        namespace=namespaces.split(row.namespace),
        content=row.content,
        created_at=row.created_at,
        updated_at=row.updated_at,
        metadata=row.metadata,
        importance=row.importance,
    )


@dataclass(frozen=True)
class NewItem:
    content: str
    namespace: list[str]
    metadata: dict[str, Any] | None = None
    importance: float | None = None
    created_at: str | None = None


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
            raise InvalidInput("id is required for update and delete")
        try:
            return str(uuid.UUID(memory_id))
        except ValueError as exc:
            raise NotFound(f"no memory with id {memory_id[:80]!r} in this namespace") from exc

    async def _owned(self, memory_id: Any, ns: str) -> MemoryRow:
        mid = self._uuid(memory_id)
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
        [result] = await self.create_many(
            [NewItem(content, namespace, metadata, importance)]  # type: ignore[arg-type]
        )
        return result

    async def create_many(self, items: Sequence[NewItem]) -> list[WriteResult]:
        """Validate all; embed the new texts (batched with concurrent writes); commit the rows with
        their vectors in one transaction: they are then found by keywords and by meaning. Their
        context, and the vector that mixes it in, are the index worker's to add."""
        new = [
            NewMemory(
                id=str(uuid.uuid4()),
                namespace=self.namespace(it.namespace),
                content=validation.content(it.content, self.settings.max_content_chars),
                metadata=validation.metadata(it.metadata),
                importance=0.5 if it.importance is None else validation.importance(it.importance),  # type: ignore[arg-type]
                created_at=it.created_at,
            )
            for it in items
        ]
        if not new:
            return []
        new, redacted = self.secrets.memories(new)
        known = await self.store.known_hashes([(m.namespace, content_hash(m.content)) for m in new])
        todo = [k for k, m in enumerate(new) if (m.namespace, content_hash(m.content)) not in known]
        vectors: list[Any] = [None] * len(new)
        if todo:
            for k, vector in zip(todo, await self._embed([new[k].content for k in todo]), strict=True):
                vectors[k] = vector
        outcome = await self.store.insert_many(new, vectors, bulk=len(todo) >= BULK_WRITE)
        self.index.notify()
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
        vector = None
        if new_content == row.content:
            new_content = None  # the same text: nothing to re-index
        elif new_content is not None:
            other = await self.store.find_by_hash(ns, content_hash(new_content))
            if other is not None and other.id != row.id:
                raise Conflict(f"memory {other.id!r} in this namespace already has exactly this content")
            vector = (await self._embed([new_content]))[0]
        updated = await self.store.update(row.id, new_content, meta, imp, vector)
        if updated is None:
            raise NotFound(f"no memory with id {row.id!r} in namespace {namespaces.split(ns)}")
        if new_content is not None:
            self.index.notify()
        return WriteResult(action="updated", id=row.id, redacted=list(redacted))

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
    ) -> MemoryPage:
        """A page in stored order (`newest_first`: the reverse), optionally only memories whose
        metadata passes `filter` and that were created in [created_from, created_to] (ISO dates
        or times; a date alone means the whole day)."""
        ns = self.namespace(namespace)
        limit, _ = validation.paging(limit, 0)
        try:
            after = int(cursor) if cursor else 0
        except ValueError as exc:
            raise InvalidInput(f"cursor {cursor[:40]!r} is not one this server issued") from exc
        if after < 0:
            raise InvalidInput("cursor is not one this server issued")
        where, params = _listing_filter(filter, created_from, created_to)
        page = await self.store.page(ns, limit, after, newest_first=newest_first, where=where, params=params)
        next_cursor = str(page[-1][0]) if len(page) == limit else None
        return MemoryPage(
            namespace=namespaces.split(ns), memories=[to_memory(r) for _, r in page], next_cursor=next_cursor
        )

    async def count(
        self,
        namespace: Sequence[str] | None = None,
        *,
        filter: dict[str, Any] | None = None,
        created_from: str | None = None,
        created_to: str | None = None,
    ) -> int:
        """How many memories `list` would page through with the same conditions."""
        where, params = _listing_filter(filter, created_from, created_to)
        return await self.store.count(self.namespace(namespace), where, params)

    async def version(self, namespace: Sequence[str] | None = None) -> str:
        """A value that changes whenever the namespace's memories change (live views poll it)."""
        return await self.store.version(self.namespace(namespace))

    async def change_marker(self) -> tuple[int, int]:
        """Moves whenever anything is written to the store, by any process: the cheap test a
        live view makes before asking `version`."""
        return await self.store.change_marker()

    async def search(
        self,
        query: Any,
        namespace: Sequence[str] | None = None,
        limit: int = 10,
        offset: int = 0,
        filter: dict[str, Any] | None = None,
        weights: ranking.Weights | None = None,
        explain: bool = False,
    ) -> list[MemoryHit]:
        """Hybrid search: FTS5 BM25 and vector similarity fused by reciprocal rank, then
        blended with recency and importance when those weights are set. `explain=True` returns
        `ExplainedHit`s carrying each hit's ranks and score parts (the memory browser shows them)."""
        ns = self.namespace(namespace)
        text = validation.query(query, MAX_QUERY_CHARS)
        limit, offset = validation.paging(limit, offset)
        where, params = filters.compile_filter(filter)
        depth = max(FUSION_DEPTH, offset + limit)
        semantic = asyncio.ensure_future(self._semantic(text, ns, depth, where, params))
        try:
            lexical_ids = await self._lexical(text, ns, depth, where, params, self.context.lexical_weight)
            window_ids = (
                await self._lexical(text, ns, depth, where, params, WINDOW_CONTEXT_WEIGHT, True)
                if WINDOW_CONTEXT_WEIGHT > 0
                else []
            )
        finally:
            semantic_ids = await semantic
        fused = ranking.reciprocal_rank_fusion([lexical_ids, window_ids, semantic_ids], k=RRF_K)
        if STRETCH_WEIGHT > 0:
            positions = await self._conversation_positions(list(fused))
            fused = ranking.stretch(fused, positions, STRETCH_WINDOW, STRETCH_WEIGHT)
        # Equal scores keep the rankers' own order (not the ids'), so results do not depend on ids.
        lex_at = {k: i for i, k in enumerate(lexical_ids)}
        sem_at = {k: i for i, k in enumerate(semantic_ids)}

        def tiebreak(k: str) -> tuple[int, int]:
            return (lex_at.get(k, depth), sem_at.get(k, depth))

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

    async def _conversation_positions(self, ids: list[str]) -> dict[str, tuple[str, int]]:
        """(conversation, position) of the candidates that belong to a conversation: by their
        provenance, or a dialogue (a memory with a context and no provenance)."""
        out = {}
        for key, (rowid, found, has_context) in (
            await self.store.positions(ids, ctx.PROVENANCE_KEYS)
        ).items():
            source = ctx.provenance(found)
            if source is not None or has_context:
                out[key] = (source or "", rowid)
        return out

    @staticmethod
    def _hit(row: MemoryRow, score: float, why: Why | None) -> MemoryHit:
        fields = to_memory(row).model_dump()
        if why is None:
            return MemoryHit(**fields, score=round(score, 6))
        return ExplainedHit(**fields, score=round(score, 6), why=why)

    async def _lexical(
        self,
        text: str,
        ns: str,
        depth: int,
        where: str,
        params: Sequence[Any],
        context_weight: float,
        in_conversation: bool = False,
    ) -> list[str]:
        """BM25 over each memory and its context (weighted `context_weight`), of the memories of a
        conversation only if `in_conversation`; memories by a speaker the query names first."""
        match = lexical.match_expression(text)
        if not match:
            return []
        hits = await self.store.lexical(
            lexical.within_namespace(match, ns), ns, depth, where, params, context_weight, in_conversation
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
            # Rows written since the worker last ran are not in the collection yet: their own
            # text's vector is scored exactly beside the approximate hits. Read first: a row the
            # worker finishes meanwhile was put in the collection before it left this list.
            fresh_ids, fresh = await self.vectors.fresh(ns, dim, where, params)
            hits = await asyncio.to_thread(index.query, vector, ns, depth * (4 if where else 1))
            if hits is not None:
                scored = [(h.similarity, h.id) for h in hits if h.id not in set(fresh_ids)]
                scored += [(score, fresh_ids[i]) for i, score in similarity.top_k(vector, fresh, depth)]
                scored.sort(key=lambda p: -p[0])
                return await self._present([i for _, i in scored], ns, depth, where, params)
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


def _listing_filter(
    spec: dict[str, Any] | None, created_from: str | None, created_to: str | None
) -> tuple[str, list[Any]]:
    where, params = filters.compile_filter(spec)
    clauses = [where] if where else []
    for value, name, op in ((created_from, "from", ">="), (created_to, "to", "<")):
        if value in (None, ""):
            continue
        bound = _time_bound(value, name, end=op == "<")
        clauses.append(f"m.created_at {op} ?")
        params.append(bound)
    return " AND ".join(clauses), params


def _time_bound(value: Any, name: str, end: bool) -> str:
    """An ISO date or time as the stored timestamps are written (UTC ISO 8601); the end of a
    range given as a date alone is the start of the next day."""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 time")
    text = value.strip()
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(
            f"{name} {text[:40]!r} is not a date (YYYY-MM-DD) or an ISO 8601 time such as 2025-03-01T14:00"
        ) from exc
    if end and len(text) == 10:  # a date alone: up to the end of that day
        when += timedelta(days=1)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat()
