"""Tasks for the calling agent: with no model on the server, the agent that called is the model.

A task says what to do (a template in ``prompts/``), carries the material trimmed to a budget,
and gives the exact tool calls that complete it. Those calls go through the same checks as a
model's answer (the memory manager's, the summary schema, the optimizer's placeholder rule), so
nothing the agent sends is stored unless a model's answer would have been.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langmem_mcp.engine.episodes import EPISODE_SCHEMA, FIELDS
from langmem_mcp.engine.extraction import render_conversation, to_json
from langmem_mcp.llm.prompts import PromptLibrary, declare, default_library

EXTRACT = declare("host_agent_extract", "instructions")
SUMMARIZE = declare("host_agent_summarize", "schema")
OPTIMIZE = declare("host_agent_optimize")
EPISODE = declare("host_agent_episode")
DISTILL = declare("host_agent_distill")
DISTILL_PROMPT = declare("distill", "waiting", "tasks")

#: Characters of material a task carries (about 6,000 tokens): the most recent part is kept.
MATERIAL_BUDGET = 24_000


@dataclass
class AgentTask:
    """What the calling agent is asked to do, on what, and the calls that complete it."""

    procedure: str
    instructions: str
    material: str
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    trimmed: bool = False


def fill(description: str) -> str:
    """A value for the agent to write, as shown in a call."""
    return f"<{description}>"


def trim_conversation(
    messages: Sequence[Mapping[str, Any]], budget: int = MATERIAL_BUDGET
) -> tuple[str, bool]:
    """The conversation as a transcript within ``budget`` characters: its most recent messages
    (the last one cut from its start if it alone is too long), and whether anything was left out."""
    lines = render_conversation(messages).split("\n")
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        if size + len(line) + 1 > budget:
            if not kept:
                kept.append("…" + line[-(budget - 1) :])
            break
        kept.append(line)
        size += len(line) + 1
    trimmed = len(kept) < len(lines) or (bool(kept) and kept[-1].startswith("…"))
    text = "\n".join(reversed(kept))
    if trimmed:
        text = "[earlier messages left out]\n" + text
    return text, trimmed


def trim_text(text: str, budget: int = MATERIAL_BUDGET) -> tuple[str, bool]:
    """``text`` within ``budget`` characters: its beginning, marked when cut."""
    if len(text) <= budget:
        return text, False
    return text[:budget] + "\n[the rest left out]", True


def skeleton(schema: Mapping[str, Any], name: str = "") -> Any:
    """A value shaped like ``schema``, saying what to write in each place (a property's
    description, else its name and type)."""
    kind = schema.get("type")
    props = schema.get("properties")
    if isinstance(props, Mapping) and props:
        return {k: skeleton(v, k) if isinstance(v, Mapping) else fill(k) for k, v in props.items()}
    described = schema.get("description")
    if kind == "array":
        items = dict(schema["items"]) if isinstance(schema.get("items"), Mapping) else {}
        if described and "description" not in items:
            items["description"] = f"{described.rstrip('.')}, one per item"
        return [skeleton(items, name)]
    if isinstance(schema.get("enum"), list):
        return fill(" | ".join(map(str, schema["enum"])))
    if isinstance(described, str) and described:
        return fill(described.rstrip("."))
    label = str(kind or "a value")
    return fill(f"{name}: {label}" if name else label)


def extraction_task(
    conversation: Sequence[Mapping[str, Any]],
    existing: Sequence[Mapping[str, Any]],
    namespace: list[str],
    *,
    schemas: Mapping[str, Mapping[str, Any]] | None = None,
    instructions: str | None = None,
    enable_deletes: bool = False,
    prompts: PromptLibrary | None = None,
) -> AgentTask:
    """Memories from a conversation: free-text ones by ``manage_memory``, one call per fact (an
    existing memory corrected by id); structured ones by ``extract_memories(memories=...)``,
    which checks them against their schemas."""
    lib = prompts or default_library()
    transcript, trimmed = trim_conversation(conversation)
    shown = [{"id": str(m["id"]), "content": m.get("content")} for m in existing]
    material = f"<conversation>\n{transcript}\n</conversation>\n\n<memories_already_kept>\n"
    material += (to_json(shown) if shown else "(none)") + "\n</memories_already_kept>"
    what = instructions or "Keep what will still matter in future conversations with this user."
    calls: list[tuple[str, dict[str, Any]]]
    if schemas:
        kinds = list(schemas)
        memory = (
            {"kind": fill(" | ".join(kinds)), "content": fill("an object following that kind's schema")}
            if len(kinds) > 1
            else {"content": skeleton(next(iter(schemas.values())))}
        )
        material += "\n\n<schemas>\n" + to_json(dict(schemas)) + "\n</schemas>"
        calls = [
            (
                "extract_memories",
                {"namespace": namespace, "schemas": list(schemas.values()), "memories": [memory]},
            )
        ]
    else:
        calls = [
            (
                "manage_memory",
                {"action": "create", "content": fill("one new memory"), "namespace": namespace},
            ),
            (
                "manage_memory",
                {
                    "action": "update",
                    "id": fill("the id of a memory already kept"),
                    "content": fill("its corrected text"),
                    "namespace": namespace,
                },
            ),
        ]
        if enable_deletes:
            calls.append(
                (
                    "manage_memory",
                    {"action": "delete", "id": fill("the id of a wrong memory"), "namespace": namespace},
                )
            )
    return AgentTask("extract_memories", lib.render(EXTRACT, instructions=what), material, calls, trimmed)


def summary_task(
    conversation: Sequence[Mapping[str, Any]],
    thread_id: str,
    schema: Mapping[str, Any],
    *,
    custom_schema: bool = False,
    prompts: PromptLibrary | None = None,
) -> AgentTask:
    """A thread's summary, completed by ``summarize_thread(thread_id, summary=...)``."""
    lib = prompts or default_library()
    transcript, trimmed = trim_conversation(conversation)
    arguments: dict[str, Any] = {"thread_id": thread_id, "summary": skeleton(schema)}
    if custom_schema:
        arguments["schema"] = dict(schema)
    return AgentTask(
        "summarize_thread",
        lib.render(SUMMARIZE, schema=to_json(schema)),
        f"<conversation>\n{transcript}\n</conversation>",
        [("summarize_thread", arguments)],
        trimmed,
    )


