"""MCP tools of the LLM procedures: extract_memories, summarize_thread, optimize_prompt.

Also the ``llm://`` resources (token usage, prompt templates, optimized prompts with their
history) and, for every optimized prompt, an MCP prompt the host can use. The model is
Anthropic's API or the host's own through MCP sampling (``LANGMEM_MCP_LLM``); tools that
use sampling run through ``run_sampled`` so they work on both protocol versions.

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
from langmem_mcp.server.surface import Ctx, Feature, Messages, dump, tool_hints
from langmem_mcp.service import optimized_prompts
from langmem_mcp.service.models.procedures import ExtractionOutcome, OptimizationOutcome, SummaryOutcome
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
kind) makes memories structured objects instead of free text. Needs an LLM (Anthropic API key
or a host that supports MCP sampling)."""

SUMMARIZE_DESCRIPTION = """\
Summarise a conversation thread (default fields: title, summary, topics, or your own JSON
`schema`) and store it as the thread's summary memory (namespace ["threads", thread_id,
"summary"]) when a thread_id is given. Pass the messages. Without an LLM the summary is
extractive (the most representative sentences, chosen locally) and labelled so."""

OPTIMIZE_DESCRIPTION = """\
Improve a system prompt from conversations that ran with it and the feedback they received.
trajectories: [[messages, feedback], ...]. kind: "gradient" (reflect, then rewrite only if
warranted), "metaprompt" (reflect, then rewrite) or "prompt_memory" (one pass). Give `prompt`
(text, or {name, prompt, when_to_update, update_instructions}) or `prompts` (a list of those:
the ones the feedback concerns are chosen first). {placeholders} are kept; if the model declines
or fails, the original comes back unchanged. Named prompts keep their history (llm://optimized/NAME)
and are offered as MCP prompts. config: {max_reflection_steps, min_reflection_steps}."""

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
    EXTRACT_DESCRIPTION,
    tool_hints(
        "Extract memories from a conversation",
        read_only=False,
        destructive=True,
        idempotent=False,
        open_world=True,
    ),
)
async def extract_memories(
    messages: Messages,
    ctx: Ctx,
    namespace: Namespace = None,
    schemas: Annotated[
        dict[str, Any] | list[dict[str, Any]] | None,
        Field(description="JSON schema(s) of structured memories; the title names the kind."),
    ] = None,
    instructions: Annotated[str | None, Field(description="What to remember, in your words.")] = None,
    enable_deletes: Annotated[bool, Field(description="Allow deleting memories (off by default).")] = False,
) -> ExtractionOutcome | InputRequiredResult:
    svc = (await services(ctx)).llm
    llm = svc.llm(ctx)
    return await _run(
        ctx,
        llm,
        lambda: svc.extract_memories(llm, messages, namespace, schemas, instructions, enable_deletes),
    )


@FEATURE.tool(
    "summarize_thread",
    SUMMARIZE_DESCRIPTION,
    tool_hints("Summarise a thread", read_only=False, destructive=False, idempotent=False, open_world=True),
)
async def summarize_thread(
    ctx: Ctx,
    thread_id: Annotated[str | None, Field(description="The thread whose summary memory to store.")] = None,
    messages: Annotated[list[dict[str, Any]] | None, Field(description="The thread's messages.")] = None,
    schema: Annotated[
        dict[str, Any] | None, Field(description="JSON schema of the summary (LLM summaries only).")
    ] = None,
) -> SummaryOutcome | InputRequiredResult:
    svc = (await services(ctx)).llm
    llm, why = svc.llm_or_why(ctx)
    return await _run(
        ctx, llm, lambda: svc.summarize_thread(llm, thread_id, messages, schema, unavailable=why)
    )


@FEATURE.tool(
    "optimize_prompt",
    OPTIMIZE_DESCRIPTION,
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
        list[Any],
        Field(description="[[messages, feedback], ...]: conversations and the feedback on each."),
    ],
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
) -> OptimizationOutcome | InputRequiredResult:
    served = ctx.request_context.lifespan_context
    svc = (await served.services()).llm
    llm = svc.llm(ctx)
    result = await _run(
        ctx, llm, lambda: svc.optimize_prompt(llm, trajectories, prompt, prompts, kind, config)
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


# -- resources -------------------------------------------------------------------------------------
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
        return await run_sampled(ctx, procedure)
    finally:
        close = getattr(llm, "aclose", None)
        if close is not None:
            await close()


async def _notify_prompts_changed(ctx: Ctx) -> None:
    try:
        await ctx.session.send_prompt_list_changed()
    except Exception:  # noqa: BLE001 - a notification is a courtesy; the prompt is offered anyway
        log.debug("could not send prompts/list_changed", exc_info=True)
