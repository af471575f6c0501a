"""What the LLM use cases return; these models are also the MCP tools' output schemas.

Annotations are not postponed: pydantic would evaluate each field's annotation text while the
server starts (about 15% of the time these classes take to make).
"""

from typing import Any, Literal

from pydantic import BaseModel, Field


class StoredMemory(BaseModel):
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


class SkippedChange(BaseModel):
    """A change the model asked for that could not be stored (e.g. the memory changed meanwhile)."""

    op: Literal["insert", "update", "supersede", "delete"]
    id: str
    reason: str


class ExtractionOutcome(BaseModel):
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


class SummaryOutcome(BaseModel):
    summary: dict[str, Any]
    method: Literal["llm", "extractive"]
    thread_id: str | None = None
    memory_id: str | None = Field(None, description="The thread's summary memory, when stored.")
    namespace: list[str] | None = None
    note: str = ""


class PromptOutcome(BaseModel):
    name: str | None = None
    prompt: str
    updated: bool
    analysis: str = ""
    recommendation: str = ""
    reason: str = Field("", description="Why the original was kept, when it was.")
    version: int | None = Field(None, description="Latest version in this prompt's history (named prompts).")


class OptimizationOutcome(BaseModel):
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
