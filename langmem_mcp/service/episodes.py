"""Episodic memory use cases: record episodes, distil raw ones, and find worked examples for a task.

Episodes are memories in ``["episodes", …]`` (under the caller's scope) with metadata
``kind: episode``: ``status: distilled`` with the episode's fields (``episode``, ``outcome``,
``task``), or ``status: raw`` for a trajectory kept without a model. ``search_memory`` finds both
like any memory. Like every LLM use case, model work comes first and storing last (sampling on
protocol 2026-07-28 re-runs the use case once per model call).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langmem_mcp.config import Settings
from langmem_mcp.engine import episodes as engine
from langmem_mcp.engine import host_agent
from langmem_mcp.engine.optimizer import render_trajectories
from langmem_mcp.errors import InvalidInput, NotFound
from langmem_mcp.llm.base import LLM
from langmem_mcp.llm.prompts import PromptLibrary
from langmem_mcp.llm.structured import Invalid
from langmem_mcp.service import scoping
from langmem_mcp.service.memories import MemoryService, NewItem
from langmem_mcp.service.models.procedures import EpisodeOutcome, StoredEpisode

#: The prefix of a task id that names a raw episode to distil.
TASK_PREFIX = "episode:"
#: Search depth for few-shot retrieval: candidates ranked by relevance and outcome.
CANDIDATES = 20
MAX_K = 10

Trajectories = list[tuple[list[dict[str, Any]], Any]]
CheckTrajectories = Callable[[Any], Trajectories]
ThreadMessages = Callable[[str], Awaitable[list[dict[str, Any]]]]
ToTask = Callable[[host_agent.AgentTask, str], Any]


class EpisodeService:
    """Episodes of the caller's scope."""

    def __init__(
        self,
        settings: Settings,
        memories: MemoryService,
        prompts: PromptLibrary,
        thread_messages: ThreadMessages,
        check_trajectories: CheckTrajectories,
        to_task: ToTask,
    ) -> None:
        self.settings = settings
        self.memories = memories
        self.prompts = prompts
        self.thread_messages = thread_messages
        self.check_trajectories = check_trajectories
        self.to_task = to_task

    def namespace(self, namespace: Sequence[str] | None = None) -> list[str]:
        """``[<scope…>, "episodes", …]``: the default, or a given namespace below it."""
        base = scoping.segments(scoping.current_scope(), engine.NAMESPACE)
        if namespace is None:
            return base
        if not isinstance(namespace, list | tuple) or not all(isinstance(s, str) for s in namespace):
            raise InvalidInput(f"namespace must be a list of strings starting with {base}")
        ns = list(namespace)
        if ns[: len(base)] != base:
            raise InvalidInput(f"episodes live under {base}: give a namespace that starts with it")
        self.memories.namespace(ns)  # checks the segments and the caller's access
        return ns

    # -- recording ------------------------------------------------------------------------------
    async def record(
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
        """Distil episodes (by the model, or given by the caller) and store them; with no model,
        keep the trajectory as a raw episode and return a task to distil it."""
        ns = self.namespace(namespace)
        raw = await self._raw(task_id) if task_id is not None else None
        if episodes is not None:
            try:
                checked = engine.check_episodes(episodes)
            except Invalid as exc:
                raise InvalidInput(exc.problem) from exc
            return await self._store(checked, ns, raw, "host_agent", "given")
        if raw is not None:
            text = raw.content
        else:
            text = render_trajectories(await self._trajectories(trajectories, thread_id, feedback))
        if llm is None:
            if raw is None:
                raw = await self._keep_raw(text, ns, thread_id)
            task = host_agent.episode_task(text, TASK_PREFIX + raw.id, ns, prompts=self.prompts)
            return EpisodeOutcome(
                namespace=ns,
                method="raw",
                raw_id=raw.id,
                note="stored as a raw episode; it is distilled when a model is available",
                task=self.to_task(task, unavailable),
            )
        distilled = await engine.distill(llm, text, prompts=self.prompts)
        return await self._store(distilled, ns, raw, "llm", llm.backend)

    async def _trajectories(self, trajectories: Any, thread_id: str | None, feedback: Any) -> Trajectories:
        if (trajectories is None) == (thread_id is None):
            raise InvalidInput(
                "record_episode needs trajectories ([[messages, feedback], ...]) or a thread_id"
            )
        if thread_id is not None:
            return [(await self.thread_messages(thread_id), feedback)]
        return self.check_trajectories(trajectories)

    async def _keep_raw(self, text: str, ns: list[str], thread_id: str | None) -> Any:
        limit = self.settings.max_content_chars
        content = text if len(text) <= limit else text[: limit - 30] + "\n[the rest left out]"
        metadata: dict[str, Any] = {"kind": engine.KIND, "status": "raw", "source": "record_episode"}
        if thread_id is not None:
            metadata["thread_id"] = thread_id
        return await self.memories.create(content, ns, metadata=metadata)

    async def _raw(self, task_id: Any) -> Any:
        """The raw episode a task id names, in the caller's scope."""
        if not isinstance(task_id, str) or not task_id.startswith(TASK_PREFIX):
            raise InvalidInput(f"task_id must be '{TASK_PREFIX}<id>', as a record_episode task gave it")
        rid = task_id[len(TASK_PREFIX) :]
        rows = await self.memories.rows([rid])
        row = rows.get(rid)
        base = scoping.key(scoping.current_scope(), engine.NAMESPACE)
        if (
            row is None
            or not (row.namespace == base or row.namespace.startswith(base + "/"))
            or row.metadata.get("kind") != engine.KIND
            or row.metadata.get("status") != "raw"
        ):
            raise NotFound(f"no raw episode {rid!r} waits to be distilled (done already, or not yours)")
        return row

    async def _store(
        self, episodes: list[dict[str, str]], ns: list[str], raw: Any, method: str, backend: str
    ) -> EpisodeOutcome:
        items = [
            NewItem(
                engine.episode_text(e),
                ns,
                {
                    "kind": engine.KIND,
                    "status": "distilled",
                    "task": e["task"],
                    "outcome": e["outcome"],
                    "episode": e,
                    "source": "record_episode",
                    **({"from_raw": raw.id} if raw is not None else {}),
                },
            )
            for e in episodes
        ]
        written = await self.memories.create_many(items)
        if raw is not None:  # distilled: the raw trajectory has served
            await self.memories.delete(raw.id, self._split(raw.namespace))
        return EpisodeOutcome(
            namespace=ns,
            method=method,
            episodes=[
                StoredEpisode(id=w.id, action=w.action, episode=e)
                for w, e in zip(written, episodes, strict=True)
            ],
            raw_id=raw.id if raw is not None else None,
            backend=backend,
        )

    @staticmethod
    def _split(key: str) -> list[str]:
        from langmem_mcp.engine import namespaces

        return namespaces.split(key)

    # -- retrieval ------------------------------------------------------------------------------
    async def few_shot(
        self, task: Any, k: int = 3, namespace: Sequence[str] | None = None
    ) -> list[engine.Found]:
        """The top ``k`` distilled episodes for ``task``: relevance weighed by outcome."""
        if not isinstance(task, str) or not task.strip():
            raise InvalidInput("task must describe the task to find worked examples for")
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise InvalidInput(f"k must be an integer from 1 to {MAX_K}")
        hits: Sequence[Any] = await self.memories.search(
            task,
            self.namespace(namespace),
            limit=max(CANDIDATES, 4 * k),
            filter={"kind": engine.KIND, "status": "distilled"},
        )
        found = [
            engine.Found(h.id, h.score, h.metadata.get("episode") or {}, h.created_at)
            for h in hits
            if isinstance(h.metadata.get("episode"), dict)
        ]
        return engine.rank(found, k)

    async def as_trajectories(self, task: Any, k: int = 5) -> Trajectories:
        """Stored episodes relevant to ``task`` as ``[messages, feedback]`` trajectories, for the
        prompt optimiser: distilled ones as what was tried and how it went, raw ones as recorded."""
        if not isinstance(task, str) or not task.strip():
            raise InvalidInput("episodes must describe the task whose stored episodes to learn from")
        hits: Sequence[Any] = await self.memories.search(
            task, self.namespace(), limit=k, filter={"kind": engine.KIND}
        )
        if not hits:
            raise InvalidInput(f"no stored episodes match {task!r}; record some with record_episode first")
        runs: Trajectories = []
        for h in hits:
            e = h.metadata.get("episode")
            if isinstance(e, dict):
                said = f"Task: {e.get('task')}\nSituation: {e.get('situation')}\nI tried: {e.get('attempt')}"
                runs.append(([{"role": "user", "content": said}], f"{e.get('outcome')}: {e.get('lesson')}"))
            else:
                runs.append(([{"role": "user", "content": h.content}], "(in the trajectory above)"))
        return runs
