"""What the LLM use cases return; these models are also the MCP tools' output schemas.

Annotations are not postponed: pydantic would evaluate each field's annotation text while the
server starts (about 15% of the time these classes take to make).
"""

from typing import Any, Literal

from pydantic import BaseModel, Field

from langmem_mcp.service.models.base import Result


# A host-agent task (see engine/host_agent.py): work for the calling agent when the server has no
# model. The agent does what `instructions` say with `material` (`trimmed`: cut to its budget, the
# most recent part kept), then makes the calls in `complete_with`, with the <...> values filled;
# they are checked exactly as a model's answer would be. `why`: why no model, how to give it one.
class TaskCall(Result):
    """A tool call the host agent makes to complete a task, with <...> values to fill."""

    tool: str
    arguments: dict[str, Any]


class HostAgentTask(BaseModel):  # not a Result: its docstring is for the agent, in the schema
    """Work for the calling agent when the server has no model: the agent is the model. Do what
    `instructions` say with `material`, then make the calls in `complete_with`; they are checked
    exactly as a model's answer would be."""

    method: Literal["host_agent"] = "host_agent"
    procedure: str
    instructions: str
    material: str
    trimmed: bool = Field(
        False, description="The material was cut to its budget (the most recent part kept)."
    )
    complete_with: list[TaskCall]
    why: str = Field("", description="Why the server has no model, and how to give it one.")


class StoredMemory(Result):
    """A memory an LLM procedure created, updated, superseded or deleted."""

    id: str
    action: Literal["created", "exists", "updated", "superseded", "deleted"]
    kind: str = "Memory"
    content: str | dict[str, Any] | None = None
    importance: float | None = None
    superseded: str | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="A supersede: the memory that is no longer true (kept, with valid_to and superseded_by).",
    )


class SkippedChange(Result):
    """A change the model asked for that could not be stored (e.g. the memory changed meanwhile)."""

    op: Literal["insert", "update", "supersede", "delete"]
    id: str
    reason: str


class ExtractionOutcome(Result):
    """What `extract_memories` changed in a namespace (or the task for the host agent)."""

    namespace: list[str]
    inserted: list[StoredMemory] = Field(default_factory=list)
    updated: list[StoredMemory] = Field(default_factory=list)
    superseded: list[StoredMemory] = Field(
        default_factory=list, description="New memories that replaced outdated ones (each names the old one)."
    )
    deleted: list[StoredMemory] = Field(default_factory=list)
    skipped: list[SkippedChange] = Field(default_factory=list)
    refused_calls: list[str] = Field(
        default_factory=list, description="Model tool calls refused (and explained back to the model)."
    )
    steps: int = 0
    finished: bool = False
    backend: str = ""
    method: Literal["llm", "host_agent"] = "llm"
    task: HostAgentTask | None = None


class SummaryOutcome(Result):
    """A thread's summary and how it was made (model, extractive, or host agent)."""

    summary: dict[str, Any]
    method: Literal["llm", "extractive", "host_agent"]
    thread_id: str | None = None
    memory_id: str | None = Field(None, description="The thread's summary memory, when stored.")
    namespace: list[str] | None = None
    note: str = ""
    task: HostAgentTask | None = None


class PromptOutcome(Result):
    """One prompt's optimisation: the result and why it changed or was kept."""

    name: str | None = None
    prompt: str
    updated: bool
    analysis: str = ""
    recommendation: str = ""
    reason: str = Field("", description="Why the original was kept, when it was.")
    version: int | None = Field(None, description="Latest version in this prompt's history (named prompts).")


class OptimizationOutcome(Result):
    """What `optimize_prompt` did to one prompt or several."""

    kind: str
    prompt: str | None = Field(None, description="Single-prompt calls: the result (the original if kept).")
    prompts: list[dict[str, Any]] | None = Field(
        None, description="Multi-prompt calls: the prompts in the given order, rewritten where updated."
    )
    selected: list[str] | None = Field(None, description="Multi-prompt calls: prompts the feedback concerns.")
    updated: list[str] = Field(default_factory=list)
    outcomes: list[PromptOutcome] = Field(default_factory=list)
    reason: str = ""
    backend: str = ""
    method: Literal["llm", "host_agent"] = "llm"
    task: HostAgentTask | None = None


class StoredEpisode(Result):
    """An episode (what happened, what worked) kept for later tasks."""

    id: str
    action: Literal["created", "exists"]
    episode: dict[str, str]


# What record_episode did: episodes distilled and stored, or the trajectory kept raw (`raw_id`, with
# a task to distil it when there is no model); `raw_id` is also the raw episode a distillation removed.
class EpisodeOutcome(Result):
    """What `record_episode` kept: distilled episodes, or the raw trajectory to distil later."""

    namespace: list[str]
    method: Literal["llm", "host_agent", "raw"]
    episodes: list[StoredEpisode] = Field(default_factory=list)
    raw_id: str | None = None
    backend: str = ""
    note: str = ""
    task: HostAgentTask | None = None
