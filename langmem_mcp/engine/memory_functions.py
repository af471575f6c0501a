"""The LangMem alpha service's memory functions, as pure procedures over an LLM.

``user_state`` keeps one profile object per user and asks the model only for a patch of
the fields the conversation changes; ``user_append_state`` appends new entries of a
schema; ``semantic_memories`` extracts facts with an importance score (for ranking by
relevance, recency and importance); ``thread_summary`` summarises a thread. The service
loads the inputs and stores the outputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langmem_mcp.engine.extraction import (
    ExtractionResult,
    extract_memories,
    relaxed,
    render_conversation,
    schema_errors,
    to_json,
)
from langmem_mcp.engine.summary import Embed, summarize_thread
from langmem_mcp.llm.base import LLM, ToolSpec
from langmem_mcp.llm.prompts import PromptLibrary, declare, default_library
from langmem_mcp.llm.structured import Invalid, StructuredOutputError, find_json, structured_call

STATE_SYSTEM = declare("user_state", "instructions", "schema")
STATE_INPUT = declare("user_state_input", "conversation", "current")
APPEND_SYSTEM = declare("user_append_state", "instructions", "schema")
APPEND_INPUT = declare("user_append_state_input", "conversation", "existing")
SEMANTIC_INSTRUCTIONS = declare("semantic_memory")

STATE_TOOL = "update_profile"
APPEND_TOOL = "append_entries"


@dataclass
class StatePatch:
    """What ``user_state`` found: the patch apart from the merged state, so callers can tell a no-op."""

    patch: dict[str, Any]  # the fields the model set
    state: dict[str, Any]  # the current state with the patch applied
    changed: bool


@dataclass
class AppendResult:
    """What ``user_append_state`` found: the new entries, and why others were refused (for logs)."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def _schema_parameters(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Accept a JSON schema or the alpha service's ``{name, description, parameters}``."""
    if "parameters" in schema and "properties" not in schema:
        return dict(schema["parameters"])
    return dict(schema)


async def user_state(
    llm: LLM,
    messages: Sequence[Mapping[str, Any]],
    schema: Mapping[str, Any],
    current: Mapping[str, Any] | None = None,
    *,
    instructions: str | None = None,
    max_steps: int = 2,
    prompts: PromptLibrary | None = None,
    procedure: str = "user_state",
) -> StatePatch:
    """Patch a user's profile from a conversation; the patch is validated against ``schema``
    with its top-level ``required`` relaxed (a profile fills in over time)."""
    lib = prompts or default_library()
    params = _schema_parameters(schema)
    patch_schema = relaxed(params)
    patch_schema.setdefault("type", "object")
    state = dict(current or {})
    system = lib.render(STATE_SYSTEM, instructions=instructions or "", schema=to_json(params))
    history: list[dict[str, Any]] = [
        {
            "role": "user",
            "content": lib.render(
                STATE_INPUT,
                conversation=render_conversation(messages),
                current=to_json(state) if state else "{}",
            ),
        }
    ]
    tool = ToolSpec(
        STATE_TOOL, "Set the profile fields this conversation adds or changes; omit the others.", patch_schema
    )

    def judge(patch: dict[str, Any]) -> StatePatch:
        errors = schema_errors(patch_schema, patch)
        if errors:
            raise Invalid("; ".join(errors))
        merged = {**state, **patch}
        return StatePatch(dict(patch), merged, merged != state)

    return await structured_call(
        llm,
        system,
        history,
        tool,
        judge,
        max_attempts=max_steps,
        procedure=procedure,
        what="profile patch",
        feedback="Error: the patch does not follow the schema: {problem}",
        if_missing=lambda: StatePatch({}, state, False),
    )


async def user_append_state(
    llm: LLM,
    messages: Sequence[Mapping[str, Any]],
    schema: Mapping[str, Any],
    existing: Sequence[Mapping[str, Any]] = (),
    *,
    instructions: str | None = None,
    max_steps: int = 2,
    prompts: PromptLibrary | None = None,
    procedure: str = "user_append_state",
) -> AppendResult:
    """New entries of ``schema`` found in the conversation (not repeating ``existing``)."""
    lib = prompts or default_library()
    params = _schema_parameters(schema)
    params.setdefault("type", "object")
    system = lib.render(APPEND_SYSTEM, instructions=instructions or "", schema=to_json(params))
    history: list[dict[str, Any]] = [
        {
            "role": "user",
            "content": lib.render(
                APPEND_INPUT,
                conversation=render_conversation(messages),
                existing=to_json(list(existing)) if existing else "(none yet)",
            ),
        }
    ]
    tool = ToolSpec(
        APPEND_TOOL,
        "Record the new entries; an empty list when there are none.",
        {
            "type": "object",
            "properties": {"entries": {"type": "array", "items": params}},
            "required": ["entries"],
        },
    )
    result = AppendResult()
    seen = [dict(e) for e in existing]

    def judge(args: dict[str, Any]) -> AppendResult:
        """Keep the valid new entries at once; refuse the call if any entry is invalid."""
        entries = args.get("entries")
        bad: list[str] = []
        for i, entry in enumerate(entries if isinstance(entries, list) else []):
            errors = schema_errors(params, entry)
            if errors:
                bad.append(f"entry {i}: " + "; ".join(errors))
            elif entry not in seen:
                seen.append(entry)
                result.entries.append(entry)
        if bad:
            result.rejected += bad
            raise Invalid(" | ".join(bad))
        return result

    try:
        return await structured_call(
            llm,
            system,
            history,
            tool,
            judge,
            read_text=_entries_from_text,
            max_attempts=max_steps,
            procedure=procedure,
            what="list of entries",
            feedback=(
                "Error: these entries were refused (the others were kept): {problem}. "
                "Call again with corrected versions of the refused entries only, or an empty list."
            ),
            if_missing=lambda: result,
        )
    except StructuredOutputError as exc:
        if exc.failure != "invalid":
            raise
        return result  # refused entries are reported in result.rejected, the valid ones kept


def _entries_from_text(text: str) -> dict[str, Any] | None:
    """Entries given as text: a JSON list of them, or one entry on its own."""
    found = find_json(text)
    if isinstance(found.value, list):
        return {"entries": found.value}
    return {"entries": [found.value]} if isinstance(found.value, dict) else None


async def semantic_memories(
    llm: LLM,
    messages: Sequence[Mapping[str, Any]],
    existing: Sequence[Mapping[str, Any]] = (),
    *,
    instructions: str | None = None,
    max_steps: int = 2,
    prompts: PromptLibrary | None = None,
    procedure: str = "semantic_memory",
) -> ExtractionResult:
    """Unstructured facts about the user, each with an importance in [0, 1]."""
    lib = prompts or default_library()
    return await extract_memories(
        llm,
        messages,
        existing,
        instructions=instructions or lib.render(SEMANTIC_INSTRUCTIONS),
        with_importance=True,
        max_steps=max_steps,
        prompts=lib,
        procedure=procedure,
    )


async def thread_summary(
    messages: Sequence[Mapping[str, Any]],
    *,
    llm: LLM | None = None,
    embed: Embed | None = None,
    schema: Mapping[str, Any] | None = None,
    instructions: str | None = None,
    prompts: PromptLibrary | None = None,
) -> dict[str, Any]:
    """The ``thread_summary`` memory function: see :func:`summarize_thread`."""
    return await summarize_thread(
        messages,
        llm=llm,
        embed=embed,
        schema=_schema_parameters(schema) if schema else None,
        instructions=instructions,
        prompts=prompts,
        procedure="thread_summary",
    )
