"""Prompt optimisation from trajectories and feedback (LangMem's procedural memory).

Three strategies, as in LangMem: ``gradient`` reflects (think / critique) and recommends,
and rewrites only when the recommendation says an update is warranted; ``metaprompt``
reflects, then rewrites through a meta-prompt; ``prompt_memory`` does it in one pass. The
multi-prompt variant first asks which prompts the feedback concerns. Unlike LangMem's
``prompt_memory``, which can return an empty prompt, a prompt is never lost: if the model
declines, fails, drops the prompt's ``{placeholders}`` or returns nothing, the original
comes back unchanged (with the reason).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langmem_mcp.engine.extraction import render_conversation
from langmem_mcp.engine.lexical import STOPWORDS, words
from langmem_mcp.engine.placeholders import placeholders
from langmem_mcp.errors import InvalidInput
from langmem_mcp.llm.base import LLM, LLMError, ToolCall, ToolSpec
from langmem_mcp.llm.prompts import PromptLibrary, declare, default_library
from langmem_mcp.llm.structured import (
    CallsReader,
    Exchange,
    Invalid,
    StructuredOutputError,
    find_json,
    prose,
    structured_call,
)

Kind = Literal["gradient", "metaprompt", "prompt_memory"]
KINDS: tuple[str, ...] = ("gradient", "metaprompt", "prompt_memory")

OPT_INPUT = declare(
    "optimize_input", "prompt", "trajectories", optional=("name", "when_to_update", "update_instructions")
)
GRADIENT_THINK = declare("optimize_gradient_think", optional=("min_steps", "max_steps"))
GRADIENT_UPDATE = declare("optimize_gradient_update", "recommendations")
META_THINK = declare("optimize_metaprompt_think", optional=("min_steps", "max_steps"))
META_UPDATE = declare("optimize_metaprompt_update", "reflections")
PROMPT_MEMORY = declare("optimize_prompt_memory")
CLASSIFY = declare("optimize_classify")
CLASSIFY_INPUT = declare("optimize_classify_input", "prompts", "trajectories")

_NOTED = "Noted. Keep reflecting with another call, or give your conclusion when ready."


@dataclass
class OptimizedPrompt:
    """One prompt's outcome: the prompt to use (the original when kept) and why."""

    prompt: str
    updated: bool
    analysis: str = ""
    recommendation: str = ""
    reason: str = ""  # why the original was kept, when it was


@dataclass
class MultiOptimized:
    """Several prompts' outcome: which the feedback concerned, which changed, and each one's details."""

    prompts: list[dict[str, Any]]  # same order and fields as given, "prompt" possibly rewritten
    selected: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    details: dict[str, OptimizedPrompt] = field(default_factory=dict)
    reason: str = ""


# ---- tools ----

_THINK = ToolSpec(
    "think",
    "Write down a thought about what went well or badly in the conversations and why.",
    {"type": "object", "properties": {"thought": {"type": "string"}}, "required": ["thought"]},
)
_CRITIQUE = ToolSpec(
    "critique",
    "Critique the current prompt: which of its instructions caused or failed to prevent the problems.",
    {"type": "object", "properties": {"critique": {"type": "string"}}, "required": ["critique"]},
)
_RECOMMEND = ToolSpec(
    "recommend",
    "Conclude: say whether the prompt warrants an adjustment and, if so, exactly what to change.",
    {
        "type": "object",
        "properties": {
            "warrants_adjustment": {"type": "boolean"},
            "hypotheses": {"type": "string", "description": "Why the conversations went as they did."},
            "full_recommendations": {"type": "string", "description": "The concrete changes to make."},
        },
        "required": ["warrants_adjustment"],
    },
)
_FINISH = ToolSpec(
    "finish_reflection",
    "Conclude the reflection with the insights the rewrite should act on.",
    {"type": "object", "properties": {"insights": {"type": "string"}}, "required": ["insights"]},
)
_UPDATE = ToolSpec(
    "update_prompt",
    "Give the improved prompt. Leave should_update false to keep the prompt as it is.",
    {
        "type": "object",
        "properties": {
            "analysis": {"type": "string", "description": "What to change and why."},
            "should_update": {"type": "boolean"},
            "improved_prompt": {"type": "string", "description": "The complete new prompt."},
        },
        "required": ["analysis", "should_update"],
    },
)


def _select_tool(names: Sequence[str]) -> ToolSpec:
    return ToolSpec(
        "select_prompts",
        "Name the prompts the feedback shows should change (possibly none).",
        {
            "type": "object",
            "properties": {
                "reasoning": {"type": "string"},
                "which": {"type": "array", "items": {"type": "string", "enum": list(names)}},
            },
            "required": ["which"],
        },
    )


# ---- rendering ----


