"""LLM use cases: memory extraction, thread summaries, prompt optimisation, episodes,
distillation of captured conversations, usage.

Every surface calls these. The caller picks the model (``LLMService.llm_or_why``) and runs the
use case with it, so MCP sampling's record-and-replay stays in the MCP surface. Each use
case does all its model work first and stores only at the end: with sampling on protocol
2026-07-28 the whole use case re-runs once per answered model call, and must write once.

With no model (``llm=None``) a use case returns a task for the calling agent
(``"method": "host_agent"``): what to do, the material, and the exact tool call that completes
it, checked as a model's answer would be (``engine/host_agent.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any, cast

from langmem_mcp.config import Settings
from langmem_mcp.engine import extraction, host_agent, optimizer
from langmem_mcp.engine import memory_functions as _memory_functions  # noqa: F401 - declares its templates (LLMService)
from langmem_mcp.engine import summary as summaries
from langmem_mcp.errors import Conflict, InvalidInput, NotFound
from langmem_mcp.index.handle import IndexHandle
from langmem_mcp.llm.base import ENABLE_HINT, LLM, LLMUnavailable, Usage
from langmem_mcp.llm.factory import make_llm
from langmem_mcp.llm.prompts import PromptLibrary
from langmem_mcp.service import optimized_prompts, scoping, secrets, waiting
from langmem_mcp.service.episodes import EpisodeService
from langmem_mcp.service.memories import MAX_QUERY_CHARS, MemoryService, NewItem
from langmem_mcp.service.models.procedures import (
    EpisodeOutcome,
    ExtractionOutcome,
    HostAgentTask,
    OptimizationOutcome,
    PromptOutcome,
    SkippedChange,
    StoredMemory,
    SummaryOutcome,
    TaskCall,
)
from langmem_mcp.service.threads import ThreadService
from langmem_mcp.store.functions import FunctionStore
from langmem_mcp.store.prompt_versions import PromptVersionStore
from langmem_mcp.store.usage import UsageStore

log = logging.getLogger(__name__)

#: Existing memories shown to the memory manager: the most relevant to the conversation.
#: Bounded so a large namespace cannot blow the model's context.
EXISTING_LIMIT = 20
MAX_CONVERSATION_CHARS = 400_000
MAX_STEPS = 10
#: A longer thread is summarised from its most recent messages.
MAX_THREAD_MESSAGES = 5000
SOURCE = "extract_memories"
SUMMARY_KIND = "thread_summary"
#: The prefix of a task id that names captured messages to distil: ``distill:<thread>:<last seq>``.
DISTILL_PREFIX = "distill:"
#: Tasks the distill prompt offers at once.
DISTILL_TASKS = 3
_PROMPT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class LLMService:
    """The LLM procedures, on whichever model the caller has (`llm`), with their token usage and
    the prompt templates they render (watched for edits while the server runs: `start`/`stop`).

    Loading the templates checks each against the placeholders its procedure declares, so every
    declaring procedure (the engine modules imported above) is imported first.
    """

    def __init__(
        self,
        settings: Settings,
        memories: MemoryService,
        threads: ThreadService,
        usage: UsageStore,
        versions: PromptVersionStore,
        index: IndexHandle,
        prompts: PromptLibrary | None = None,
    ) -> None:
        self.settings = settings
        self.memories = memories
        self.threads = threads
        self.usage = usage
        self.versions = versions
        self.index = index
        self.prompts = prompts or PromptLibrary(settings.prompts_dir)
        self.episodes = EpisodeService(
            settings, memories, self.prompts, self._thread_messages, check_trajectories, self.task
        )

    async def start(self) -> None:
        """Watch the template files, so edits apply without a restart."""
        await self.prompts.start()

    async def stop(self) -> None:
        await self.prompts.stop()

    # -- the model ----------------------------------------------------------------------
    def llm(self, ctx: Any = None) -> LLM:
        """The configured model for this request (``ctx``: the MCP context, for sampling), or
        LLMUnavailable saying how to enable one."""
        return make_llm(self.settings, ctx, on_usage=self.record_usage, prompts=self.prompts)

    def llm_or_why(self, ctx: Any = None) -> tuple[LLM | None, str]:
        """The model, or None and how to enable one, where a use case has an offline fallback."""
        try:
            return self.llm(ctx), ""
        except LLMUnavailable as exc:
            return None, str(exc)

    async def record_usage(self, usage: Usage) -> None:
        await self.usage.record(**asdict(usage))

    # -- extract_memories ---------------------------------------------------------------
    async def extract_memories(
        self,
        llm: LLM,
        messages: Any,
        namespace: Sequence[str] | None = None,
        schemas: Any = None,
        instructions: str | None = None,
        enable_deletes: bool = False,
        max_steps: int = 3,
        with_importance: bool = False,
    ) -> ExtractionOutcome:
        """Run the memory manager over the namespace's most relevant memories; store its changes.
        ``with_importance``: the model rates each memory (capture ranks a project's memories by it)."""
        conversation = check_messages(messages)
        kinds = check_schemas(schemas)
        ns_key = self.memories.namespace(namespace)
        ns = ns_key.split("/")
        if instructions is not None and not isinstance(instructions, str):
            raise InvalidInput("instructions must be text")
        steps = _bounded_int(max_steps, "max_steps", 1, MAX_STEPS)
        existing = await self._relevant(conversation, ns, kinds)
        result = await extraction.extract_memories(
            llm,
            conversation,
            existing,
            schemas=list(kinds.values()) or None,
            instructions=instructions,
            enable_deletes=bool(enable_deletes),
            max_steps=steps,
            prompts=self.prompts,
            with_importance=with_importance,
        )
        out = ExtractionOutcome(
            namespace=ns,
            refused_calls=result.rejected,
            steps=result.steps,
            finished=result.finished,
            backend=llm.backend,
        )
        await self._apply(result, ns, kinds, out)
        return out

    async def _relevant(
        self, conversation: list[dict[str, Any]], ns: list[str], kinds: dict[str, dict[str, Any]]
    ) -> list[dict[str, Any]]:
        query = extraction.render_conversation(conversation)[:MAX_QUERY_CHARS]
        where = {"kind": {"$in": sorted(kinds)}} if kinds else None
        hits = await self.memories.search(query, ns, limit=EXISTING_LIMIT, filter=where)
        existing: list[dict[str, Any]] = []
        for hit in hits:
            kind = hit.metadata.get("kind")
            if not kinds:
                if isinstance(kind, str) and kind != extraction.TEXT_KIND:
                    continue  # schema'd memories are managed by runs with their schema
                existing.append({"id": hit.id, "content": hit.content, "kind": extraction.TEXT_KIND})
                continue
            try:
                content = json.loads(hit.content)
            except ValueError:
                continue
            existing.append({"id": hit.id, "content": content, "kind": kind})
        return existing

    async def _apply(
        self,
        result: extraction.ExtractionResult,
        ns: list[str],
        kinds: dict[str, dict[str, Any]],
        out: ExtractionOutcome,
    ) -> None:
        inserts = result.inserted
        items = [
            NewItem(
                _memory_text(op.content),
                ns,
                {"kind": op.kind, "source": SOURCE} if op.kind in kinds else {"source": SOURCE},
                op.importance,
            )
            for op in inserts
        ]
        for op, written in zip(inserts, await self.memories.create_many(items), strict=True):
            out.inserted.append(
                StoredMemory(
                    id=written.id,
                    action=written.action,
                    kind=op.kind,
                    content=op.content,
                    importance=op.importance,
                )
            )
        for op in result.updated:
            try:
                await self.memories.update(
                    op.id, ns, content=_memory_text(op.content), importance=op.importance
                )
            except (NotFound, Conflict, InvalidInput) as exc:
                out.skipped.append(SkippedChange(op="update", id=op.id, reason=str(exc)))
                continue
            out.updated.append(
                StoredMemory(
                    id=op.id, action="updated", kind=op.kind, content=op.content, importance=op.importance
                )
            )
        for op in result.superseded:
            try:
                written = await self.memories.supersede(
                    op.id, ns, _memory_text(op.content), importance=op.importance
                )
            except (NotFound, Conflict, InvalidInput) as exc:
                out.skipped.append(SkippedChange(op="supersede", id=op.id, reason=str(exc)))
                continue
            out.superseded.append(
                StoredMemory(
                    id=written.id,
                    action="superseded",
                    kind=op.kind,
                    content=op.content,
                    importance=op.importance,
                    superseded=op.id,
                )
            )
        for op in result.deleted:
            try:
                await self.memories.delete(op.id, ns)
            except NotFound as exc:
                out.skipped.append(SkippedChange(op="delete", id=op.id, reason=str(exc)))
                continue
            out.deleted.append(StoredMemory(id=op.id, action="deleted", kind=op.kind))

    # -- the calling agent as the model ----------------------------------------------------
    def task(self, task: host_agent.AgentTask, why: str = "") -> HostAgentTask:
        """A host-agent task as the tools return it; ``why`` says why the server has no model."""
        return HostAgentTask(
            procedure=task.procedure,
            instructions=task.instructions,
            material=task.material,
            trimmed=task.trimmed,
            complete_with=[TaskCall(tool=tool, arguments=args) for tool, args in task.calls],
            why=why or f"no model is configured on the server; to give it one, {ENABLE_HINT}",
        )

    async def extract(
        self,
        llm: LLM | None,
        messages: Any = None,
        namespace: Sequence[str] | None = None,
        schemas: Any = None,
        instructions: str | None = None,
        enable_deletes: bool = False,
        *,
        memories: Any = None,
        task_id: Any = None,
        unavailable: str = "",
    ) -> ExtractionOutcome:
        """Every path of the extract_memories tool: a task id distils captured messages; memories
        given (a completed task) are checked and stored; otherwise the model extracts, or, with
        no model, the calling agent gets the task."""
        if task_id is not None:
            return await self.distill(llm, task_id, memories, namespace, unavailable)
        if memories is not None:
            return await self.store_memories(memories, namespace, schemas)
        if llm is None:
            return await self.extraction_task(
                messages, namespace, schemas, instructions, enable_deletes, unavailable
            )
        return await self.extract_memories(llm, messages, namespace, schemas, instructions, enable_deletes)

    async def extraction_task(
        self,
        messages: Any,
        namespace: Sequence[str] | None = None,
        schemas: Any = None,
        instructions: str | None = None,
        enable_deletes: bool = False,
        unavailable: str = "",
    ) -> ExtractionOutcome:
        """No model: the memory manager's work as a task, with the same relevant memories shown."""
        conversation = check_messages(messages)
        kinds = check_schemas(schemas)
        ns = self.memories.namespace(namespace).split("/")
        if instructions is not None and not isinstance(instructions, str):
            raise InvalidInput("instructions must be text")
        existing = await self._relevant(conversation, ns, kinds)
        task = host_agent.extraction_task(
            conversation,
            existing,
            ns,
            schemas=kinds,
            instructions=instructions,
            enable_deletes=bool(enable_deletes),
            prompts=self.prompts,
        )
        return ExtractionOutcome(
            namespace=ns, method="host_agent", backend="host_agent", task=self.task(task, unavailable)
        )

    async def store_memories(
        self,
        memories: Any,
        namespace: Sequence[str] | None = None,
        schemas: Any = None,
        *,
        allow_empty: bool = False,
    ) -> ExtractionOutcome:
        """Memories written by the caller, checked as the memory manager checks a model's inserts
        (all or nothing), then stored as its inserts are."""
        if not isinstance(memories, list) or (not memories and not allow_empty):
            raise InvalidInput('memories must be a non-empty list of memories: text, or {"content", "kind"}')
        kinds = check_schemas(schemas)
        ns = self.memories.namespace(namespace).split("/")
        ops, problems = extraction.proposed_memories(memories, list(kinds.values()) or None)
        if problems:
            raise InvalidInput("nothing was stored: " + "; ".join(problems))
        out = ExtractionOutcome(namespace=ns, method="host_agent", backend="host_agent", finished=True)
        await self._apply(extraction.ExtractionResult(ops=ops), ns, kinds, out)
        return out

    # -- distilling captured conversations ----------------------------------------------------
    async def waiting_work(self) -> waiting.WaitingWork:
        """How much waits for a model in the caller's scope (see service/waiting.py)."""
        return await waiting.waiting_work(self.threads.store.db, scoping.current_scope())

    async def distill_tasks(
        self, limit: int = DISTILL_TASKS
    ) -> tuple[waiting.WaitingWork, list[HostAgentTask]]:
        """What waits, and tasks for the first ``limit`` items: conversations first, then raw episodes."""
        from langmem_mcp.engine import namespaces
        from langmem_mcp.service.episodes import TASK_PREFIX

        scope, db = scoping.current_scope(), self.threads.store.db
        work = await waiting.waiting_work(db, scope)
        tasks = []
        for _, tid in await waiting.waiting_threads(db, scope, limit):
            messages, through, trimmed = await self._distill_chunk(scope, tid)
            ns = await self._distill_namespace(scope, tid)
            task_id = f"{DISTILL_PREFIX}{tid}:{through}"
            tasks.append(
                self.task(
                    host_agent.distill_task(messages, task_id, ns, trimmed=trimmed, prompts=self.prompts)
                )
            )
        room = limit - len(tasks)
        for rid, key in await waiting.raw_episode_ids(db, scope, room) if room > 0 else []:
            row = (await self.memories.rows([rid])).get(rid)
            if row is not None:
                task = host_agent.episode_task(
                    row.content, TASK_PREFIX + rid, namespaces.split(key), prompts=self.prompts
                )
                tasks.append(self.task(task))
        return work, tasks

    async def distill_prompt(self) -> str:
        """The MCP prompt ``distill``: what waits, and the first tasks, each with its calls."""
        work, tasks = await self.distill_tasks()
        if not tasks:
            return "Nothing waits to be distilled: every captured conversation and episode has been."
        listed = "\n\n".join(_task_text(i, t) for i, t in enumerate(tasks, 1))
        if work.total > len(tasks):
            listed += "\n\nMore waits after these: use this prompt again once they are done."
        return self.prompts.render(
            host_agent.DISTILL_PROMPT, waiting=work.describe().split(" wait")[0], tasks=listed
        )

    async def distill(
        self,
        llm: LLM | None,
        task_id: Any,
        memories: Any = None,
        namespace: Sequence[str] | None = None,
        unavailable: str = "",
    ) -> ExtractionOutcome:
        """Distil the captured messages a task id names into memories: the caller's (``memories``),
        else the model's, else a task for the caller. Then they count as distilled."""
        scope = scoping.current_scope()
        thread_id, through = _distill_task_id(task_id)
        store = self.threads.store
        scoping.checked(scope, scoping.THREADS, thread_id)
        if not await store.thread_exists(scope, thread_id):
            raise NotFound(f"no thread with id {thread_id!r}")
        ns = list(namespace) if namespace is not None else await self._distill_namespace(scope, thread_id)
        ns = self.memories.namespace(ns).split("/")
        marks = FunctionStore(store.db)
        if memories is not None:
            out = await self.store_memories(memories, ns, allow_empty=True)
        else:
            mark = await marks.watermark(scope, thread_id, waiting.DISTILL, "")
            rows = await store.messages_between(scope, thread_id, mark, through)
            if not rows:
                return ExtractionOutcome(namespace=ns, finished=True, backend="none")  # distilled already
            messages = [_message(r) for r in rows]
            if llm is None:
                task = host_agent.distill_task(
                    messages, f"{DISTILL_PREFIX}{thread_id}:{through}", ns, prompts=self.prompts
                )
                return ExtractionOutcome(
                    namespace=ns, method="host_agent", backend="host_agent", task=self.task(task, unavailable)
                )
            out = await self.extract_memories(llm, messages, ns)
        await marks.set_watermark(scope, thread_id, waiting.DISTILL, "", through)
        return out

    async def _distill_chunk(self, scope: str, thread_id: str) -> tuple[list[dict[str, Any]], int, bool]:
        """The next messages of a thread to distil, within the material budget (one at least)."""
        store = self.threads.store
        mark = await FunctionStore(store.db).watermark(scope, thread_id, waiting.DISTILL, "")
        rows = await store.messages_between(scope, thread_id, mark, await store.max_seq(scope, thread_id))
        taken: list[dict[str, Any]] = []
        size, through = 0, mark
        for row in rows:
            message = _message(row)
            n = len(extraction.render_conversation([message]))
            if taken and size + n > host_agent.MATERIAL_BUDGET:
                break
            if n > host_agent.MATERIAL_BUDGET:  # one message longer than the budget: its start
                text = extraction.message_text(message["content"])
                message["content"] = text[: host_agent.MATERIAL_BUDGET] + " [the rest left out]"
            taken.append(message)
            size, through = size + n, row.seq
        return taken, through, len(taken) < len(rows) or size > host_agent.MATERIAL_BUDGET

    async def _distill_namespace(self, scope: str, thread_id: str) -> list[str]:
        """Where a thread's distilled memories go: the thread's ``namespace`` metadata when set,
        else its first user's namespace, else the default namespace."""
        from langmem_mcp.engine import namespaces

        row = await self.threads.store.get_thread(scope, thread_id)
        given = row.metadata.get("namespace") if row is not None else None
        if isinstance(given, str) and given.strip():
            return namespaces.split(given)
        if isinstance(given, list) and given and all(isinstance(s, str) for s in given):
            return list(given)
        users = await self.threads.store.thread_user_ids(scope, thread_id)
        if users:
            return scoping.user_namespace(scope, users[0])
        return scoping.segments(scope, *self.settings.default_namespace)

    # -- record_episode -------------------------------------------------------------------
    async def record_episode(
        self,
        llm: LLM | None,
        trajectories: Any = None,
        thread_id: str | None = None,
        feedback: Any = None,
        namespace: Sequence[str] | None = None,
        episodes: Any = None,
        task_id: str | None = None,
        unavailable: str = "",
    ) -> EpisodeOutcome:
        """Episodes from trajectories or a thread, or a raw episode to distil (``task_id``), or the
        caller's own (``episodes``): see :meth:`EpisodeService.record`."""
        return await self.episodes.record(
            llm, trajectories, thread_id, feedback, namespace, episodes, task_id, unavailable
        )

    # -- summarize_thread ---------------------------------------------------------------
    async def summarize_thread(
        self,
        llm: LLM | None,
        thread_id: str | None = None,
        messages: Any = None,
        schema: Any = None,
        unavailable: str = "",
        summary: Any = None,
    ) -> SummaryOutcome:
        """Summarise a thread (by the model, or extractively with ``llm=None``) and store it as the
        thread's summary memory. ``unavailable`` says why there is no model, for the note; with a
        thread and no model, a task asks the calling agent for a better summary. A ``summary``
        given (the agent's) is checked against the schema, as a model's is, and stored."""
        if thread_id is not None:
            thread_id = check_thread_id(thread_id)
        if summary is not None:
            return await self._given_summary(thread_id, summary, schema)
        if messages is None:
            if thread_id is None:
                raise InvalidInput("summarize_thread needs a thread_id (a stored thread) or messages")
            messages = await self._thread_messages(thread_id)
        conversation = check_messages(messages)
        target = check_schemas(schema)
        if len(target) > 1:
            raise InvalidInput("schema must be one JSON schema")
        note = ""
        if llm is not None:
            fields = await summaries.summarize_thread(
                conversation,
                llm=llm,
                schema=next(iter(target.values()), None),
                prompts=self.prompts,
            )
        else:
            index = await self.index.get()
            fields = await asyncio.to_thread(summaries.extractive_summary, conversation, index.embedder.embed)
            note = "extractive summary (the most representative sentences, chosen locally)"
            note += f"; for an LLM summary: {unavailable}" if unavailable else ""
            if target:
                note += "; the schema applies only to LLM summaries"
        method = "extractive" if fields.pop("method", "llm") == "extractive" else "llm"
        out = SummaryOutcome(summary=fields, method=method, thread_id=thread_id, note=note)
        if thread_id is not None:
            ns = thread_summary_namespace(thread_id)
            out.memory_id = await self._store_summary(ns, thread_id, fields, method)
            out.namespace = ns
            if llm is None:
                shape = next(iter(target.values())) if target else summaries.DEFAULT_SUMMARY_SCHEMA
                task = host_agent.summary_task(
                    conversation, thread_id, shape, custom_schema=bool(target), prompts=self.prompts
                )
                out.task = self.task(task, unavailable)
        return out

    async def _given_summary(self, thread_id: str | None, summary: Any, schema: Any) -> SummaryOutcome:
        """A summary written by the caller (a host-agent task): checked, stored as the thread's."""
        if thread_id is None:
            raise InvalidInput("a given summary is stored as a thread's summary: give its thread_id")
        target = check_schemas(schema)
        if len(target) > 1:
            raise InvalidInput("schema must be one JSON schema")
        shape = dict(next(iter(target.values())) if target else summaries.DEFAULT_SUMMARY_SCHEMA)
        if not isinstance(summary, Mapping):
            raise InvalidInput("summary must be an object following the schema")
        problems = extraction.schema_errors(shape, dict(summary))
        if problems:
            raise InvalidInput("the summary does not follow the schema: " + "; ".join(problems))
        fields = dict(summary)
        ns = thread_summary_namespace(thread_id)
        memory_id = await self._store_summary(ns, thread_id, fields, "host_agent")
        return SummaryOutcome(
            summary=fields, method="host_agent", thread_id=thread_id, memory_id=memory_id, namespace=ns
        )

    async def _thread_messages(self, thread_id: str) -> list[dict[str, Any]]:
        """A stored thread's messages, oldest first, through the threads service (issue 3)."""
        threads = self.threads
        out: list[dict[str, Any]] = []
        cursor = None
        while len(out) < MAX_THREAD_MESSAGES:  # newest first, so a long thread keeps its latest part
            page = await threads.list_messages(
                thread_id, ascending_order=False, page_size=1000, cursor=cursor
            )
            out += [{k: m[k] for k in ("role", "content", "name") if k in m} for m in page.messages]
            cursor = page.next_cursor
            if not cursor:
                break
        if not out:
            raise InvalidInput(f"thread {thread_id!r} has no messages to summarise")
        return out[:MAX_THREAD_MESSAGES][::-1]

    async def _store_summary(self, ns: list[str], thread_id: str, fields: dict[str, Any], method: str) -> str:
        """One summary memory per thread: replaced when the thread is summarised again."""
        content = _summary_text(fields)
        metadata = {"kind": SUMMARY_KIND, "thread_id": thread_id, "method": method}
        page = await self.memories.list(ns, limit=100)
        current = next((m for m in page.memories if m.metadata.get("kind") == SUMMARY_KIND), None)
        if current is not None:
            if current.content != content or current.metadata != metadata:
                await self.memories.update(current.id, ns, content=content, metadata=metadata)
            return current.id
        return (await self.memories.create(content, ns, metadata=metadata)).id

    # -- optimize_prompt ----------------------------------------------------------------
    async def optimize_prompt(
        self,
        llm: LLM | None,
        trajectories: Any = None,
        prompt: Any = None,
        prompts: Any = None,
        kind: str = "gradient",
        config: Any = None,
        *,
        proposed_prompt: Any = None,
        episodes: Any = None,
        unavailable: str = "",
    ) -> OptimizationOutcome:
        """Improve one prompt, or the ones among several that the feedback concerns. A prompt is
        never lost; named prompts keep their history. ``episodes`` (a task) adds the stored
        episodes relevant to it to the trajectories. With no model the calling agent gets the
        task; its ``proposed_prompt`` is checked as a model's rewrite is, and kept."""
        if (prompt is None) == (prompts is None):
            raise InvalidInput(
                "give either prompt (one) or prompts (a list of {name, prompt, ...}), not both"
            )
        if kind not in optimizer.KINDS:
            raise InvalidInput(f"unknown kind {kind!r}; use one of {', '.join(optimizer.KINDS)}")
        method = cast(optimizer.Kind, kind)
        if proposed_prompt is not None:
            return await self._proposed_prompt(prompt, proposed_prompt, kind)
        runs = check_trajectories(trajectories) if trajectories is not None else []
        if episodes is not None:
            runs += await self.episodes.as_trajectories(episodes)
        if not runs:
            raise InvalidInput(
                "give trajectories ([[messages, feedback], ...]) or episodes (a task whose stored "
                "episodes to learn from)"
            )
        steps = check_config(config)
        if llm is None:
            as_given = [prompt] if prompt is not None else _as_list(prompts, "prompts")
            if not as_given:
                raise InvalidInput("prompts must hold at least one {name, prompt}")
            for i, p in enumerate(as_given):
                check_prompt(p, "prompt" if prompt is not None else f"prompts[{i}]")
            task = host_agent.optimization_task(
                as_given, optimizer.render_trajectories(runs), prompts=self.prompts
            )
            return OptimizationOutcome(
                kind=method,
                backend="host_agent",
                method="host_agent",
                prompt=check_prompt(prompt)["prompt"] if prompt is not None else None,
                prompts=None,
                selected=None,
                reason="no model on the server: unchanged until you propose a prompt (see task)",
                task=self.task(task, unavailable),
            )
        out = OptimizationOutcome(kind=method, backend=llm.backend)
        if prompt is not None:
            spec = check_prompt(prompt)
            result = await optimizer.optimize_prompt(
                llm,
                runs,
                spec,
                kind=method,
                prompts=self.prompts,
                **steps,  # type: ignore[arg-type]
            )
            name = spec.get("name")
            out.prompt = result.prompt
            out.outcomes = [_outcome(name, result)]
            out.updated = [name or "prompt"] if result.updated else []
            out.reason = result.reason
            if name:
                out.outcomes[0].version = await self._keep(name, spec["prompt"], result, kind)
            return out
        specs = [check_prompt(p, f"prompts[{i}]") for i, p in enumerate(_as_list(prompts, "prompts"))]
        if not specs:
            raise InvalidInput("prompts must hold at least one {name, prompt}")
        names = [s.get("name") or f"prompt_{i + 1}" for i, s in enumerate(specs)]
        if len(set(names)) != len(names):
            raise InvalidInput("prompt names must be unique")
        multi = await optimizer.optimize_prompts(
            llm,
            runs,
            [{**s, "name": n} for s, n in zip(specs, names, strict=True)],
            kind=method,
            library=self.prompts,
            **steps,
        )
        out.prompts = [
            {**given, "prompt": got["prompt"]} for given, got in zip(specs, multi.prompts, strict=True)
        ]
        out.selected = multi.selected
        out.updated = multi.updated
        out.reason = multi.reason
        for spec, name in zip(specs, names, strict=True):
            detail = multi.details.get(name)
            if detail is None:
                continue
            outcome = _outcome(name, detail)
            if spec.get("name"):
                outcome.version = await self._keep(name, spec["prompt"], detail, kind)
            out.outcomes.append(outcome)
        return out

    async def _proposed_prompt(self, prompt: Any, proposed: Any, kind: str) -> OptimizationOutcome:
        """A rewrite proposed by the caller: kept if a model's would be (non-empty, every
        placeholder kept); named prompts get it in their history."""
        if prompt is None:
            raise InvalidInput("proposed_prompt goes with the one prompt it improves (prompt), not prompts")
        spec = check_prompt(prompt)
        original = spec["prompt"]
        problem = optimizer.check_rewrite(original, proposed)
        if problem is not None:
            raise InvalidInput(f"the proposed prompt was not taken: {problem}; the prompt is unchanged")
        changed = proposed.strip() != original.strip()
        result = optimizer.OptimizedPrompt(
            proposed if changed else original,
            changed,
            reason="" if changed else "the proposal equals the prompt",
        )
        name = spec.get("name")
        out = OptimizationOutcome(
            kind=kind,
            backend="host_agent",
            method="host_agent",
            prompt=result.prompt,
            prompts=None,
            selected=None,
            outcomes=[_outcome(name, result)],
            updated=[name or "prompt"] if changed else [],
            reason=result.reason,
        )
        if name:
            out.outcomes[0].version = await self._keep(name, original, result, "host_agent")
        return out

    async def _keep(self, name: str, given: str, result: optimizer.OptimizedPrompt, kind: str) -> int:
        scope = optimized_prompts.scope()
        text = secrets.redact_text  # the history is kept: no secret from the trajectories in it
        version = await self.versions.add(scope, name, text(given)[0], "given")
        if result.updated:
            version = await self.versions.add(
                scope, name, text(result.prompt)[0], "optimized", kind, text(result.analysis)[0]
            )
        return version

    # -- reads --------------------------------------------------------------------------
    async def usage_report(self, recent: int = 20) -> dict[str, Any]:
        totals = [asdict(t) for t in await self.usage.totals()]
        return {
            "total_calls": sum(t["calls"] for t in totals),
            "input_tokens": sum(t["input_tokens"] for t in totals),
            "output_tokens": sum(t["output_tokens"] for t in totals),
            "by_procedure": totals,
            "recent": await self.usage.recent(recent),
            "note": "sampling calls report no token counts; theirs are estimated from text length",
        }

    async def prompt_history(self, name: str) -> dict[str, Any]:
        history = await self.versions.history(optimized_prompts.scope(), name)
        if not history:
            raise NotFound(f"no optimized prompt named {name!r}")
        return {"name": name, "latest": asdict(history[-1]), "history": [asdict(v) for v in history]}

    async def optimized_names(self, every_scope: bool = False) -> list[tuple[str, int]]:
        return await optimized_prompts.names(self.versions, every_scope)

    async def latest_prompt(self, name: str) -> str | None:
        return await optimized_prompts.latest(self.versions, name)

    def templates(self) -> dict[str, Any]:
        lib = self.prompts
        return {
            "user_dir": str(lib.user_dir) if lib.user_dir else None,
            "shipped_dir": str(lib.shipped),
            "reloads": lib.reloads,
            "templates": [{"name": n, "source": _source(lib, n)} for n in lib.names()],
            "problems": dict(lib.problems),
        }

    def template(self, name: str) -> str:
        try:
            return self.prompts.text(name)
        except KeyError as exc:
            raise NotFound(str(exc.args[0])) from exc


# ---- input checks ---------------------------------------------------------------------


def check_messages(value: Any, what: str = "messages") -> list[dict[str, Any]]:
    """A conversation: a non-empty list of ``{role, content}`` with text content."""
    if not isinstance(value, list) or not value:
        raise InvalidInput(f'{what} must be a non-empty list of {{"role", "content"}} objects')
    total = 0
    for i, m in enumerate(value):
        if not isinstance(m, Mapping):
            raise InvalidInput(f'{what}[{i}] must be an object like {{"role": "user", "content": "..."}}')
        content = m.get("content")
        if not isinstance(content, str | list):
            raise InvalidInput(f"{what}[{i}].content must be text (or a list of text blocks)")
        role = m.get("role", "user")
        if not isinstance(role, str):
            raise InvalidInput(f"{what}[{i}].role must be a string such as 'user' or 'assistant'")
        total += len(extraction.message_text(content))
    if total > MAX_CONVERSATION_CHARS:
        raise InvalidInput(f"{what} hold {total} characters; the limit is {MAX_CONVERSATION_CHARS}")
    return [dict(m) for m in value]


def check_schemas(value: Any) -> dict[str, dict[str, Any]]:
    """JSON schemas by kind (title); a bad schema is refused with the validator's reason."""
    if value is None:
        return {}
    items = [value] if isinstance(value, Mapping) else value
    if not isinstance(items, list) or not all(isinstance(s, Mapping) for s in items):
        raise InvalidInput("schemas must be a JSON schema object or a list of them")
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    kinds = extraction.normalize_schemas(items)
    if len(kinds) != len(items):
        raise InvalidInput("schemas must have distinct titles: the title names the memory kind")
    for kind, schema in kinds.items():
        try:
            validator_for(schema).check_schema(schema)
        except SchemaError as exc:
            raise InvalidInput(f"schema {kind!r} is not a valid JSON schema: {exc.message}") from exc
        if schema.get("type", "object") != "object":
            raise InvalidInput(f"schema {kind!r} must describe an object (type: object)")
    return kinds


def check_trajectories(value: Any) -> list[tuple[list[dict[str, Any]], Any]]:
    runs = _as_list(value, "trajectories")
    if not runs:
        raise InvalidInput("trajectories must hold at least one [messages, feedback] pair")
    out = []
    for i, item in enumerate(runs):
        if isinstance(item, Mapping):
            messages, feedback = item.get("messages"), item.get("feedback")
        elif isinstance(item, list | tuple) and 1 <= len(item) <= 2:
            messages, feedback = (list(item) + [None])[:2]
        else:
            raise InvalidInput(f"trajectories[{i}] must be [messages, feedback] or {{messages, feedback}}")
        out.append((check_messages(messages, f"trajectories[{i}] messages"), feedback))
    return out


def check_prompt(value: Any, what: str = "prompt") -> dict[str, Any]:
    spec: dict[str, Any] = (
        {"prompt": value} if isinstance(value, str) else dict(value) if isinstance(value, Mapping) else {}
    )
    text = spec.get("prompt")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(
            f"{what} must be non-empty text or {{name, prompt, when_to_update, update_instructions}}"
        )
    name = spec.get("name")
    if name is not None and (not isinstance(name, str) or not _PROMPT_NAME.match(name)):
        raise InvalidInput(
            f"{what} name must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    for key in ("when_to_update", "update_instructions"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise InvalidInput(f"{what}.{key} must be text")
    return spec


def check_config(value: Any) -> dict[str, int]:
    config = {} if value is None else value
    if not isinstance(config, Mapping):
        raise InvalidInput('config must be an object such as {"max_reflection_steps": 3}')
    allowed = {"max_reflection_steps", "min_reflection_steps"}
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise InvalidInput(f"unknown config key(s) {unknown}; allowed: {sorted(allowed)}")
    out = {
        "max_reflection_steps": _bounded_int(
            config.get("max_reflection_steps", 3), "max_reflection_steps", 1, MAX_STEPS
        ),
        "min_reflection_steps": _bounded_int(
            config.get("min_reflection_steps", 1), "min_reflection_steps", 0, MAX_STEPS
        ),
    }
    if out["min_reflection_steps"] > out["max_reflection_steps"]:
        raise InvalidInput("min_reflection_steps must not exceed max_reflection_steps")
    return out


def thread_summary_namespace(thread_id: str) -> list[str]:
    """``threads/<id>/summary`` under the caller's scope (a token limited to a prefix writes there)."""
    prefix = optimized_prompts.scope()
    return [*(prefix.split("/") if prefix else []), "threads", thread_id, "summary"]


def check_thread_id(thread_id: Any) -> str:
    """A thread id as the threads service spells it: a canonical UUID, or a plain name."""
    if not isinstance(thread_id, str) or not thread_id.strip() or "/" in thread_id or len(thread_id) > 128:
        raise InvalidInput("thread_id must be a non-empty string of at most 128 characters, without '/'")
    text = thread_id.strip()
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return text


def _distill_task_id(task_id: Any) -> tuple[str, int]:
    """``distill:<thread id>:<last seq>`` as a distill task gave it."""
    if isinstance(task_id, str) and task_id.startswith(DISTILL_PREFIX):
        thread, _, seq = task_id[len(DISTILL_PREFIX) :].rpartition(":")
        if thread and seq.isdigit():
            return check_thread_id(thread), int(seq)
    raise InvalidInput(
        f"task_id must be '{DISTILL_PREFIX}<thread id>:<n>' as the distill prompt gave it "
        "(an episode task goes to record_episode)"
    )


def _task_text(n: int, task: HostAgentTask) -> str:
    calls = "\n".join(f"{c.tool}({json.dumps(c.arguments, ensure_ascii=False)})" for c in task.complete_with)
    return f"## Task {n}\n\n{task.instructions.strip()}\n\n{task.material}\n\nCall:\n{calls}"


def _message(row: Any) -> dict[str, Any]:
    return {"role": row.role, "content": row.content, **({"name": row.name} if row.name else {})}


def _bounded_int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{name} must be an integer from {low} to {high}")
    return value


def _as_list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise InvalidInput(f"{name} must be a list")
    return list(value)


def _memory_text(content: Any) -> str:
    return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False, sort_keys=True)


def _summary_text(fields: Mapping[str, Any]) -> str:
    """Readable (and searchable) text of a summary; other schemas are stored as JSON."""
    title, body = fields.get("title"), fields.get("summary")
    if isinstance(title, str) and isinstance(body, str):
        topics = fields.get("topics")
        tail = f"\nTopics: {', '.join(map(str, topics))}" if isinstance(topics, list) and topics else ""
        return f"{title}\n\n{body}{tail}".strip()
    return json.dumps(fields, ensure_ascii=False, sort_keys=True)


def _outcome(name: str | None, result: optimizer.OptimizedPrompt) -> PromptOutcome:
    return PromptOutcome(
        name=name,
        prompt=result.prompt,
        updated=result.updated,
        analysis=result.analysis,
        recommendation=result.recommendation,
        reason=result.reason,
    )


def _source(lib: PromptLibrary, name: str) -> str | None:
    try:
        return str(lib.source(name))
    except KeyError:
        return None


__all__ = ["LLMService", "LLMUnavailable", "check_messages", "check_schemas"]
