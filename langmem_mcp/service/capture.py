"""Storing what capture accepted: the worker of the durable capture queue.

A job (store.capture, filled by service.capture_accept) holds turns a hook read from a transcript,
already redacted. Processing one:

1. its turns become messages of the session's thread in the LangMem service model, with the
   transcript's ids, so a line is stored once however often it is read; the user's messages name
   the local user, so formation is queued for the thread as for any thread;
2. they become conversation memories of the project (``["projects", <p>, "conversations"]``,
   "User: …" / "Assistant: …", in conversation order, so each is indexed with its neighbours);
3. when the session ends or is compacted, its summary is made (by the model, else extractively)
   and, with a model, the memory manager distils the new part of the session into memories of
   the project (``["projects", <p>]``), after which the session no longer waits for ``distill``;
4. the job is deleted, and the session's counters moved, in one transaction.

Each step is idempotent (message ids, verbatim-duplicate memories, one summary per thread), so a
worker killed anywhere leaves its job to the next one, which finishes it. Jobs run one at a time
under an OS lock on ``capture.lock``: a serving process holds it while it lives (and finishes the
queue before it stops); with no server, the hook starts a detached worker (`hook --worker`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from langmem_mcp.config import Settings
from langmem_mcp.engine import similarity
from langmem_mcp.engine.projects import conversation_namespace, project_namespace
from langmem_mcp.errors import NotFound
from langmem_mcp.llm.prompts import declare, default_library
from langmem_mcp.service import capture_log, inputs, scoping, waiting
from langmem_mcp.service import recall as recalling
from langmem_mcp.service.capture_accept import queue_lock
from langmem_mcp.service.memories import MemoryService, NewItem
from langmem_mcp.service.threads import ThreadService
from langmem_mcp.store import capture as store
from langmem_mcp.store import vector_rows
from langmem_mcp.store.functions import FunctionStore

if TYPE_CHECKING:
    from langmem_mcp.index.handle import IndexHandle
    from langmem_mcp.index.shared import SharedIndex
    from langmem_mcp.service.formation import Formation
    from langmem_mcp.service.llm import LLMService

log = logging.getLogger(__name__)

#: How often a server looks at the queue (a hook's job waits at most this long).
POLL_SECONDS = 0.5
#: A stopping server finishes the queue for at most this long; the rest waits for the next worker.
STOP_DRAIN_SECONDS = 20.0
#: Messages per add_messages call (the service takes at most 1000).
MESSAGE_BATCH = 500
#: The thread state (key) that remembers how much of a session the memory manager has read.
DISTILLED_KEY = "langmem-capture"
SPEAKERS = {"user": "User", "assistant": "Assistant"}
PROJECT_MEMORY = declare("capture_project_memory", "project")
#: Prompt recall with the model: the memories nearest the prompt by stored vector (at least
#: NEAR_FLOOR, at most SEMANTIC_CHECKS of them) have their own text embedded and compared with the
#: prompt (the first EMBED_CHARS characters): a stored vector mixes in the memory's neighbours.
SEMANTIC_CHECKS = 4
NEAR_FLOOR = 0.25
EMBED_CHARS = 500
#: Conversations captured without a working directory.
NO_PROJECT = ["conversations"]


class CaptureService:
    """Processes capture jobs: on demand (`drain`), or in a serving process's background."""

    def __init__(
        self,
        settings: Settings,
        index: IndexHandle,
        memories: MemoryService,
        threads: ThreadService,
        llm: LLMService,
        formation: Formation,
    ) -> None:
        self.settings = settings
        self.index = index
        self.memories = memories
        self.threads = threads
        self.llm = llm
        self.formation = formation
        self.lock = queue_lock(settings.data_dir)
        self._conn: sqlite3.Connection | None = None
        self._shared: SharedIndex | None = None  # the loaded index, for the model
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    # -- the queue ---------------------------------------------------------------------------------
    async def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = await asyncio.to_thread(store.connect, self.settings.db_path, 10_000, shared=True)
        return self._conn

    async def drain(
        self, deadline: float | None = None, progress: Callable[[int], None] = lambda n: None
    ) -> int:
        """Process every ready job (until ``deadline``, a loop time); returns how many were stored.
        The caller holds the capture lock."""
        conn = await self._db()
        loop = asyncio.get_running_loop()
        done = 0
        while deadline is None or loop.time() < deadline:
            jobs = await asyncio.to_thread(store.next_jobs, conn)
            if not jobs:
                break
            for job in jobs:
                if await self._run(conn, job):
                    done += 1
                progress(1)
        return done

    async def _run(self, conn: sqlite3.Connection, job: store.JobRow) -> bool:
        try:
            summary_id = await self.process(conn, job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - kept with its error, retried later
            error = f"{type(exc).__name__}: {exc}"
            log.warning("capture job %d (%s) failed: %s", job.seq, job.transcript, error)
            await asyncio.to_thread(store.job_failed, conn, job, error)
            capture_log.record(
                self.settings.data_dir,
                job.event,
                f"storing captured turns failed (attempt {job.attempts + 1}; kept and retried): {error}",
                traceback.format_exc(),
                transcript=job.transcript,
            )
            return False
        await asyncio.to_thread(store.job_done, conn, job, summary_id)
        return True

    async def process(self, conn: sqlite3.Connection, job: store.JobRow) -> str | None:
        """Store one job's turns (and its summary); returns the summary's memory id, if made."""
        session = await asyncio.to_thread(store.get_session, conn, job.transcript)
        if session is None:
            raise RuntimeError(f"no capture session for {job.transcript}")
        if job.turns:
            await self._messages(session, job.turns)
            await self._conversation(session, job.turns)
        if not job.summarize:
            return None
        return await self._summarize(session)

    async def _messages(self, session: store.SessionRow, turns: Sequence[dict[str, Any]]) -> None:
        user = self.settings.capture_user
        limit = self.settings.max_content_chars
        messages = [
            {
                "id": t["id"],
                "role": t["role"],
                "content": _cut(t["text"], limit),
                "metadata": {
                    "timestamp": t.get("timestamp"),
                    "source": session.source,
                    "line": t.get("line"),
                    **({"user_id": user} if t["role"] == "user" else {}),
                },
            }
            for t in turns
        ]
        meta = {"source": session.source, "project": session.project, "cwd": session.cwd}
        for i in range(0, len(messages), MESSAGE_BATCH):
            await self.threads.add_messages(
                session.thread_id, inputs.messages(messages[i : i + MESSAGE_BATCH]), meta
            )

    async def _conversation(self, session: store.SessionRow, turns: Sequence[dict[str, Any]]) -> None:
        ns = conversation_namespace(session.project) if session.project else NO_PROJECT
        items = []
        for t in turns:
            speaker = SPEAKERS.get(t["role"], t["role"].title())
            items.append(
                NewItem(
                    content=_cut(f"{speaker}: {t['text']}", self.settings.max_content_chars),
                    namespace=ns,
                    metadata={
                        "kind": "conversation",
                        "role": t["role"],
                        "session_id": session.thread_id,
                        "message_id": t["id"],
                        "source": session.source,
                    },
                    created_at=t.get("timestamp"),
                )
            )
        await self.memories.create_many(items)

    async def _summarize(self, session: store.SessionRow) -> str | None:
        try:
            thread = await self.threads.get(session.thread_id)
        except NotFound:  # no turn was kept (or the thread was deleted since): nothing to summarise
            return None
        if not thread.message_count:
            return None
        model = self.formation.llm()
        outcome = await self.llm.summarize_thread(model, session.thread_id)
        if model is not None and session.project:
            await self._distill(model, session)
        return outcome.memory_id

    async def _distill(self, model: Any, session: store.SessionRow) -> None:
        """With a model: the memory manager reads what it has not read of the session and stores
        durable facts of the project (conventions, decisions, how things work)."""
        state = await self.threads.get_state(session.thread_id, DISTILLED_KEY)
        read = int((state.state or {}).get("messages", 0))
        scope = scoping.current_scope()
        through = await self.threads.store.max_seq(scope, session.thread_id)
        messages: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = await self.threads.list_messages(session.thread_id, page_size=1000, cursor=cursor)
            messages += [{"role": m["role"], "content": m["content"]} for m in page.messages]
            cursor = page.next_cursor
            if not cursor:
                break
        new = messages[read:]
        if new:
            instructions = default_library().render(PROJECT_MEMORY, project=session.project)
            await self.llm.extract_memories(
                model,
                new,
                project_namespace(session.project),
                instructions=instructions,
                with_importance=True,
            )
            await self.threads.set_state(session.thread_id, {"messages": len(messages)}, DISTILLED_KEY)
        # A model has read the session: it no longer waits for `distill` (service/waiting.py).
        await FunctionStore(self.threads.store.db).set_watermark(
            scope, session.thread_id, waiting.DISTILL, "", through
        )

    # -- a serving process's worker ------------------------------------------------------------
    async def start(self) -> None:
        """Serve prompt recall to hooks through the index owner (with the loaded model), and work
        the queue while the process lives (whenever it holds the capture lock)."""
        if self._task is not None:
            return
        try:
            self._shared = await self.index.get()
            self._shared.extra_ops["recall"] = self.recall_for_hook
        except Exception:  # noqa: BLE001 - hooks then recall by keywords alone
            log.exception("prompt recall through the index owner is unavailable")
        self._stop.clear()
        self._task = asyncio.get_running_loop().create_task(self._worker(), name="langmem-capture")

    async def _worker(self) -> None:
        while not self._stop.is_set():
            try:
                if self.lock.held or await asyncio.to_thread(self.lock.try_acquire):
                    await self.drain()
            except Exception:  # noqa: BLE001 - keep the worker alive; the next round retries
                log.exception("capture worker")
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=POLL_SECONDS)
            except TimeoutError:
                pass

    async def stop(self) -> None:
        """Finish the queue (for a while), then let another process have the lock."""
        task, self._task = self._task, None
        if task is not None:
            self._stop.set()
            try:
                await asyncio.wait_for(task, timeout=STOP_DRAIN_SECONDS)
            except (TimeoutError, asyncio.CancelledError):
                pass
            except Exception:  # noqa: BLE001 - stopping
                log.exception("capture worker")
        try:
            if self.lock.held:
                await self.drain(asyncio.get_running_loop().time() + STOP_DRAIN_SECONDS)
        except Exception:  # noqa: BLE001 - the jobs stay for the next worker
            log.exception("finishing the capture queue")
        finally:
            self.lock.release()
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- prompt recall for hooks, with the loaded model ---------------------------------------
    def recall(
        self,
        scope: recalling.Scope,
        text: str,
        session_id: str | None = None,
        limit: int = recalling.PROMPT_ITEMS,
    ) -> list[recalling.Hit]:
        """The memories ``text`` bears on, over the relevance floor: keywords, and the model's
        similarity once it is loaded. Blocking (SQLite and the model): run it in a thread."""
        conn = store.connect(self.settings.db_path, busy_timeout_ms=1000)
        try:
            return recalling.prompt_recall(conn, scope, text, session_id, self._semantic(conn), limit)
        finally:
            conn.close()

    async def recall_topic(self, scope: recalling.Scope, text: str, limit: int) -> list[recalling.Hit]:
        """`recall` with the model loaded first (the MCP prompt of that name)."""
        if self._shared is None:
            self._shared = await self.index.get()
        return await asyncio.to_thread(self.recall, scope, text, None, limit)

    def recall_for_hook(
        self, user_id: str, default_namespace: str, project: str | None, prompt: str, session_id: str | None
    ) -> list[dict[str, Any]]:
        """The index owner's answer to a hook (in the owner's connection thread)."""
        hits = self.recall(recalling.Scope(user_id, default_namespace, project), prompt, session_id)
        return [h.__dict__ for h in hits]

    def _semantic(self, conn: sqlite3.Connection) -> recalling.Semantic:
        shared = self._shared
        exact_max = self.settings.exact_search_max

        def score(prompt: str, namespaces: Sequence[str], session_id: str | None) -> dict[str, float]:
            """The stored vectors pick the nearest memories; each one's own text, embedded, decides."""
            import numpy as np

            if shared is None:
                return {}
            embedder = shared.embedder
            query = np.asarray(embedder.embed([prompt])[0], dtype=np.float32)
            near: dict[str, float] = {}
            for ns in namespaces:
                found, matrix = vector_rows.page(conn, ns, "", exact_max + 1, embedder.dim)
                if not found or len(found) > exact_max:
                    continue  # a namespace that large is searched by keywords here
                near |= {found[i]: c for i, c in similarity.top_k(query, matrix, recalling.CANDIDATES)}
            nearest = [k for k in sorted(near, key=lambda k: -near[k]) if near[k] >= NEAR_FLOOR]
            rows = store.memories_by_id(conn, nearest)  # current ones only: no check spent on history
            kept = [
                rows[k]
                for k in nearest
                if k in rows and (session_id is None or rows[k].metadata.get("session_id") != session_id)
            ][:SEMANTIC_CHECKS]
            if not kept:
                return {}
            vectors = np.asarray(embedder.embed([r.content[:EMBED_CHARS] for r in kept]), dtype=np.float32)
            return {r.id: float(c) for r, c in zip(kept, vectors @ query, strict=True)}

        return score


def _cut(text: str, limit: int) -> str:
    """Text within the store's size limit (a longer message keeps its beginning)."""
    if len(text) <= limit:
        return text
    note = " […cut]"
    return text[: limit - len(note)] + note