def render_trajectories(trajectories: Sequence[Any]) -> str:
    """``[[messages, feedback], ...]`` (feedback a dict, text or None) as numbered blocks."""
    blocks = []
    for i, item in enumerate(trajectories, 1):
        if isinstance(item, Mapping):
            messages, feedback = item.get("messages", []), item.get("feedback")
        else:
            messages, feedback = (list(item) + [None])[:2]
        fb = feedback if isinstance(feedback, str) else json.dumps(feedback, ensure_ascii=False, default=str)
        blocks.append(
            f"<trajectory {i}>\n{render_conversation(messages or [])}\n\nFeedback: {fb}\n</trajectory {i}>"
        )
    return "\n\n".join(blocks) or "(no trajectories)"


def check_rewrite(original: str, new: Any) -> str | None:
    """Why ``new`` cannot replace ``original``, or None."""
    if not isinstance(new, str) or not new.strip():
        return "the improved prompt is empty"
    lost = sorted(placeholders(original) - placeholders(new))
    if lost:
        return "the improved prompt drops the placeholder(s) " + ", ".join("{" + p + "}" for p in lost)
    return None


# ---- single prompt ----


async def optimize_prompt(
    llm: LLM,
    trajectories: Sequence[Any],
    prompt: str | Mapping[str, Any],
    *,
    kind: Kind = "gradient",
    max_reflection_steps: int = 3,
    min_reflection_steps: int = 1,
    prompts: PromptLibrary | None = None,
    procedure: str = "",
) -> OptimizedPrompt:
    """Improve ``prompt`` (text, or ``{name, prompt, when_to_update, update_instructions}``)."""
    if kind not in KINDS:
        raise InvalidInput(f"unknown optimizer kind {kind!r}; use one of {', '.join(KINDS)}")
    spec = {"prompt": prompt} if isinstance(prompt, str) else dict(prompt)
    original = str(spec.get("prompt") or "")
    lib = prompts or default_library()
    task = lib.render(
        OPT_INPUT,
        prompt=original,
        trajectories=render_trajectories(trajectories),
        name=spec.get("name") or "",
        when_to_update=spec.get("when_to_update") or "",
        update_instructions=spec.get("update_instructions") or "",
    )
    steps = (max(0, min_reflection_steps), max(1, max_reflection_steps))
    run = _Run(llm, lib, original, task, procedure or f"optimize_{kind}")
    try:
        if kind == "gradient":
            return await run.gradient(*steps)
        if kind == "metaprompt":
            return await run.metaprompt(*steps)
        return await run.rewrite(lib.render(PROMPT_MEMORY))
    except LLMError as exc:  # a failed call must not cost the user their prompt
        return OptimizedPrompt(original, False, reason=f"model call failed: {exc}")


