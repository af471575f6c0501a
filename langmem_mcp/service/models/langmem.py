"""What the LangMem service model returns (REST bodies and MCP tool outputs alike).

Annotations are not postponed: pydantic would evaluate each field's annotation text while the
server starts (about 15% of the time these classes take to make).
"""

from typing import Any, Literal

from pydantic import ConfigDict, Field

from langmem_mcp.service.models.base import Result

#: Models no tool signature uses (REST bodies, resource pages) build on first use, not while the
#: server starts; the SDK builds the tools' models when it registers them either way.
LAZY = ConfigDict(defer_build=True)

FunctionType = Literal["user_state", "user_append_state", "user_semantic_memory", "thread_summary"]
FUNCTION_TYPES: tuple[str, ...] = (
    "user_state",
    "user_append_state",
    "user_semantic_memory",
    "thread_summary",
)
USER_TYPES: tuple[str, ...] = ("user_state", "user_append_state", "user_semantic_memory")
THREAD_TYPES: tuple[str, ...] = ("thread_summary",)
NEEDS_LLM: tuple[str, ...] = ("user_state", "user_append_state", "thread_summary")


class User(Result):
    """A LangMem user: whose memories formation forms and `query_user_memory` ranks."""

    id: str
    name: str | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: str
    updated_at: str


class UserList(Result):
    """One page of users."""

    model_config = LAZY

    users: list[User]
    next_cursor: str | None = None


class Thread(Result):
    """A LangMem thread: a conversation whose messages background formation reads."""

    model_config = LAZY

    id: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: str
    updated_at: str
    message_count: int = 0
    last_message_at: str | None = None
    pending_formation: bool = Field(
        False, description="Messages wait for background formation (the thread is not quiet yet)."
    )


class ThreadList(Result):
    """One page of threads, newest first."""

    model_config = LAZY

    threads: list[Thread]
    next_cursor: str | None = None


class AddMessagesResult(Result):
    """What `add_messages` stored, and what it found already there or redacted."""

    thread_id: str
    added: int
    duplicates: int = Field(description="Messages already in the thread (same timestamp and content, or id).")
    message_ids: list[str]
    redacted: list[str] = Field(
        default_factory=list,
        exclude_if=lambda kinds: not kinds,
        description="Present when secrets or <private> spans were taken out of the messages before "
        "storing: their kinds.",
    )


class MessagePage(Result):
    """One page of a thread's messages, in the format the caller asked for."""

    model_config = LAZY

    messages: list[dict[str, Any]]
    next_cursor: str | None = None


class FunctionSchema(Result):
    """The JSON schema a memory function forms its memory to."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)


class MemoryFunction(Result):
    """A LangMem memory function: what to form from threads, for users or threads."""

    id: str
    name: str
    description: str = ""
    type: FunctionType
    custom_instructions: str | None = None
    schema_: FunctionSchema = Field(alias="schema")
    status: Literal["active", "disabled"] = "active"
    default: bool = Field(False, description="The automatic user_semantic_memory function.")
    created_at: str
    updated_at: str

    model_config = {"populate_by_name": True, "serialize_by_alias": True}


class FunctionList(Result):
    """One page of memory functions."""

    model_config = LAZY

    memory_functions: list[MemoryFunction]
    next_cursor: str | None = None


class Deleted(Result):
    """What a delete removed (a function's memories go with it)."""

    model_config = LAZY

    id: str
    deleted: bool = True
    memories_deleted: int = 0


class MemoryState(Result):
    """What one memory function holds for one user (or thread)."""

    memory_function_id: str
    type: FunctionType
    name: str
    user_id: str | None = None
    thread_id: str | None = None
    state: Any = Field(
        description="user_state: the profile object; user_append_state: the entries (newest last); "
        "user_semantic_memory: the memories (newest last); thread_summary: the summary object."
    )
    count: int | None = Field(
        None, description="How many entries or memories exist (the state lists at most 100)."
    )
    status: Literal["ok", "empty", "needs_llm", "disabled"] = "ok"
    detail: str | None = None
    updated_at: str | None = None


class ThreadState(Result):
    """A JSON state an app keeps for a thread (under an optional key)."""

    thread_id: str
    key: str | None = None
    state: Any = None
    updated_at: str | None = None


class Scores(Result):
    """The three parts of a `query_user_memory` score, each 0 to 1."""

    relevance: float
    recency: float
    importance: float


class QueriedMemory(Result):
    """A user's memory as `query_user_memory` ranks it, with why (its scores)."""

    text: str
    id: str
    memory_function_id: str | None = None
    created_at: str
    scores: Scores
    score: float
    metadata: dict[str, Any] = Field(default_factory=dict)
    valid_from: str = ""
    valid_to: str | None = Field(default=None, exclude_if=lambda v: v is None)
    superseded_by: str | None = Field(default=None, exclude_if=lambda v: v is None)


class ThreadSummary(Result):
    """The latest summary a thread_summary function formed for one of the user's threads."""

    memory_function_id: str
    thread_id: str
    summary: Any
    updated_at: str | None = None


class QueryResult(Result):
    """What `query_user_memory` answers: memories, states and thread summaries asked for."""

    memories: list[QueriedMemory]
    state: list[MemoryState] = Field(default_factory=list)
    thread_summaries: list[ThreadSummary] = Field(default_factory=list)


class FunctionRun(Result):
    """What one memory function did on one thread (and user) in a formation run."""

    memory_function_id: str
    type: FunctionType
    thread_id: str
    user_id: str | None = None
    status: Literal["formed", "up_to_date", "needs_llm", "error"]
    formed: int = Field(0, description="Memories, entries or states written.")
    detail: str | None = None


class FormationReport(Result):
    """What a formation trigger formed, run by run."""

    thread_ids: list[str]
    memories_formed: int
    runs: list[FunctionRun]


class FormationStatus(Result):
    """Whether background formation can run, what waits for it, and its latest runs."""

    model_config = LAZY

    llm: str | None = Field(None, description="The model backend formation uses; None: it has none.")
    llm_missing: str | None = Field(None, description="Why formation has no model, and what to do.")
    delay_seconds: float = Field(description="How long a thread must be quiet before it is formed.")
    pending: list[dict[str, Any]] = Field(description="Threads with messages not formed yet, oldest first.")
    waiting_for_llm: list[str] = Field(
        description="Active memory functions that form nothing without an LLM."
    )
    recent: list[dict[str, Any]] = Field(description="The latest runs in this server process, newest first.")
