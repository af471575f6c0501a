"""Episodic memory: past experiences kept as reusable worked examples.

An episode is what the situation was, what was tried, how it turned out and the lesson, for a kind
of task. A model distils episodes from trajectories (conversations with their feedback); without
one, the trajectory itself is kept as a raw episode, distilled later. Retrieval ranks the episodes
found for a task by relevance, with successes ahead of failures on the same kind of task, and
renders them as worked examples.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langmem_mcp.engine.extraction import schema_errors
from langmem_mcp.llm.base import LLM, ToolSpec
from langmem_mcp.llm.prompts import PromptLibrary, declare, default_library
from langmem_mcp.llm.structured import Invalid, find_json, prose, structured_call

DISTILL_SYSTEM = declare("record_episode")
DISTILL_INPUT = declare("record_episode_input", "trajectories")

KIND = "episode"
NAMESPACE = "episodes"
FIELDS = ("task", "situation", "attempt", "outcome", "lesson")
OUTCOMES = ("success", "partial", "failure")
#: The order of outcomes among episodes of the same kind of task: what worked first.
OUTCOME_WEIGHT = {"success": 1.0, "partial": 0.75, "failure": 0.5}
MAX_EPISODES = 10
_SYNONYMS = {
    "succeeded": "success",
    "successful": "success",
    "worked": "success",
    "solved": "success",
    "resolved": "success",
    "fail": "failure",
    "failed": "failure",
    "unsuccessful": "failure",
    "partially": "partial",
    "partial success": "partial",
    "mixed": "partial",
}

EPISODE_SCHEMA: dict[str, Any] = {
    "title": "Episode",
    "type": "object",
    "properties": {
        "task": {
            "type": "string",
            "description": "The kind of task, in a few words, so similar tasks find it.",
        },
        "situation": {"type": "string", "description": "What the situation was."},
        "attempt": {"type": "string", "description": "What was tried."},
        "outcome": {"type": "string", "enum": list(OUTCOMES), "description": "How it turned out."},
        "lesson": {"type": "string", "description": "What to do (or avoid) next time."},
    },
    "required": list(FIELDS),
}
_TOOL = ToolSpec(
    "record_episodes",
    "Record the episodes distilled from the trajectories.",
    {
        "type": "object",
        "properties": {"episodes": {"type": "array", "items": EPISODE_SCHEMA, "minItems": 1}},
        "required": ["episodes"],
    },
)


def check_episode(value: Any, where: str = "episode") -> dict[str, str]:
    """An episode with its fields trimmed and its outcome one of OUTCOMES, or Invalid saying why."""
    if not isinstance(value, Mapping):
        raise Invalid(f"{where} must be an object with {', '.join(FIELDS)}")
    episode = {k: v.strip() if isinstance(v, str) else v for k, v in value.items() if k in FIELDS}
    outcome = episode.get("outcome")
    if isinstance(outcome, str):
        outcome = outcome.lower().strip(" .!")
        episode["outcome"] = _SYNONYMS.get(outcome, outcome)
    problems = schema_errors(EPISODE_SCHEMA, episode)
    problems += [f"{k}: must not be empty" for k in FIELDS if episode.get(k) == ""]
    if problems:
        raise Invalid(f"{where}: " + "; ".join(problems))
    return {k: str(episode[k]) for k in FIELDS}


def check_episodes(items: Any) -> list[dict[str, str]]:
    if not isinstance(items, list) or not items:
        raise Invalid("episodes must be a non-empty list of episodes")
    if len(items) > MAX_EPISODES:
        raise Invalid(f"at most {MAX_EPISODES} episodes at a time")
    return [check_episode(e, f"episodes[{i}]") for i, e in enumerate(items)]


def episode_text(episode: Mapping[str, Any]) -> str:
    """The stored (and searched) text of an episode."""
    return (
        f"Task: {episode['task']}\nSituation: {episode['situation']}\nTried: {episode['attempt']}\n"
        f"Outcome: {episode['outcome']}\nLesson: {episode['lesson']}"
    )


_LABELS = {
    "task": "task",
    "kind of task": "task",
    "situation": "situation",
    "context": "situation",
    "tried": "attempt",
    "attempt": "attempt",
    "what was tried": "attempt",
    "action": "attempt",
    "outcome": "outcome",
    "result": "outcome",
    "lesson": "lesson",
    "lesson learned": "lesson",
    "takeaway": "lesson",
}
_LABEL = re.compile(r"^[\s*_#>-]*([A-Za-z][A-Za-z ]{1,20}?)[\s*_]*:[\s*_]*(.*)$")


def episodes_from_text(text: str) -> dict[str, Any] | None:
    """Episodes written as text: a JSON list (or ``{"episodes": [...]}``, or one episode), else
    labelled lines ("Task: …", "Situation: …", "Tried: …", "Outcome: …", "Lesson: …"), a new
    episode starting at each repeated label."""
    found = find_json(text)
    value = found.value
    if isinstance(value, dict) and "episodes" in value:
        return dict(value)
    if isinstance(value, list):
        return {"episodes": value}
    if isinstance(value, dict):
        return {"episodes": [value]}
    body = prose(text)
    if not body:
        return None
    episodes: list[dict[str, str]] = []
    current: dict[str, str] = {}
    field: str | None = None
    for line in body.splitlines():
        match = _LABEL.match(line)
        key = _LABELS.get(match.group(1).strip().lower()) if match else None
        if match and key is not None:
            if key in current:
                episodes.append(current)
                current = {}
            field = key
            current[key] = match.group(2).strip()
        elif field is not None and line.strip():
            current[field] = (current[field] + " " + line.strip()).strip()
    if current:
        episodes.append(current)
    return {"episodes": episodes} if episodes else None


async def distill(
    llm: LLM, trajectories: str, *, prompts: PromptLibrary | None = None, max_attempts: int = 2
) -> list[dict[str, str]]:
    """Episodes from rendered trajectories, each validated; a refusal is fed back once."""
    lib = prompts or default_library()
    return await structured_call(
        llm,
        lib.render(DISTILL_SYSTEM),
        [{"role": "user", "content": lib.render(DISTILL_INPUT, trajectories=trajectories)}],
        _TOOL,
        lambda args: check_episodes(args.get("episodes")),
        read_text=episodes_from_text,
        max_attempts=max_attempts,
        procedure="record_episode",
        what="episode",
    )


# ---- retrieval ----


@dataclass(frozen=True)
class Found:
    """An episode a search found: its id, relevance, fields and when it was recorded."""

    id: str
    relevance: float
    episode: Mapping[str, Any]
    created_at: str = ""


def rank(found: Sequence[Found], k: int) -> list[Found]:
    """The top ``k`` of ``found`` (best first by relevance), with what worked first among the
    episodes of the same kind of task: within each such group the successes take the places of
    its best-ranked members, then partial outcomes, then failures; other episodes keep their
    places. Ties go to the more relevant, then the more recent."""
    groups: list[tuple[frozenset[str], list[int]]] = []
    for i, f in enumerate(found):
        kind = _task_words(f.episode.get("task"))
        for words, members in groups:
            if kind and _similar(words, kind):
                members.append(i)
                break
        else:
            groups.append((kind, [i]))
    ranked = list(found)
    for _, members in groups:
        by_recency = sorted((found[i] for i in members), key=lambda f: f.created_at, reverse=True)
        ordered = sorted(by_recency, key=lambda f: (-_weight(f), -f.relevance))
        for slot, f in zip(members, ordered, strict=True):
            ranked[slot] = f
    return ranked[:k]


def _weight(f: Found) -> float:
    return OUTCOME_WEIGHT.get(str(f.episode.get("outcome")), OUTCOME_WEIGHT["partial"])


def _task_words(task: Any) -> frozenset[str]:
    from langmem_mcp.engine.lexical import STOPWORDS, words

    text = task if isinstance(task, str) else ""
    return frozenset(w for w in words(text) if w not in STOPWORDS)


def _similar(a: frozenset[str], b: frozenset[str]) -> bool:
    """Two tasks are of the same kind when they share most of their words (Jaccard >= 0.5)."""
    return len(a & b) >= 0.5 * len(a | b)


def worked_examples(task: str, found: Sequence[Found]) -> str:
    """Episodes as worked examples for ``task``, best first."""
    if not found:
        return f"No recorded episodes match the task: {task}"
    blocks = []
    for i, f in enumerate(found, 1):
        e = f.episode
        blocks.append(
            f"### Example {i}: {e.get('task', '')} ({e.get('outcome', '')})\n"
            f"- Situation: {e.get('situation', '')}\n- What was tried: {e.get('attempt', '')}\n"
            f"- Outcome: {e.get('outcome', '')}\n- Lesson: {e.get('lesson', '')}"
        )
    return f"Worked examples from past episodes, for the task: {task}\n\n" + "\n\n".join(blocks)
