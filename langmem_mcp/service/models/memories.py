"""What the memory service returns; these models are also the MCP tools' output schemas.

Optional fields are left out of a result when they are not set (`exclude_if`), so a plain
create answers `{"action": "created", "id": ...}` and a current memory shows no `valid_to`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from langmem_mcp.service.models.base import Result


def _unset(value: Any) -> bool:
    return value is None


class SimilarMemory(Result):
    """An existing memory close to one being written: the hint to supersede instead of duplicating."""

    id: str
    content: str
    similarity: float = Field(description="Cosine similarity of the new text to this memory's index vector.")


class WriteResult(Result):
    """What a create, update, supersede or delete did, so the agent knows the id it can refer to."""

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


class Memory(Result):
    """A stored memory with its validity: the unit every surface shows."""

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
    """A memory found by a search, with its fused score."""

    score: float


class Why(Result):
    """Why a hit ranked where it did (`MemoryService.search(..., explain=True)`; tools leave it off)."""

    keyword_rank: int | None = Field(None, description="1-based rank by BM25; None: no keyword match.")
    meaning_rank: int | None = Field(None, description="1-based rank by vector similarity.")
    fused: float = Field(description="Reciprocal-rank fusion of the two ranks.")
    #: Set when recency or importance is weighted: each part of the blended score.
    relevance: float | None = None
    recency: float | None = None
    importance: float | None = None


class ExplainedHit(MemoryHit):
    """A hit with the ranks that placed it (benchmarks and the memory browser)."""

    why: Why


class SearchResult(Result):
    """What `search_memory` answers: the hits, or a note on where memories are when none matched."""

    memories: list[MemoryHit]
    note: str | None = Field(
        default=None,
        exclude_if=_unset,
        description="Set when the namespace holds no memories: the closest namespaces that do.",
    )


class MemoryPage(Result):
    """One page of a namespace's memories, newest first, with the cursor to the next."""

    namespace: list[str]
    memories: list[Memory]
    next_cursor: str | None = None
    note: str | None = Field(default=None, exclude_if=_unset)


class MemoryVersion(Result):
    """One version of a memory: corrections and supersedes keep every earlier one."""

    content: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    importance: float
    valid_from: str
    valid_to: str | None = None
    changed_at: str
    change: Literal["created", "updated", "superseded"]


class MemoryHistory(Result):
    """Every version of a memory and the supersede chain around it."""

    id: str
    namespace: list[str]
    versions: list[MemoryVersion] = Field(description="Oldest first; the last is the memory as it is now.")
    superseded_by: str | None = Field(default=None, exclude_if=_unset)
    supersedes: list[str] = Field(default_factory=list, description="Memories this one replaced.")


class NamespaceStats(Result):
    """How many memories one namespace holds (for `stats`)."""

    namespace: list[str]
    count: int


class NamespaceCount(Result):
    """A namespace with how many memories it holds and how many are true now."""

    namespace: list[str]
    count: int = Field(description="Memories stored, superseded ones included.")
    current: int = Field(description="Memories true now (not superseded).")


class NamespacePage(Result):
    """One page of the namespaces a caller can see."""

    namespaces: list[NamespaceCount]
    next_cursor: str | None = None


class DedupeCluster(Result):
    """Near-duplicate memories found by `dedupe`: one kept, the others to supersede."""

    namespace: list[str]
    keep: SimilarMemory = Field(description="The newest memory of the cluster: kept.")
    duplicates: list[SimilarMemory] = Field(
        description="Superseded by `keep` when applied; best match first."
    )


class DedupeReport(Result):
    """What `dedupe` found, and whether it applied it."""

    threshold: float
    applied: bool
    clusters: list[DedupeCluster] = Field(default_factory=list)
    superseded: int = 0


class Stats(Result):
    """The store at a glance: counts, the embedding model, whether the index is ready, where the data is."""

    total: int
    namespaces: list[NamespaceStats]
    embedding_model: str
    index_ready: bool
    data_dir: str
    schema_version: int