class _Run:
    def __init__(self, llm: LLM, lib: PromptLibrary, original: str, task: str, procedure: str) -> None:
        self.llm, self.lib, self.original, self.task, self.procedure = llm, lib, original, task, procedure

    async def _reflect(
        self,
        system: str,
        tools: list[ToolSpec],
        final: ToolSpec,
        min_steps: int,
        max_steps: int,
        conclusion_from_text: CallsReader | None = None,
    ) -> tuple[list[str], ToolCall | None]:
        """Up to ``max_steps`` reflection turns, the conclusion offered after ``min_steps``
        and forced at the end. Returns the notes taken and the concluding call.

        Before the end a prose reply is a note; at the end, where only the conclusion may
        come, ``conclusion_from_text`` reads prose as the conclusion."""
        exchange = Exchange(
            self.llm, system, [{"role": "user", "content": self.task}], procedure=self.procedure
        )
        notes: list[str] = []
        min_steps = min(min_steps, max_steps)
        for step in range(max_steps + 1):
            forced = step == max_steps
            offered = [final] if forced else tools + ([final] if step >= min_steps else [])
            turn = await exchange.ask(
                offered, final.name if forced else "any", read_text=conclusion_from_text if forced else None
            )
            if turn.response.text.strip() and not turn.from_text:
                notes.append(turn.response.text.strip())
            conclusion = next((c for c in turn.calls if c.name == final.name), None)
            for call in turn.calls:
                if call is not conclusion:
                    notes.extend(str(v) for v in call.input.values() if v)
            if conclusion is not None:
                return notes, conclusion
            if forced:
                break
            if turn.problem is not None:
                exchange.reply(turn, f"Error: {turn.problem}. {_NOTED}")
            else:
                exchange.reply(turn, _NOTED, is_error=False)
        return notes, None

    async def gradient(self, min_steps: int, max_steps: int) -> OptimizedPrompt:
        system = self.lib.render(GRADIENT_THINK, min_steps=min_steps, max_steps=max_steps)
        _, rec = await self._reflect(
            system, [_THINK, _CRITIQUE], _RECOMMEND, min_steps, max_steps, recommendation_from_text
        )
        if rec is None:
            return OptimizedPrompt(self.original, False, reason="the model gave no recommendation")
        hypotheses = str(rec.input.get("hypotheses") or "")
        recommendation = str(rec.input.get("full_recommendations") or "")
        if not rec.input.get("warrants_adjustment") or not recommendation.strip():
            return OptimizedPrompt(
                self.original,
                False,
                analysis=hypotheses,
                recommendation=recommendation,
                reason="no adjustment warranted",
            )
        text = f"Hypotheses: {hypotheses}\n\nRecommendations: {recommendation}"
        result = await self.rewrite(self.lib.render(GRADIENT_UPDATE, recommendations=text))
        result.recommendation = recommendation
        return result

    async def metaprompt(self, min_steps: int, max_steps: int) -> OptimizedPrompt:
        system = self.lib.render(META_THINK, min_steps=min_steps, max_steps=max_steps)
        notes, finish = await self._reflect(system, [_THINK], _FINISH, min_steps, max_steps)
        if finish is not None and finish.input.get("insights"):
            notes.append(str(finish.input["insights"]))
        reflections = "\n".join(f"- {n}" for n in notes) or "(none)"
        return await self.rewrite(self.lib.render(META_UPDATE, reflections=reflections))

    async def rewrite(self, system: str, attempts: int = 2) -> OptimizedPrompt:
        """One forced ``update_prompt`` call (a second if the first is unusable)."""
        analysis, reason = "", "the model returned no prompt"
        from_prose: list[dict[str, Any]] = []  # the inputs read from prose: they get the prose guard

        def read_prose(text: str) -> dict[str, Any] | None:
            found = prompt_from_text(text)
            if found is not None:
                from_prose.append(found)
            return found

        def judge(args: dict[str, Any]) -> OptimizedPrompt:
            nonlocal analysis, reason
            analysis = str(args.get("analysis") or "")
            if not args.get("should_update"):
                return OptimizedPrompt(
                    self.original, False, analysis=analysis, reason="the model declined to update"
                )
            new = args.get("improved_prompt")
            problem = check_rewrite(self.original, new)
            if problem is None and any(args is read for read in from_prose):
                problem = check_prose_prompt(self.original, str(new))
            if problem:
                reason = problem
                raise Invalid(problem)
            assert isinstance(new, str)
            changed = new.strip() != self.original.strip()
            return OptimizedPrompt(
                new if changed else self.original,
                changed,
                analysis=analysis,
                reason="" if changed else "the rewrite equals the original",
            )

        try:
            return await structured_call(
                self.llm,
                system,
                [{"role": "user", "content": self.task}],
                _UPDATE,
                judge,
                read_text=read_prose,
                max_attempts=attempts,
                procedure=self.procedure,
                what="prompt",
                feedback="Error: {problem}. Call update_prompt again.",
                if_missing=lambda: OptimizedPrompt(self.original, False, analysis=analysis, reason=reason),
            )
        except StructuredOutputError as exc:
            return OptimizedPrompt(self.original, False, analysis=analysis, reason=exc.problem)


def prompt_from_text(text: str) -> dict[str, Any] | None:
    """A rewrite given as text: the text (without a lead-in line or fence) is the new prompt,
    or, when it says the prompt needs no change, a decline.

    It is checked like any rewrite (dropping a ``{placeholder}`` of the original refuses it),
    and by :func:`check_prose_prompt`.
    """
    prompt = prose(text)
    if not prompt:
        return None
    if declines(prompt):
        return {"analysis": prompt, "should_update": False}
    return {"analysis": "", "should_update": True, "improved_prompt": prompt}


_CHANGE = r"(?:changes?|updates?|adjustments?|edits?)"
_DECLINE = re.compile(
    rf"\bno (?:further )?{_CHANGE}(?: (?:is|are))? (?:needed|necessary|required|warranted)\b"
    rf"|\b(?:needs|requires|warrants) no {_CHANGE}"
    r"|\b(?:keep|leave) (?:it|the prompt|the (?:original|current) prompt) (?:as (?:it )?is|unchanged)\b"
    r"|\b(?:is|looks|seems) fine as (?:it )?is\b"
    rf"|\bdoes not (?:need|warrant|require) (?:a |any )?{_CHANGE}",
    re.IGNORECASE,
)
_COMMENTARY = re.compile(
    r"^(?:(?:the|this|your|my) (?:original |current |given |existing |new |improved |updated )?prompt\b"
    r"|i (?:would|think|recommend|suggest|believe|have|can|will|'d|'ll|'ve)\b"
    r"|(?:it|this) (?:looks|seems|is) (?:fine|good|great|clear)\b"
    r"|(?:sure|okay|ok|certainly|of course)\b[,.!]?\s*$)",
    re.IGNORECASE,
)