def optimization_task(
    specs: Sequence[Any], trajectories: str, *, prompts: PromptLibrary | None = None
) -> AgentTask:
    """Prompts to improve, each completed by ``optimize_prompt(prompt, proposed_prompt=...)``;
    ``specs`` are the prompts as given (text, or ``{name, prompt, ...}``)."""
    lib = prompts or default_library()
    listing = []
    for i, spec in enumerate(specs, 1):
        body = spec if isinstance(spec, str) else to_json(spec)
        listing.append(f'<prompt n="{i}">\n{body}\n</prompt>')
    text, trimmed = trim_text(trajectories)
    material = "\n\n".join(listing) + f"\n\n<trajectories>\n{text}\n</trajectories>"
    calls = [
        ("optimize_prompt", {"prompt": spec, "proposed_prompt": fill("the complete improved prompt")})
        for spec in specs
    ]
    return AgentTask("optimize_prompt", lib.render(OPTIMIZE), material, calls, trimmed)


def episode_task(
    trajectory: str, task_id: str, namespace: list[str], *, prompts: PromptLibrary | None = None
) -> AgentTask:
    """A raw episode to distil, completed by ``record_episode(task_id, episodes=[...])``."""
    lib = prompts or default_library()
    text, trimmed = trim_text(trajectory)
    episode = {k: skeleton(EPISODE_SCHEMA["properties"][k]) for k in FIELDS}
    return AgentTask(
        "record_episode",
        lib.render(EPISODE),
        f"<trajectory>\n{text}\n</trajectory>",
        [("record_episode", {"task_id": task_id, "namespace": namespace, "episodes": [episode]})],
        trimmed,
    )


def distill_task(
    messages: Sequence[Mapping[str, Any]],
    task_id: str,
    namespace: list[str],
    *,
    trimmed: bool = False,
    prompts: PromptLibrary | None = None,
) -> AgentTask:
    """Captured messages to distil into memories, completed by
    ``extract_memories(task_id, memories=[...])``; ``messages`` already fit the budget."""
    lib = prompts or default_library()
    return AgentTask(
        "distill",
        lib.render(DISTILL),
        f"<conversation>\n{render_conversation(messages)}\n</conversation>",
        [
            (
                "extract_memories",
                {"task_id": task_id, "namespace": namespace, "memories": [fill("one memory")]},
            )
        ],
        trimmed,
    )
