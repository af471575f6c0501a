"""What the memory service returns; these models are also the MCP tools' output schemas."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class WriteResult(BaseModel):
    action: Literal["created", "updated", "deleted", "exists"]
    id: str
    redacted: list[str] = Field(
        default_factory=list,
        exclude_if=lambda kinds: not kinds,
        description="Present when secrets or <private> spans were taken out before storing: their "
        "kinds (anthropic-api-key, password, private, ...). The stored text holds placeholders "
        "such as [redacted: password] instead.",
    )


class Memory(BaseModel):
    id: str
    namespace: list[str]
    content: str
    created_at: str
    updated_at: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    importance: float = 0.5


class MemoryHit(Memory):
    score: float


class Why(BaseModel):
    """Why a hit ranked where it did (`MemoryService.search(..., explain=True)`; tools leave it off)."""

    keyword_rank: int | None = Field(None, description="1-based rank by BM25; None: no keyword match.")
    meaning_rank: int | None = Field(None, description="1-based rank by vector similarity.")
    fused: float = Field(description="Reciprocal-rank fusion of the two ranks.")
    #: Set when recency or importance is weighted: each part of the blended score.
    relevance: float | None = None
    recency: float | None = None
    importance: float | None = None


class ExplainedHit(MemoryHit):
    why: Why


class SearchResult(BaseModel):
    memories: list[MemoryHit]


class MemoryPage(BaseModel):
    namespace: list[str]
    memories: list[Memory]
    next_cursor: str | None = None


class NamespaceStats(BaseModel):
    namespace: list[str]
    count: int


class Stats(BaseModel):
    total: int
    namespaces: list[NamespaceStats]
    embedding_model: str
    index_ready: bool
    data_dir: str
    schema_version: int
