"""What memory functions hold for a user or a thread, and `query_user_memory`.

Where formed memory lives:

- `user_semantic_memory`: memories in the user's namespace (`[scope…, "users", <id>]`), each with
  `metadata.memory_function_id`; the core's hybrid search finds them, and so does
  `search_memory` in that namespace.
- `user_append_state`: entries as memories in `[scope…, "users", <id>, "append"]` (the entry as
  JSON text, the object itself in `metadata.entry`), so they are searchable too.
- `user_state` and `thread_summary`: one JSON state per (function, user or thread) in SQLite.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from langmem_mcp.engine import namespaces, ranking, validation
from langmem_mcp.engine.extraction import relaxed, schema_errors
from langmem_mcp.errors import InvalidInput, NotFound
from langmem_mcp.service import inputs, scoping
from langmem_mcp.service.functions import FunctionService
from langmem_mcp.service.memories import MemoryService, NewItem
from langmem_mcp.service.models.langmem import (
    NEEDS_LLM,
    USER_TYPES,
    MemoryState,
    QueriedMemory,
    QueryResult,
    Scores,
    ThreadSummary,
)
from langmem_mcp.service.secrets import redact_value
from langmem_mcp.service.users import UserService
from langmem_mcp.store.functions import FunctionRow, FunctionStore
from langmem_mcp.store.threads import ThreadStore
from langmem_mcp.store.users import UserRow

STATE_LIST_LIMIT = 100
SEARCH_LIMIT = 100  # the core search returns at most this many per call
DEFAULT_THREAD_SUMMARIES_K = 5
MAX_STATE_ENTRIES = 1000


def entry_text(entry: Any) -> str:
    return json.dumps(entry, ensure_ascii=False, sort_keys=False)


def _ids(values: Sequence[str] | None, what: str) -> list[str] | None:
    return None if values is None else [scoping.entity_id(v, what) for v in values]


class UserMemoryService:
    """What memory functions hold for users and threads, read, replaced or forgotten; and
    `query_user_memory`, which ranks a user's memories."""

    def __init__(
        self,
        users: UserService,
        threads: ThreadStore,
        functions: FunctionService,
        function_store: FunctionStore,
        memories: MemoryService,
        llm_missing: Callable[[], str | None],
        half_life_days: float,
    ) -> None:
        self.users = users
        self.threads = threads
        self.functions = functions
        self.function_store = function_store
        self.memories = memories
        self.llm_missing = llm_missing
        self.half_life_days = half_life_days

    async def user(self, scope: str, user_id: Any) -> UserRow:
        return await self.users.row(scope, user_id)

    async def user_function(self, scope: str, function_id: Any) -> FunctionRow:
        fn = await self.functions.row(scope, function_id)
        if fn.type not in USER_TYPES:
            raise InvalidInput(
                f"memory function {fn.id!r} is a {fn.type} function: it keeps memory of threads, not users"
            )
        return fn

    async def thread_function(self, scope: str, function_id: Any) -> FunctionRow:
        fn = await self.functions.row(scope, function_id)
        if fn.type in USER_TYPES:
            raise InvalidInput(
                f"memory function {fn.id!r} is a {fn.type} function: it keeps memory of users, not threads"
            )
        return fn

    def _status(self, fn: FunctionRow, has_state: bool) -> tuple[str, str | None]:
        if fn.type in NEEDS_LLM:
            missing = self.llm_missing()
            if missing:
                return "needs_llm", f"{fn.type} memory forms only with an LLM: {missing}"
        if fn.status == "disabled":
            return "disabled", "this memory function is disabled: it forms nothing new"
        return ("ok", None) if has_state else ("empty", "nothing formed yet")

    # -- memory rows of a function ----------------------------------------------------------------
    async def _formed(self, namespace: list[str], fn_id: str, limit: int = 0) -> list[Any]:
        """The memories a function formed that are true now (superseded ones are history)."""
        pairs = await self.function_store.function_memories(
            namespaces.join(namespace), fn_id, limit=limit, current_only=True
        )
        rows = await self.memories.rows([i for i, _ in pairs])
        return [rows[i] for i, _ in reversed(pairs) if i in rows]  # oldest first

    async def _delete_formed(self, namespace: list[str], fn_id: str) -> int:
        n = 0
        for mid, _ in await self.function_store.function_memories(namespaces.join(namespace), fn_id):
            try:
                await self.memories.delete(mid, namespace)
                n += 1
            except NotFound:
                pass
        return n

    # -- per user ---------------------------------------------------------------------------------
    async def state_of(self, scope: str, fn: FunctionRow, user: UserRow) -> MemoryState:
        state: Any
        count: int | None = None
        updated: str | None = None
        if fn.type == "user_state":
            row = await self.function_store.get_state(scope, fn.id, "user", user.id)
            state, updated = (row.state, row.updated_at) if row else ({}, None)
            has = row is not None
        else:
            ns = (scoping.user_namespace if fn.type == "user_semantic_memory" else scoping.append_namespace)(
                scope, user.id
            )
            count = await self.function_store.count_function_memories(
                namespaces.join(ns), fn.id, current_only=True
            )
            rows = await self._formed(ns, fn.id, STATE_LIST_LIMIT)
            if fn.type == "user_semantic_memory":
                state = [
                    {
                        "id": r.id,
                        "text": r.content,
                        "created_at": r.created_at,
                        "importance": r.importance,
                        "valid_from": r.valid_from or r.created_at,
                    }
                    for r in rows
                ]
            else:
                state = [r.metadata.get("entry", r.content) for r in rows]
            updated = max((r.updated_at for r in rows), default=None)
            has = count > 0
        status, detail = self._status(fn, has)
        return MemoryState(
            memory_function_id=fn.id,
            type=fn.type,
            name=fn.name,
            user_id=user.id,
            state=state,
            count=count,
            status=status,
            detail=detail,
            updated_at=updated,
        )

    async def list_user_memory(self, user_id: Any) -> list[MemoryState]:
        scope = scoping.current_scope()
        user = await self.user(scope, user_id)
        out = []
        for fn in await self._all_functions(scope):
            if fn.type in USER_TYPES:
                out.append(await self.state_of(scope, fn, user))
        return out

    async def _all_functions(self, scope: str) -> list[FunctionRow]:
        await self.functions.ensure_default(scope)
        rows, after = [], 0
        while True:
            page = await self.function_store.list_functions(scope, None, after, 500)
            rows += page
            if len(page) < 500:
                return rows
            after = page[-1].rowid

    async def get_user_memory(self, user_id: Any, function_id: Any) -> MemoryState:
        scope = scoping.current_scope()
        user = await self.user(scope, user_id)
        return await self.state_of(scope, await self.user_function(scope, function_id), user)

    async def update_user_memory(self, user_id: Any, function_id: Any, state: Any) -> MemoryState:
        """Replace what a function holds for a user: the profile (user_state), the entries
        (user_append_state) or the memories (user_semantic_memory), validated like formed ones."""
        scope = scoping.current_scope()
        user = await self.user(scope, user_id)
        fn = await self.user_function(scope, function_id)
        if fn.type == "user_state":
            if not isinstance(state, dict):
                raise InvalidInput("the state of a user_state function is an object following its schema")
            errors = schema_errors(relaxed(fn.parameters), state)
            if errors:
                raise InvalidInput("the state does not follow the function's schema: " + "; ".join(errors))
            validation.metadata(state)  # plain JSON, size and depth limits
            await self.function_store.set_state(scope, fn.id, "user", user.id, redact_value(state)[0])
            return await self.state_of(scope, fn, user)
        items = self._state_items(scope, fn, user, state)
        ns = (scoping.user_namespace if fn.type == "user_semantic_memory" else scoping.append_namespace)(
            scope, user.id
        )
        await self._delete_formed(ns, fn.id)
        await self.memories.create_many(items)
        return await self.state_of(scope, fn, user)

    def _state_items(self, scope: str, fn: FunctionRow, user: UserRow, state: Any) -> list[NewItem]:
        key = "entries" if fn.type == "user_append_state" else "memories"
        if isinstance(state, dict) and key in state:
            state = state[key]
        if not isinstance(state, list):
            raise InvalidInput(
                f"the state of a {fn.type} function is a list of {key} (or {{{key!r}: [...]}})"
            )
        if len(state) > MAX_STATE_ENTRIES:
            raise InvalidInput(f"at most {MAX_STATE_ENTRIES} {key} at once")
        items = []
        for i, value in enumerate(state):
            meta: dict[str, Any] = {"memory_function_id": fn.id, "user_id": user.id, "source": "update"}
            importance = None
            if fn.type == "user_append_state":
                errors = schema_errors(fn.parameters, value)
                if errors:
                    raise InvalidInput(
                        f"entry {i} does not follow the function's schema: " + "; ".join(errors)
                    )
                meta["entry"] = value
                text = entry_text(value)
                ns = scoping.append_namespace(scope, user.id)
            else:
                given = value.get("text", value.get("content")) if isinstance(value, dict) else value
                if isinstance(value, dict):
                    importance = value.get("importance")
                if not isinstance(given, str):
                    raise InvalidInput(f"memory {i} must be a string or an object with text (and importance)")
                text = given
                ns = scoping.user_namespace(scope, user.id)
            items.append(NewItem(text, ns, meta, importance))
        return items

    async def delete_user_memory(self, user_id: Any, function_id: Any) -> dict[str, Any]:
        scope = scoping.current_scope()
        user = await self.user(scope, user_id)
        fn = await self.user_function(scope, function_id)
        if fn.type == "user_state":
            n = int(await self.function_store.delete_state(scope, fn.id, "user", user.id))
        else:
            ns = (scoping.user_namespace if fn.type == "user_semantic_memory" else scoping.append_namespace)(
                scope, user.id
            )
            n = await self._delete_formed(ns, fn.id)
        return {"user_id": user.id, "memory_function_id": fn.id, "deleted": n}

    # -- per thread -------------------------------------------------------------------------------
    async def _thread(self, scope: str, thread_id: Any) -> str:
        tid = scoping.entity_id(thread_id, "thread_id")
        scoping.checked(scope, scoping.THREADS, tid)
        if not await self.threads.thread_exists(scope, tid):
            raise NotFound(f"no thread with id {tid!r}")
        return tid

    async def thread_state_of(self, scope: str, fn: FunctionRow, thread_id: str) -> MemoryState:
        row = await self.function_store.get_state(scope, fn.id, "thread", thread_id)
        status, detail = self._status(fn, row is not None)
        return MemoryState(
            memory_function_id=fn.id,
            type=fn.type,
            name=fn.name,
            thread_id=thread_id,
            state=row.state if row else {},
            status=status,
            detail=detail,
            updated_at=row.updated_at if row else None,
        )

    async def list_thread_memory(self, thread_id: Any) -> list[MemoryState]:
        scope = scoping.current_scope()
        tid = await self._thread(scope, thread_id)
        return [
            await self.thread_state_of(scope, fn, tid)
            for fn in await self._all_functions(scope)
            if fn.type not in USER_TYPES
        ]

    async def get_thread_memory(self, thread_id: Any, function_id: Any) -> MemoryState:
        scope = scoping.current_scope()
        tid = await self._thread(scope, thread_id)
        return await self.thread_state_of(scope, await self.thread_function(scope, function_id), tid)

    # -- query ------------------------------------------------------------------------------------
    async def query(self, user_id: str, q: inputs.UserMemoryQuery) -> QueryResult:
        """Memories ranked by relevance (the core's hybrid search), recency (exponential decay
        with age) and importance, weighted equally unless `q.weights` says otherwise. Only
        memories true now are ranked, unless `q.include_superseded`."""
        scope = scoping.current_scope()
        user = await self.user(scope, user_id)
        k, ws = q.k, q.weights or inputs.Weights()
        w = ranking.Weights(ws.relevance, ws.recency, ws.importance)
        groups: list[tuple[list[str], dict[str, Any] | None]] = []
        fn_ids = _ids(q.memory_function_ids, "memory_function_ids")
        if fn_ids is None:
            groups.append((scoping.user_namespace(scope, user.id), None))
        else:
            fns = [await self.functions.row(scope, i) for i in fn_ids]
            semantic = [f.id for f in fns if f.type == "user_semantic_memory"]
            append = [f.id for f in fns if f.type == "user_append_state"]
            other = [f for f in fns if f.type not in ("user_semantic_memory", "user_append_state")]
            if other:
                raise InvalidInput(
                    f"memory_function_ids takes user_semantic_memory and user_append_state functions; "
                    f"{other[0].id!r} is a {other[0].type} function (use states_to_return or thread_summaries)"
                )
            if semantic:
                groups.append(
                    (scoping.user_namespace(scope, user.id), {"memory_function_id": {"$in": semantic}})
                )
            if append:
                groups.append(
                    (scoping.append_namespace(scope, user.id), {"memory_function_id": {"$in": append}})
                )
        hits: dict[str, Any] = {}
        limit = min(k, SEARCH_LIMIT)
        for ns, flt in groups:
            for hit in await self.memories.search(
                q.text,
                ns,
                limit=limit,
                filter=flt,
                weights=ranking.Weights(1, 0, 0),
                include_superseded=q.include_superseded,
            ):
                hits[hit.id] = hit
        scored = ranking.blend(
            {i: h.score for i, h in hits.items()},
            {i: datetime.fromisoformat(h.created_at) for i, h in hits.items()},
            {i: h.importance for i, h in hits.items()},
            w,
            self.half_life_days,
        )
        total = w.relevance + w.recency + w.importance
        combined = [
            ((w.relevance * s.relevance + w.recency * s.recency + w.importance * s.importance) / total, s)
            for s in scored
        ]
        combined.sort(key=lambda p: (-p[0], p[1].id))
        memories = [
            QueriedMemory(
                text=hits[s.id].content,
                id=s.id,
                memory_function_id=hits[s.id].metadata.get("memory_function_id"),
                created_at=hits[s.id].created_at,
                scores=Scores(
                    relevance=round(s.relevance, 6),
                    recency=round(s.recency, 6),
                    importance=round(s.importance, 6),
                ),
                score=round(score, 6),
                metadata=hits[s.id].metadata,
                valid_from=hits[s.id].valid_from,
                valid_to=hits[s.id].valid_to,
                superseded_by=hits[s.id].superseded_by,
            )
            for score, s in combined[:k]
        ]
        states = [
            await self.state_of(scope, await self.user_function(scope, fid), user)
            for fid in (_ids(q.states_to_return, "states_to_return") or [])
        ]
        summaries: list[ThreadSummary] = []
        summary_fns = _ids(q.thread_summaries, "thread_summaries")
        if summary_fns:
            n = q.thread_summaries_k or DEFAULT_THREAD_SUMMARIES_K
            threads = await self.threads.user_thread_ids(scope, user.id)
            for fid in summary_fns:
                fn = await self.thread_function(scope, fid)
                for row in await self.function_store.latest_thread_states(scope, fn.id, threads, n):
                    summaries.append(
                        ThreadSummary(
                            memory_function_id=fn.id,
                            thread_id=row.target_id,
                            summary=row.state,
                            updated_at=row.updated_at,
                        )
                    )
        return QueryResult(memories=memories, state=states, thread_summaries=summaries)
