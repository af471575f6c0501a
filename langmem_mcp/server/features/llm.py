"""MCP tools of the LLM procedures: extract_memories, summarize_thread, optimize_prompt,
record_episode.

Also the ``llm://`` resources (token usage, prompt templates, optimized prompts with their
history, worked examples from episodes, work waiting for a model), the MCP prompts ``distill``
and ``few_shot``, and, for every optimized prompt, an MCP prompt the host can use. The model is
an Anthropic-compatible endpoint or the host's own through MCP sampling (``LANGMEM_MCP_LLM``);
tools that use sampling run through ``run_sampled`` so they work on both protocol versions.
With neither, each tool returns a task for the calling agent (``"method": "host_agent"``).

The LLM service (procedures, model adapters, prompt templates) loads once the host has its
tool list, or on the first call; registering the tools needs only their models. Annotations
are not postponed (no ``from __future__ import annotations``): the SDK reads each signature
several times while registering, and would compile string annotations anew each time.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.prompts.base import Prompt, PromptArgument
from mcp_types import InputRequiredResult
from pydantic import Field

from langmem_mcp.engine.placeholders import fill, placeholders
from langmem_mcp.server.lifespan import ServerContext, services
from langmem_mcp.server.surface import Ctx, Feature, dump, int_param, tool_hints
from langmem_mcp.service import optimized_prompts
from langmem_mcp.service.models.procedures import (
    EpisodeOutcome,
    ExtractionOutcome,
    OptimizationOutcome,
    SummaryOutcome,
)
from langmem_mcp.store.prompt_versions import PromptVersionStore

if TYPE_CHECKING:
    from langmem_mcp.llm.base import LLM

log = logging.getLogger(__name__)
T = TypeVar("T")

FEATURE = Feature("llm")

EXTRACT_DESCRIPTION = """\
Form long-term memories from a conversation, with an LLM: it reads the messages and the
namespace's most relevant existing memories, then inserts new ones and updates outdated ones
(and deletes wrong ones when enable_deletes is true). The changes are stored; the result lists
what was inserted, updated and deleted, with ids. `schemas` (JSON schemas; the title names the
kind) makes memories structured objects instead of free text."""

SUMMARIZE_DESCRIPTION = """\
Summarise a conversation thread (default fields: title, summary, topics, or your own JSON
`schema`) and store it as the thread's summary memory (namespace ["threads", thread_id,
"summary"]) when a thread_id is given. Pass the messages. Without an LLM the summary is
extractive (the most representative sentences, chosen locally) and labelled so."""

HOST_AGENT_NOTE = """
With no model on the server, the result is a task for you ("method": "host_agent"): do it and
make the calls it gives."""

OPTIMIZE_DESCRIPTION = """\
Improve a system prompt from conversations that ran with it and the feedback they received.
trajectories: [[messages, feedback], ...]. kind: "gradient" (reflect, then rewrite only if
warranted), "metaprompt" (reflect, then rewrite) or "prompt_memory" (one pass). Give `prompt`
(text, or {name, prompt, when_to_update, update_instructions}) or `prompts` (a list of those:
the ones the feedback concerns are chosen first). {placeholders} are kept; if the model declines
or fails, the original comes back unchanged. Named prompts keep their history (llm://optimized/NAME)
and are offered as MCP prompts. config: {max_reflection_steps, min_reflection_steps}."""

EPISODE_DESCRIPTION = """\
Record an episode: what the situation was, what was tried, how it turned out, the lesson. From
trajectories [[messages, feedback], ...] or a thread_id (+ feedback). An LLM distils them into
episodes in ["episodes", ...]; without one the trajectory is kept raw, to distil later. Find
episodes with search_memory or the few_shot prompt."""

Namespace = Annotated[
    list[str] | None,
    Field(description='Where the memories live, e.g. ["memories", "project-x"]. Omit for the default.'),
]
PROMPT_PREFIX = "optimized_"


# -- optimized prompts, offered as MCP prompts ----------------------------------------------------
def offer(mcp: MCPServer[Any], served: ServerContext, name: str, text: str) -> bool:
    """Offer an optimized prompt as the MCP prompt ``optimized_<name>`` (its latest text); ``text``
    lists its arguments. False if it is offered already."""
    if name in served.offered_prompts:
        return False

    async def render(**arguments: str) -> str:
        current = await (await served.services()).llm.latest_prompt(name)
        if current is None:
            raise ValueError(f"no optimized prompt named {name!r} for this caller")
        return fill(current, arguments)

    mcp.add_prompt(
        Prompt(
            name=PROMPT_PREFIX + name,
            title=f"Optimized prompt: {name}",
            description=f"The latest optimized version of the prompt {name!r} (history: llm://optimized/{name}).",
            arguments=[
                PromptArgument(name=p, description=f"Fills {{{p}}}", required=False)
                for p in sorted(placeholders(text))
            ],
            fn=render,
            context_kwarg=None,
        )
    )
    served.offered_prompts.add(name)
    return True


async def offer_saved_prompts(mcp: MCPServer[Any], served: ServerContext) -> None:
    """Offered before the host lists prompts; read from the store, so the LLM service need not
    load before the handshake."""
    versions = PromptVersionStore(served.rt.db)
    for name, _version in await optimized_prompts.names(versions, every_scope=True):
        offer(mcp, served, name, await optimized_prompts.latest(versions, name) or "")  # "": another scope's


FEATURE.on_start.append(offer_saved_prompts)


# -- tools -----------------------------------------------------------------------------------------
@FEATURE.tool(
    "extract_memories",
    EXTRACT_DESCRIPTION + HOST_AGENT_NOTE,
    tool_hints(
        "Extract memories from a conversation",
        read_only=False,
        destructive=True,
        idempotent=False,
        open_world=True,
    ),
)
async def extract_memories(
    ctx: Ctx,
    messages: Annotated[
        list[dict[str, Any]] | None, Field(description='[{"role", "content"}, ...]: the conversation.')
    ] = None,
    namespace: Namespace = None,
    schemas: Annotated[
        dict[str, Any] | list[dict[str, Any]] | None,
        Field(description="JSON schema(s) of structured memories; the title names the kind."),
    ] = None,
    instructions: Annotated[str | None, Field(description="What to remember, in your words.")] = None,
    enable_deletes: Annotated[bool, Field(description="Allow deleting memories (off by default).")] = False,
    memories: Annotated[list[Any] | None, Field(description="Your memories, completing a task.")] = None,
    task_id: Annotated[str | None, Field(description="The task's id, when it gives one.")] = None,
) -> ExtractionOutcome | InputRequiredResult:
    svc = (await services(ctx)).llm
    if memories is not None and task_id is None:  # a completed task: no model needed
        return await svc.store_memories(memories, namespace, schemas)
    llm, why = svc.llm_or_why(ctx)
    return await _run(
        ctx,
        llm,
        lambda: svc.extract(
            llm,
            messages,
            namespace,
            schemas,
            instructions,
            enable_deletes,
            memories=memories,
            task_id=task_id,
            unavailable=why,
        ),
    )


@FEATURE.tool(
    "summarize_thread",
    SUMMARIZE_DESCRIPTION + HOST_AGENT_NOTE,
    tool_hints("Summarise a thread", read_only=False, destructive=False, idempotent=False, open_world=True),
)
async def summarize_thread(
    ctx: Ctx,
    thread_id: Annotated[str | None, Field(description="The thread whose summary memory to store.")] = None,
    messages: Annotated[list[dict[str, Any]] | None, Field(description="The thread's messages.")] = None,
    schema: Annotated[
        dict[str, Any] | None, Field(description="JSON schema of the summary (LLM summaries only).")
    ] = None,
    summary: Annotated[dict[str, Any] | None, Field(description="Your summary, completing a task.")] = None,
) -> SummaryOutcome | InputRequiredResult:
    svc = (await services(ctx)).llm
    if summary is not None:  # a completed task: no model needed
        return await svc.summarize_thread(None, thread_id, messages, schema, summary=summary)
    llm, why = svc.llm_or_why(ctx)
    return await _run(
        ctx, llm, lambda: svc.summarize_thread(llm, thread_id, messages, schema, unavailable=why)
    )


@FEATURE.tool(
    "optimize_prompt",
    OPTIMIZE_DESCRIPTION + HOST_AGENT_NOTE,
    tool_hints(
        "Optimise a prompt from feedback",
        read_only=False,
        destructive=False,
        idempotent=False,
        open_world=True,
    ),
)
async def optimize_prompt(
    ctx: Ctx,
    trajectories: Annotated[
        list[Any] | None,
        Field(description="[[messages, feedback], ...]: conversations and the feedback on each."),
    ] = None,
    prompt: Annotated[
        str | dict[str, Any] | None,
        Field(description="The prompt: text, or {name, prompt, when_to_update, update_instructions}."),
    ] = None,
    prompts: Annotated[
        list[dict[str, Any]] | None,
        Field(description="Several prompts, each {name, prompt, when_to_update, update_instructions}."),
    ] = None,
    kind: Literal["gradient", "metaprompt", "prompt_memory"] = "gradient",
    config: Annotated[
        dict[str, Any] | None, Field(description="{max_reflection_steps, min_reflection_steps}")
    ] = None,
    episodes: Annotated[
        str | None, Field(description="A task: its stored episodes are used as trajectories.")
    ] = None,
    proposed_prompt: Annotated[str | None, Field(description="Your new prompt, completing a task.")] = None,
) -> OptimizationOutcome | InputRequiredResult:
    served = ctx.request_context.lifespan_context
    svc = (await served.services()).llm
    llm, why = (None, "") if proposed_prompt is not None else svc.llm_or_why(ctx)
    result = await _run(
        ctx,
        llm,
        lambda: svc.optimize_prompt(
            llm,
            trajectories,
            prompt,
            prompts,
            kind,
            config,
            proposed_prompt=proposed_prompt,
            episodes=episodes,
            unavailable=why,
        ),
    )
    if isinstance(result, OptimizationOutcome):
        added = [
            offer(ctx.mcp_server, served, o.name, await svc.latest_prompt(o.name) or "")
            for o in result.outcomes
            if o.name and o.version is not None and o.name not in served.offered_prompts
        ]
        if any(added):
            await _notify_prompts_changed(ctx)
    return result


@FEATURE.tool(
    "record_episode",
    EPISODE_DESCRIPTION + HOST_AGENT_NOTE,
    tool_hints("Record an episode", read_only=False, destructive=False, idempotent=False, open_world=True),
)
async def record_episode(
    ctx: Ctx,
    trajectories: Annotated[list[Any] | None, Field(description="[[messages, feedback], ...]")] = None,
    thread_id: Annotated[str | None, Field(description="A stored thread, instead of trajectories.")] = None,
    feedback: Annotated[str | dict[str, Any] | None, Field(description="How the thread went.")] = None,
    namespace: Annotated[list[str] | None, Field(description='Default ["episodes"].')] = None,
    episodes: Annotated[
        list[dict[str, Any]] | None,
        Field(description="Your episodes {task, situation, attempt, outcome, lesson}, completing a task."),
    ] = None,
    task_id: Annotated[str | None, Field(description="The task's id, when it gives one.")] = None,
) -> EpisodeOutcome | InputRequiredResult:
    svc = (await services(ctx)).llm
    llm, why = (None, "") if episodes is not None else svc.llm_or_why(ctx)
    return await _run(
        ctx,
        llm,
        lambda: svc.record_episode(
            llm, trajectories, thread_id, feedback, namespace, episodes, task_id, unavailable=why
        ),
    )


# -- prompts: distill, few_shot ----------------------------------------------------------------------
#: Marks these prompts offered, among the optimized prompts' names (which never contain '/').
OFFERED = "llm/distill+few_shot"


async def distill(served: ServerContext) -> str:
    """The work waiting for a model, as tasks for the agent reading this prompt."""
    return await (await served.services()).llm.distill_prompt()


async def few_shot_text(served: ServerContext, task: str, k: str = "", namespace: str = "") -> str:
    from langmem_mcp.engine import namespaces
    from langmem_mcp.engine.episodes import worked_examples

    svc = (await served.services()).llm
    found = await svc.episodes.few_shot(
        task, int_param(k, "k", default=3, maximum=10), namespaces.parse(namespace) if namespace else None
    )
    return worked_examples(task, found)


def offer_episode_prompts(mcp: MCPServer[Any], served: ServerContext) -> None:
    """The MCP prompts ``distill`` and ``few_shot``: hosts show them as slash commands."""
    if OFFERED in served.offered_prompts:
        return

    async def render_distill() -> str:
        return await _prompt_errors(distill(served))

    async def render_few_shot(task: str, k: str = "3") -> str:
        return await _prompt_errors(few_shot_text(served, task, k))

    mcp.add_prompt(
        Prompt(
            name="distill",
            title="Distil waiting conversations and episodes",
            description="Work captured while no model was configured, as tasks for you to do now.",
            arguments=[],
            fn=render_distill,
            context_kwarg=None,
        )
    )
    mcp.add_prompt(
        Prompt(
            name="few_shot",
            title="Worked examples for a task",
            description="The past episodes most useful for a task (what worked first), as worked examples.",
            arguments=[
                PromptArgument(name="task", description="The task at hand.", required=True),
                PromptArgument(name="k", description="How many examples (default 3).", required=False),
            ],
            fn=render_few_shot,
            context_kwarg=None,
        )
    )
    served.offered_prompts.add(OFFERED)


async def _prompt_errors(text: Awaitable[str]) -> str:
    """A domain error reaches the client with its message (the SDK replaces any other error's
    message with "Error rendering prompt")."""
    from mcp.shared.exceptions import MCPError
    from mcp.types import INTERNAL_ERROR, INVALID_PARAMS

    from langmem_mcp.errors import InvalidInput, LangmemError

    try:
        return await text
    except LangmemError as exc:
        raise MCPError(INVALID_PARAMS if isinstance(exc, InvalidInput) else INTERNAL_ERROR, str(exc)) from exc


async def _offer_episode_prompts(mcp: MCPServer[Any], served: ServerContext) -> None:
    offer_episode_prompts(mcp, served)


FEATURE.on_start.append(_offer_episode_prompts)


# -- resources -------------------------------------------------------------------------------------
@FEATURE.resource(
    "llm://few-shot/{task}{?k,namespace}",
    "few-shot",
    "Worked examples for a task: the top-k past episodes (default 3), what worked first.",
    mime_type="text/markdown",
)
async def few_shot(ctx: Ctx, task: str, k: str = "", namespace: str = "") -> str:
    return await few_shot_text(ctx.request_context.lifespan_context, task, k, namespace)


@FEATURE.resource(
    "llm://waiting",
    "waiting-work",
    "How many captured conversations and raw episodes wait to be distilled (see the distill prompt).",
)
async def waiting(served: ServerContext) -> str:
    work = await (await served.services()).llm.waiting_work()
    return dump({"threads": work.threads, "episodes": work.episodes, "summary": work.describe()})


@FEATURE.resource(
    "llm://usage",
    "llm-usage",
    "Tokens spent by the LLM procedures: totals per backend, model and procedure, and recent calls.",
)
async def usage(served: ServerContext) -> str:
    return dump(await (await served.services()).llm.usage_report())


@FEATURE.resource(
    "llm://templates",
    "prompt-templates",
    "The prompt templates in use, where each comes from, and edits refused (with why).",
)
async def templates(served: ServerContext) -> str:
    return dump((await served.services()).llm.templates())


@FEATURE.resource(
    "llm://templates/{name}",
    "prompt-template",
    "The text of one prompt template as currently loaded.",
    mime_type="text/markdown",
)
async def template(ctx: Ctx, name: str) -> str:
    return (await services(ctx)).llm.template(name)


@FEATURE.resource(
    "llm://optimized",
    "optimized-prompts",
    "Named prompts improved by optimize_prompt, with their latest version numbers.",
)
async def optimized(served: ServerContext) -> str:
    names = await (await served.services()).llm.optimized_names()
    return dump(
        {
            "prompts": [
                {"name": n, "version": v, "uri": f"llm://optimized/{n}", "mcp_prompt": PROMPT_PREFIX + n}
                for n, v in names
            ]
        }
    )


@FEATURE.resource(
    "llm://optimized/{name}",
    "optimized-prompt",
    "One optimized prompt: its latest text and every earlier version.",
)
async def optimized_one(ctx: Ctx, name: str) -> str:
    return dump(await (await services(ctx)).llm.prompt_history(name))


async def _run(ctx: Ctx, llm: "LLM | None", procedure: Callable[[], Awaitable[T]]) -> T | InputRequiredResult:
    """Run a use case; with sampling on 2026-07-28 this returns the client's next question."""
    from langmem_mcp.llm.sampling import run_sampled  # loaded with the service

    try:
        result: T | InputRequiredResult = await run_sampled(ctx, procedure)
        return result
    finally:
        close = getattr(llm, "aclose", None)
        if close is not None:
            await close()


async def _notify_prompts_changed(ctx: Ctx) -> None:
    try:
        await ctx.session.send_prompt_list_changed()
    except Exception:  # noqa: BLE001 - a notification is a courtesy; the prompt is offered anyway
        log.debug("could not send prompts/list_changed", exc_info=True)