def declines(text: str) -> bool:
    """Whether a short prose reply says the prompt should stay as it is."""
    return len(text) <= 400 and _DECLINE.search(text) is not None


def check_prose_prompt(original: str, new: str) -> str | None:
    """Why a prose reply read as the new prompt may be a comment instead, or None.

    A rewrite that keeps the original's ``{placeholders}`` shows it is the prompt. A prompt
    without placeholders has no such mark, so its prose replacement must read as a prompt:
    not a question or a lead-in with nothing after it, not a comment about the prompt, and
    sharing words with the original. A refusal is fed back; the original is never lost.
    """
    if placeholders(original):
        return None
    text = new.strip()
    first = text.splitlines()[0].strip() if text else ""
    if text.endswith(("?", ":")):
        return "a text answer must be the complete new prompt, not a question or a lead-in"
    if _COMMENTARY.match(first):
        return "the text answer reads as a comment on the prompt, not as the new prompt"
    shared = _content_words(original)
    if shared and not shared & _content_words(text):
        return "the text answer shares no words with the prompt, so it cannot be told from a comment"
    return None


def _content_words(text: str) -> set[str]:
    return {w for w in words(text) if len(w) > 2 and w not in STOPWORDS}


def recommendation_from_text(text: str) -> list[tuple[str, dict[str, Any]]]:
    """The gradient's conclusion given as prose: the prose is the recommendation; a reply that
    says no change is needed concludes that no adjustment is warranted."""
    body = prose(text)
    if not body:
        return []
    warranted = not declines(body)
    return [
        (
            _RECOMMEND.name,
            {"warrants_adjustment": warranted, "hypotheses": "", "full_recommendations": body},
        )
    ]


# ---- several prompts ----


async def optimize_prompts(
    llm: LLM,
    trajectories: Sequence[Any],
    prompts: Sequence[Mapping[str, Any]],
    *,
    kind: Kind = "gradient",
    max_reflection_steps: int = 3,
    min_reflection_steps: int = 1,
    library: PromptLibrary | None = None,
) -> MultiOptimized:
    """Classify which prompts the feedback concerns, then optimise only those (in order)."""
    if kind not in KINDS:
        raise InvalidInput(f"unknown optimizer kind {kind!r}; use one of {', '.join(KINDS)}")
    specs = [dict(p) for p in prompts]
    names = [str(p.get("name") or f"prompt_{i + 1}") for i, p in enumerate(specs)]
    if len(set(names)) != len(names):
        raise InvalidInput("prompt names must be unique")
    out = MultiOptimized(prompts=[dict(p) for p in specs])
    lib = library or default_library()
    if len(specs) == 1:
        out.selected = names[:]
    else:
        try:
            out.selected = await _classify(llm, lib, trajectories, specs, names)
        except LLMError as exc:
            out.reason = f"model call failed while choosing prompts: {exc}"
            return out
    for i, name in enumerate(names):
        if name not in out.selected:
            continue
        result = await optimize_prompt(
            llm,
            trajectories,
            {**specs[i], "name": name},
            kind=kind,
            max_reflection_steps=max_reflection_steps,
            min_reflection_steps=min_reflection_steps,
            prompts=lib,
        )
        out.details[name] = result
        if result.updated:
            out.prompts[i]["prompt"] = result.prompt
            out.updated.append(name)
    return out


async def _classify(
    llm: LLM, lib: PromptLibrary, trajectories: Sequence[Any], specs: list[dict[str, Any]], names: list[str]
) -> list[str]:
    listing = "\n\n".join(
        f'<prompt name="{n}">\nWhen to update: {s.get("when_to_update") or "(not given)"}\n'
        f"Text:\n{s.get('prompt', '')}\n</prompt>"
        for n, s in zip(names, specs, strict=True)
    )
    task = lib.render(CLASSIFY_INPUT, prompts=listing, trajectories=render_trajectories(trajectories))
    tool = _select_tool(names)

    def chosen(args: dict[str, Any]) -> list[str]:
        which = args.get("which")
        picked = {str(w) for w in which} if isinstance(which, list) else set()
        return [n for n in names if n in picked]

    return await structured_call(
        llm,
        lib.render(CLASSIFY),
        [{"role": "user", "content": task}],
        tool,
        chosen,
        read_text=_names_from_text,
        procedure="optimize_classify",
        what="choice of prompts",
        if_missing=list,
    )


def _names_from_text(text: str) -> dict[str, Any] | None:
    """A choice of prompts given as a JSON list of their names."""
    found = find_json(text)
    return {"which": found.value} if isinstance(found.value, list) else None
