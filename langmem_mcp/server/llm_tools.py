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

import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.server.mcpserver.prompts.base import Prompt, PromptArgument
from mcp.types import ToolAnnotations
from mcp_types import InputRequiredResult
from pydantic import Field

from langmem_mcp.engine.placeholders import fill, placeholders
from langmem_mcp.errors import LangmemError
from langmem_mcp.server.state import AppState, tool_errors
from langmem_mcp.service import optimized_prompts
from langmem_mcp.service.llm_models import ExtractionOutcome, OptimizationOutcome, SummaryOutcome
from langmem_mcp.store.prompt_versions import PromptVersionStore

if TYPE_CHECKING:
    from langmem_mcp.llm.base import LLM
    from langmem_mcp.service.llm import LLMFeatures, LLMService

log = logging.getLogger(__name__)
T = TypeVar("T")

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

Messages = Annotated[
    list[dict[str, Any]],
    Field(description='The conversation: [{"role": "user"|"assistant", "content": "..."}, ...].'),
]
Namespace = Annotated[
    list[str] | None,
    Field(description='Where the memories live, e.g. ["memories", "project-x"]. Omit for the default.'),
]
PROMPT_PREFIX = "optimized_"


def register(mcp: MCPServer, state: AppState) -> None:
    offered: set[str] = set()
    features: LLMFeatures | None = None  # while the server runs, from the first use on

    async def service() -> "LLMService":
        nonlocal features
        from langmem_mcp.service.llm import LLMFeatures, LLMService

        if features is None:
            features = LLMFeatures(state.settings)
            await features.start()  # watch the template files from now on
        return LLMService(state.rt, features)

    async def start(_: AppState) -> None:
        # Offered before the host lists prompts. Read from the store: the service need not load
        # before the handshake for this.
        versions = PromptVersionStore(state.rt.db)
        for name, _version in await optimized_prompts.names(versions, every_scope=True):
            offer(name, await optimized_prompts.latest(versions, name) or "")  # "": another scope's

    async def ready(_: AppState) -> None:
        await service()  # load the service and its templates now rather than on the first call

    async def stop(_: AppState) -> None:
        nonlocal features
        if features is not None:
            await features.stop()
            features = None

    state.on_start.append(start)
    state.on_ready.append(ready)
    state.on_stop.append(stop)

    def offer(name: str, text: str) -> bool:
        """Offer an optimized prompt as the MCP prompt ``optimized_<name>`` (its latest text);
        ``text`` lists its arguments."""
        if name in offered:
            return False

        async def render(**arguments: str) -> str:
            svc = await service()
            current = await svc.latest_prompt(name)
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
        offered.add(name)
        return True

    @mcp.tool(
        name="extract_memories",
        description=EXTRACT_DESCRIPTION,
        annotations=ToolAnnotations(
            title="Extract memories from a conversation",
            destructive_hint=True,
            read_only_hint=False,
            idempotent_hint=False,
            open_world_hint=True,
        ),
    )
    @tool_errors
    async def extract_memories(
        messages: Messages,
        ctx: Context,
        namespace: Namespace = None,
        schemas: Annotated[
            dict[str, Any] | list[dict[str, Any]] | None,
            Field(description="JSON schema(s) of structured memories; the title names the kind."),
        ] = None,
        instructions: Annotated[str | None, Field(description="What to remember, in your words.")] = None,
        enable_deletes: Annotated[
            bool, Field(description="Allow deleting memories (off by default).")
        ] = False,
    ) -> ExtractionOutcome | InputRequiredResult:
        svc = await service()
        llm = svc.llm(ctx)
        return await _run(
            ctx,
            llm,
            lambda: svc.extract_memories(llm, messages, namespace, schemas, instructions, enable_deletes),
        )

    @mcp.tool(
        name="summarize_thread",
        description=SUMMARIZE_DESCRIPTION,
        annotations=ToolAnnotations(
            title="Summarise a thread",
            destructive_hint=False,
            read_only_hint=False,
            idempotent_hint=False,
            open_world_hint=True,
        ),
    )
    @tool_errors
    async def summarize_thread(
        ctx: Context,
        thread_id: Annotated[
            str | None, Field(description="The thread whose summary memory to store.")
        ] = None,
        messages: Annotated[list[dict[str, Any]] | None, Field(description="The thread's messages.")] = None,
        schema: Annotated[
            dict[str, Any] | None, Field(description="JSON schema of the summary (LLM summaries only).")
        ] = None,
    ) -> SummaryOutcome | InputRequiredResult:
        svc = await service()
        llm, why = svc.llm_or_why(ctx)
        return await _run(
            ctx, llm, lambda: svc.summarize_thread(llm, thread_id, messages, schema, unavailable=why)
        )

    @mcp.tool(
        name="optimize_prompt",
        description=OPTIMIZE_DESCRIPTION,
        annotations=ToolAnnotations(
            title="Optimise a prompt from feedback",
            destructive_hint=False,
            read_only_hint=False,
            idempotent_hint=False,
            open_world_hint=True,
        ),
    )
    @tool_errors
    async def optimize_prompt(
        ctx: Context,
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
        svc = await service()
        llm = svc.llm(ctx)
        result = await _run(
            ctx, llm, lambda: svc.optimize_prompt(llm, trajectories, prompt, prompts, kind, config)
        )
        if isinstance(result, OptimizationOutcome):
            added = [
                offer(o.name, await svc.latest_prompt(o.name) or "")
                for o in result.outcomes
                if o.name and o.version is not None and o.name not in offered
            ]
            if any(added):
                await _notify_prompts_changed(ctx)
        return result

    # -- resources --------------------------------------------------------------------
    @mcp.resource(
        "llm://usage",
        name="llm-usage",
        description="Tokens spent by the LLM procedures: totals per backend, model and procedure, and recent calls.",
        mime_type="application/json",
    )
    async def usage() -> str:
        svc = await service()
        return _json(await svc.usage_report())

    @mcp.resource(
        "llm://templates",
        name="prompt-templates",
        description="The prompt templates in use, where each comes from, and edits refused (with why).",
        mime_type="application/json",
    )
    async def templates() -> str:
        svc = await service()
        return _json(svc.templates())

    @mcp.resource(
        "llm://templates/{name}",
        name="prompt-template",
        description="The text of one prompt template as currently loaded.",
        mime_type="text/markdown",
    )
    async def template(name: str) -> str:
        svc = await service()
        try:
            return svc.template(name)
        except LangmemError as exc:
            raise ResourceNotFoundError(str(exc)) from exc

    @mcp.resource(
        "llm://optimized",
        name="optimized-prompts",
        description="Named prompts improved by optimize_prompt, with their latest version numbers.",
        mime_type="application/json",
    )
    async def optimized() -> str:
        svc = await service()
        names = await svc.optimized_names()
        return _json(
            {
                "prompts": [
                    {"name": n, "version": v, "uri": f"llm://optimized/{n}", "mcp_prompt": PROMPT_PREFIX + n}
                    for n, v in names
                ]
            }
        )

    @mcp.resource(
        "llm://optimized/{name}",
        name="optimized-prompt",
        description="One optimized prompt: its latest text and every earlier version.",
        mime_type="application/json",
    )
    async def optimized_one(name: str) -> str:
        svc = await service()
        try:
            return _json(await svc.prompt_history(name))
        except LangmemError as exc:
            raise ResourceNotFoundError(str(exc)) from exc


async def _run(
    ctx: Context, llm: "LLM | None", procedure: Callable[[], Awaitable[T]]
) -> T | InputRequiredResult:
    """Run a use case; with sampling on 2026-07-28 this returns the client's next question."""
    from langmem_mcp.llm.sampling import run_sampled  # loaded with the service

    try:
        return await run_sampled(ctx, procedure)
    finally:
        close = getattr(llm, "aclose", None)
        if close is not None:
            await close()


async def _notify_prompts_changed(ctx: Context) -> None:
    try:
        await ctx.session.send_prompt_list_changed()
    except Exception:  # noqa: BLE001 - a notification is a courtesy; the prompt is offered anyway
        log.debug("could not send prompts/list_changed", exc_info=True)


def _json(body: Any) -> str:
    return json.dumps(body, indent=2, ensure_ascii=False, default=str)
