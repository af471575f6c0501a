"""Memory formation: turning a thread's messages into memory, in the background or on demand.

A worker (started with the server) looks for threads whose newest messages arrived at least
`formation_delay_seconds` ago (the conversation has gone quiet) and runs every active memory
function over the messages it has not processed yet; `trigger_all_for_thread` and
`trigger_all_for_user` do the same at once. Each (thread, function, user) keeps a watermark: the
last message it processed. Processing only what lies past it, then moving it, makes formation
idempotent: triggering twice forms nothing twice.

Without an LLM (the embedded default) `user_semantic_memory` still forms: every message a user
wrote becomes a memory of that user, dated with the message's timestamp. `user_state`,
`user_append_state` and `thread_summary` need an LLM (an Anthropic key: background work has no
MCP session to sample through); until there is one, their watermarks stay put, so configuring a
key later and triggering forms them from the whole history.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from langmem_mcp.config import Settings
from langmem_mcp.engine import memory_functions as procedures
from langmem_mcp.engine.extraction import message_text
from langmem_mcp.errors import LangmemError, NotFound
from langmem_mcp.service import scoping
from langmem_mcp.service.functions import FunctionService
from langmem_mcp.service.memories import MemoryService, NewItem
from langmem_mcp.service.models.langmem import NEEDS_LLM, FormationReport, FormationStatus, FunctionRun
from langmem_mcp.service.secrets import redact_value
from langmem_mcp.service.waiting import DISTILL
from langmem_mcp.store.functions import FunctionRow, FunctionStore
from langmem_mcp.store.threads import MessageRow, ThreadStore
from langmem_mcp.store.users import UserStore

if TYPE_CHECKING:
    from langmem_mcp.llm.base import LLM

log = logging.getLogger(__name__)

#: Messages per model call; a long backlog is processed in chunks, the watermark moving after each.
CHUNK = 50
#: Recent memories or entries shown to the model so it does not repeat them.
EXISTING_SHOWN = 50
#: Messages a thread summary reads (the most recent ones).
SUMMARY_WINDOW = 300
#: Threads the worker takes per round; failed threads are retried after the delay, this many times.
BATCH = 20
MAX_RETRIES = 3
#: Runs remembered (in memory, per process) for the status page.
RECENT_RUNS = 200
NOT_AUTHORED = frozenset({"assistant", "system", "tool", "function", "developer", "ai"})

LLM_HINT = (
    "set ANTHROPIC_API_KEY (or LANGMEM_MCP_ANTHROPIC_API_KEY), or ANTHROPIC_BASE_URL to a local "
    "Anthropic-compatible server, in the server's environment. Formation runs "
    "in the background, outside any MCP session, so MCP sampling cannot serve it"
)


def llm_missing(settings: Any) -> str | None:
    """Why formation has no model (None: it has one). Cheap: imports no SDK."""
    if settings.llm == "none":
        return "LLM features are off (LANGMEM_MCP_LLM=none)"
    if settings.llm in ("auto", "anthropic") and settings.llm_endpoint_configured:
        return None
    return f"no LLM is configured for formation: {LLM_HINT}"


def _is_authored_by(m: MessageRow, user_id: str) -> bool:
    return m.user_id == user_id and m.role.lower() not in NOT_AUTHORED


def _chunks(rows: Sequence[MessageRow], size: int) -> list[list[MessageRow]]:
    return [list(rows[i : i + size]) for i in range(0, len(rows), size)]


class Formation:
    """Runs the memory functions over new messages: on demand, and in the background once a
    thread has gone quiet."""

    def __init__(
        self,
        settings: Settings,
        threads: ThreadStore,
        users: UserStore,
        functions: FunctionService,
        function_store: FunctionStore,
        memories: MemoryService,
    ) -> None:
        self.settings = settings
        self.threads = threads
        self.users = users
        self.functions = functions
        self.function_store = function_store
        self.memories = memories
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._llm: LLM | None = None
        self._failures: dict[tuple[str, str], int] = {}
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        #: (scope, finished at, run) of the latest runs, newest last.
        self._runs: deque[tuple[str, str, FunctionRun]] = deque(maxlen=RECENT_RUNS)

    # -- the model ------------------------------------------------------------------------------
    def llm(self) -> LLM | None:
        settings = self.settings
        if llm_missing(settings) is not None:
            return None
        if self._llm is None:
            from langmem_mcp.llm.factory import make_llm

            self._llm = make_llm(settings)
        return self._llm

    # -- on demand ------------------------------------------------------------------------------
    async def trigger_thread(self, thread_id: Any) -> FormationReport:
        scope = scoping.current_scope()
        tid = scoping.entity_id(thread_id, "thread_id")
        scoping.checked(scope, scoping.THREADS, tid)
        if not await self.threads.thread_exists(scope, tid):
            raise NotFound(f"no thread with id {tid!r}")
        runs = await self.process_thread(scope, tid)
        return FormationReport(thread_ids=[tid], memories_formed=sum(r.formed for r in runs), runs=runs)

    async def trigger_user(self, user_id: Any) -> FormationReport:
        scope = scoping.current_scope()
        uid = scoping.entity_id(user_id, "user_id")
        scoping.checked(scope, scoping.USERS, uid)
        if await self.users.get_user(scope, uid) is None:
            raise NotFound(f"no user with id {uid!r}")
        threads = await self.threads.user_thread_ids(scope, uid)
        runs: list[FunctionRun] = []
        for tid in threads:
            runs += await self.process_thread(scope, tid, only_user=uid)
        return FormationReport(thread_ids=threads, memories_formed=sum(r.formed for r in runs), runs=runs)

    async def status(self, recent: int = 50) -> FormationStatus:
        """What formation is doing for the caller's scope: threads waiting to go quiet, memory
        functions waiting for an LLM, and the latest runs of this process."""
        scope = scoping.current_scope()
        missing = llm_missing(self.settings)
        waiting = [f"{f.name} ({f.type})" for f in await self.functions.active(scope) if f.type in NEEDS_LLM]
        runs = [(at, r) for s, at, r in self._runs if s == scope][-recent:]
        return FormationStatus(
            llm=None if missing else self.settings.llm,
            llm_missing=missing,
            delay_seconds=self.settings.formation_delay_seconds,
            pending=[
                {"thread_id": tid, "since": since}
                for tid, since in await self.threads.pending_in_scope(scope)
            ],
            waiting_for_llm=waiting if missing else [],
            recent=[{"at": at, **r.model_dump()} for at, r in reversed(runs)],
        )

    # -- the work -------------------------------------------------------------------------------
    async def process_thread(
        self, scope: str, thread_id: str, only_user: str | None = None
    ) -> list[FunctionRun]:
        """Run every active memory function over what is new in a thread (for one user only, if
        given). Returns one run per (function, user) or per thread function."""
        lock = self._locks.setdefault((scope, thread_id), asyncio.Lock())
        async with lock:
            pending = await self.threads.get_pending(scope, thread_id)
            last = await self.threads.max_seq(scope, thread_id)
            users = await self.threads.thread_user_ids(scope, thread_id)
            if only_user is not None:
                users = [u for u in users if u == only_user]
            names = {}
            for u in users:
                row = await self.users.get_user(scope, u)
                names[u] = (row.name if row else None) or u
            runs: list[FunctionRun] = []
            for fn in await self.functions.active(scope):
                if fn.type == "thread_summary":
                    if only_user is None:
                        runs.append(
                            await self._run_guarded(
                                self._thread_summary(scope, thread_id, fn, None, last, names),
                                thread_id,
                                fn,
                                None,
                            )
                        )
                    continue
                for u in users:
                    runs.append(
                        await self._run_guarded(
                            self._user_function(scope, thread_id, fn, u, last, names), thread_id, fn, u
                        )
                    )
            finished = datetime.now(UTC).isoformat()
            self._runs.extend((scope, finished, r) for r in runs)
            if only_user is None:
                key = (scope, thread_id)
                if any(r.status == "error" for r in runs):
                    self._failures[key] = self._failures.get(key, 0) + 1
                    if self._failures[key] <= MAX_RETRIES:
                        await self.threads.retry_later(scope, thread_id)
                    else:
                        log.warning(
                            "giving up on forming thread %s after %d failures", thread_id, MAX_RETRIES
                        )
                        self._failures.pop(key, None)
                        await self.threads.clear_pending(scope, thread_id, pending)
                else:
                    self._failures.pop(key, None)
                    await self.threads.clear_pending(scope, thread_id, pending)
            return runs

    async def _run_guarded(
        self,
        run: Coroutine[Any, Any, FunctionRun],
        thread_id: str,
        fn: FunctionRow,
        user_id: str | None,
    ) -> FunctionRun:
        """The run, or a run with status error: one failing function does not stop the others."""
        try:
            return await run
        except LangmemError as exc:
            log.warning("memory function %s failed on thread %s: %s", fn.id, thread_id, exc)
            detail = str(exc)
        except Exception as exc:  # noqa: BLE001 - reported in the run; the other functions still run
            log.exception("memory function %s failed on thread %s", fn.id, thread_id)
            detail = f"internal error ({type(exc).__name__}); see the server log"
        return self._run(fn, thread_id, user_id, "error", detail=detail)

    def _run(
        self,
        fn: FunctionRow,
        thread_id: str,
        user_id: str | None,
        status: str,
        formed: int = 0,
        detail: str | None = None,
    ) -> FunctionRun:
        return FunctionRun(
            memory_function_id=fn.id,
            type=fn.type,
            thread_id=thread_id,
            user_id=user_id,
            status=status,
            formed=formed,
            detail=detail,
        )

    async def _user_function(
        self, scope: str, thread_id: str, fn: FunctionRow, user_id: str, last: int, names: dict[str, str]
    ) -> FunctionRun:
        mark = await self.function_store.watermark(scope, thread_id, fn.id, user_id)
        if mark >= last:
            return self._run(fn, thread_id, user_id, "up_to_date")
        new = await self.threads.messages_between(scope, thread_id, mark, last)
        if not any(_is_authored_by(m, user_id) for m in new):
            await self.function_store.set_watermark(scope, thread_id, fn.id, user_id, last)
            return self._run(fn, thread_id, user_id, "up_to_date")
        llm = self.llm()
        if llm is None:
            if fn.type != "user_semantic_memory":
                return self._run(fn, thread_id, user_id, "needs_llm", detail=llm_missing(self.settings))
            formed = await self._messages_as_memories(scope, thread_id, fn, user_id, new)
            await self.function_store.set_watermark(scope, thread_id, fn.id, user_id, last)
            return self._run(fn, thread_id, user_id, "formed", formed)
        formed = 0
        for chunk in _chunks(new, CHUNK):
            if any(_is_authored_by(m, user_id) for m in chunk):
                ordered = sorted(chunk, key=lambda m: (m.timestamp, m.seq))
                formed += await self._with_llm(llm, scope, thread_id, fn, user_id, ordered, names)
            await self.function_store.set_watermark(scope, thread_id, fn.id, user_id, chunk[-1].seq)
        await self.function_store.set_watermark(scope, thread_id, fn.id, user_id, last)
        if fn.type == "user_semantic_memory":  # a model distilled these messages (service/waiting.py)
            await self.function_store.set_watermark(scope, thread_id, DISTILL, "", last)
        return self._run(fn, thread_id, user_id, "formed", formed)

    async def _messages_as_memories(
        self, scope: str, thread_id: str, fn: FunctionRow, user_id: str, messages: Sequence[MessageRow]
    ) -> int:
        """No model: each message the user wrote becomes one memory, dated with the message."""
        ns = scoping.user_namespace(scope, user_id)
        items = []
        for m in messages:
            text = message_text(m.content).strip()
            if not _is_authored_by(m, user_id) or not text:
                continue
            items.append(
                NewItem(
                    content=text[: self.settings.max_content_chars],
                    namespace=ns,
                    metadata={
                        "memory_function_id": fn.id,
                        "user_id": user_id,
                        "thread_id": thread_id,
                        "message_id": m.id,
                        "timestamp": m.timestamp,
                        "source": "message",
                    },
                    created_at=m.timestamp,
                )
            )
        results = await self.memories.create_many(items)
        return sum(1 for r in results if r.action == "created")

    def _conversation(self, messages: Sequence[MessageRow], names: dict[str, str]) -> list[dict[str, Any]]:
        out = []
        for m in messages:
            name = m.name or (names.get(m.user_id) if m.user_id else None)
            out.append({"role": m.role, "content": m.content, **({"name": name} if name else {})})
        return out

    @staticmethod
    def _about(user_label: str) -> str:
        return (
            f"The user this memory is about is {user_label!r}: use what they say about themselves and what "
            "the conversation establishes about them, and nothing about other participants."
        )

    async def _with_llm(
        self,
        llm: LLM,
        scope: str,
        thread_id: str,
        fn: FunctionRow,
        user_id: str,
        messages: Sequence[MessageRow],
        names: dict[str, str],
    ) -> int:
        convo = self._conversation(messages, names)
        label = names.get(user_id, user_id)
        about = self._about(label)
        memories = self.memories
        when = messages[-1].timestamp
        base_meta = {"memory_function_id": fn.id, "user_id": user_id, "thread_id": thread_id, "source": "llm"}
        if fn.type == "user_semantic_memory":
            from langmem_mcp.engine.memory_functions import SEMANTIC_INSTRUCTIONS
            from langmem_mcp.llm.prompts import default_library

            ns = scoping.user_namespace(scope, user_id)
            existing = await self._recent(ns, fn.id)
            instructions = (
                (fn.custom_instructions or default_library().render(SEMANTIC_INSTRUCTIONS)) + "\n\n" + about
            )
            result = await procedures.semantic_memories(
                llm, convo, [{"id": r.id, "content": r.content} for r in existing], instructions=instructions
            )
            items = [
                NewItem(op.content, ns, dict(base_meta), op.importance, when)
                for op in result.inserted
                if isinstance(op.content, str) and op.content.strip()
            ]
            formed = sum(1 for r in await memories.create_many(items) if r.action == "created")
            for op in result.updated:
                try:
                    await memories.update(op.id, ns, content=op.content, importance=op.importance)
                    formed += 1
                except LangmemError as exc:
                    log.info("skipped an update of memory %s: %s", op.id, exc)
            for op in result.superseded:  # the fact changed: the old memory stays as history
                try:
                    await memories.supersede(op.id, ns, op.content, dict(base_meta), op.importance)
                    formed += 1
                except LangmemError as exc:
                    log.info("skipped superseding memory %s: %s", op.id, exc)
            return formed
        if fn.type == "user_state":
            current = await self.function_store.get_state(scope, fn.id, "user", user_id)
            patch = await procedures.user_state(
                llm,
                convo,
                fn.parameters,
                current.state if current else None,
                instructions=((fn.custom_instructions or "") + "\n\n" + about).strip(),
            )
            if patch.changed or current is None:
                state = redact_value(patch.state)[0]  # the model read the messages: no secret is kept
                await self.function_store.set_state(scope, fn.id, "user", user_id, state)
                return 1
            return 0
        if fn.type == "user_append_state":
            ns = scoping.append_namespace(scope, user_id)
            existing = await self._recent(ns, fn.id)
            appended = await procedures.user_append_state(
                llm,
                convo,
                fn.parameters,
                [r.metadata.get("entry", r.content) for r in existing],
                instructions=((fn.custom_instructions or "") + "\n\n" + about).strip(),
            )
            from langmem_mcp.service.user_memory import entry_text

            items = [
                NewItem(entry_text(e), ns, {**base_meta, "entry": e}, None, when) for e in appended.entries
            ]
            return sum(1 for r in await memories.create_many(items) if r.action == "created")
        return 0

    async def _recent(self, namespace: list[str], fn_id: str) -> list[Any]:
        from langmem_mcp.engine import namespaces

        pairs = await self.function_store.function_memories(
            namespaces.join(namespace), fn_id, limit=EXISTING_SHOWN, current_only=True
        )
        rows = await self.memories.rows([i for i, _ in pairs])
        return [rows[i] for i, _ in reversed(pairs) if i in rows]

    async def _thread_summary(
        self, scope: str, thread_id: str, fn: FunctionRow, _user: str | None, last: int, names: dict[str, str]
    ) -> FunctionRun:
        if await self.function_store.watermark(scope, thread_id, fn.id, "") >= last:
            return self._run(fn, thread_id, None, "up_to_date")
        llm = self.llm()
        if llm is None:
            return self._run(fn, thread_id, None, "needs_llm", detail=llm_missing(self.settings))
        messages = await self.threads.last_messages(scope, thread_id, SUMMARY_WINDOW)
        summary = await procedures.thread_summary(
            self._conversation(messages, names),
            llm=llm,
            schema=fn.parameters,
            instructions=fn.custom_instructions,
        )
        await self.function_store.set_state(scope, fn.id, "thread", thread_id, redact_value(summary)[0])
        await self.function_store.set_watermark(scope, thread_id, fn.id, "", last)
        return self._run(fn, thread_id, None, "formed", 1)

    # -- the background worker -------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is not None:
            return
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._worker(), name="langmem-formation")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        assert self._stop is not None
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=10)
        except TimeoutError:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping
                pass
        except Exception:  # noqa: BLE001 - the worker logs its own failures
            pass

    async def _worker(self) -> None:
        delay = max(0.0, float(self.settings.formation_delay_seconds))
        poll = min(max(delay / 4, 0.1), 5.0)
        assert self._stop is not None
        while not self._stop.is_set():
            try:
                await self._round(delay)
            except Exception:  # noqa: BLE001 - keep the worker alive; the next round retries
                log.exception("background formation failed")
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=poll)
            except TimeoutError:
                pass

    async def _round(self, delay: float) -> int:
        cutoff = (datetime.now(UTC) - timedelta(seconds=delay)).isoformat()
        done = 0
        for scope, thread_id, _ in await self.threads.pending_threads(cutoff, BATCH):
            if self._stop is not None and self._stop.is_set():
                break
            try:
                await self.process_thread(scope, thread_id)
            except Exception:  # noqa: BLE001 - one bad thread must not stop the others
                log.exception("forming thread %s failed", thread_id)
                await self.threads.retry_later(scope, thread_id)
            done += 1
        return done
