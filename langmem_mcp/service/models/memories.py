"""What the memory service returns; these models are also the MCP tools' output schemas.

Optional fields are left out of a result when they are not set (`exclude_if`), so a plain
create answers `{"action": "created", "id": ...}` and a current memory shows no `valid_to`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


def _unset(value: Any) -> bool:
    return value is None


class SimilarMemory(BaseModel):
    id: str
    content: str
    similarity: float = Field(description="Cosine similarity of the new text to this memory's index vector.")


class WriteResult(BaseModel):
    action: Literal["created", "updated", "deleted", "exists", "superseded"]
    id: str
    superseded: str | None = Field(
        default=None, exclude_if=_unset, description="supersede: the id of the memory that is no longer true."
    )
    similar: list[SimilarMemory] | None = Field(
        default=None,
        exclude_if=_unset,
        description="create: existing memories close to the new one (best first, at most 3). If one "
        "states an older version of the same fact, supersede it.",
    )
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
    valid_from: str = Field(
        default="", description="Since when the memory is true (its created_at unless given)."
    )
    valid_to: str | None = Field(
        default=None, exclude_if=_unset, description="Until when it was true: set once it was superseded."
    )
    superseded_by: str | None = Field(
        default=None, exclude_if=_unset, description="The memory that replaced it."
    )


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
    note: str | None = Field(
        default=None,
        exclude_if=_unset,
        description="Set when the namespace holds no memories: the closest namespaces that do.",
    )


class MemoryPage(BaseModel):
    namespace: list[str]
    memories: list[Memory]
    next_cursor: str | None = None
    note: str | None = Field(default=None, exclude_if=_unset)


class MemoryVersion(BaseModel):
    content: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    importance: float
    valid_from: str
    valid_to: str | None = None
    changed_at: str
    change: Literal["created", "updated", "superseded"]


class MemoryHistory(BaseModel):
    id: str
    namespace: list[str]
    versions: list[MemoryVersion] = Field(description="Oldest first; the last is the memory as it is now.")
    superseded_by: str | None = Field(default=None, exclude_if=_unset)
    supersedes: list[str] = Field(default_factory=list, description="Memories this one replaced.")


class NamespaceStats(BaseModel):
    namespace: list[str]
    count: int


class NamespaceCount(BaseModel):
    namespace: list[str]
    count: int = Field(description="Memories stored, superseded ones included.")
    current: int = Field(description="Memories true now (not superseded).")


class NamespacePage(BaseModel):
    namespaces: list[NamespaceCount]
    next_cursor: str | None = None


class DedupeCluster(BaseModel):
    namespace: list[str]
    keep: SimilarMemory = Field(description="The newest memory of the cluster: kept.")
    duplicates: list[SimilarMemory] = Field(
        description="Superseded by `keep` when applied; best match first."
    )


class DedupeReport(BaseModel):
    threshold: float
    applied: bool
    clusters: list[DedupeCluster] = Field(default_factory=list)
    superseded: int = 0


class Stats(BaseModel):
    total: int
    namespaces: list[NamespaceStats]
    embedding_model: str
    index_ready: bool
    data_dir: str
    schema_version: int
