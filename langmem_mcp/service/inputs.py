"""The service model's inputs as pydantic models, checked once at the edge.

MCP tools, REST routes and the capture path hand the services raw JSON; `parse` turns it into
these models (or an `InvalidInput` that names the field, what was wrong and what to send), so
the services work on typed values. Messages come in two formats: OpenAI's (`role`, `content`,
optional `name`, `metadata` with `user_id` and `timestamp`) and LangMem's (`id`, `content`,
`timestamp`, `user: {user_id, user_name, role}`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, ValidationError, model_validator
from pydantic_core import ErrorDetails

from langmem_mcp.errors import InvalidInput

MAX_MESSAGES_PER_CALL = 1000
MAX_ROLE = 64
MAX_NAME = 512
MAX_K = 1000
MAX_FUNCTION_IDS = 100

Id = str
Timestamp = Annotated[
    str | StrictInt | StrictFloat | datetime | None,
    Field(description="an ISO 8601 time or seconds since the epoch"),
]
Content = Annotated[str | list[Any], Field(description="a string or a list of content blocks")]


class MessageUser(BaseModel):
    """Who wrote a LangMem-format message."""

    model_config = ConfigDict(extra="allow")

    user_id: Id | None = None
    user_name: str | StrictInt | None = None
    role: str | None = None


class LangMemMessage(BaseModel):
    """A message in LangMem's format: the author is an object."""

    model_config = ConfigDict(extra="allow")

    user: MessageUser
    content: Content
    id: Id | None = None
    timestamp: Timestamp = None
    role: str | None = None
    name: str | None = Field(default=None, max_length=MAX_NAME)
    metadata: dict[str, Any] | None = None


class OpenAIMessage(BaseModel):
    """A message in OpenAI's format: a role, and who wrote it in `metadata.user_id`."""

    model_config = ConfigDict(extra="allow")

    role: str = Field(description="user, assistant, system, ...")
    content: Content
    name: str | None = Field(default=None, max_length=MAX_NAME)
    id: Id | None = None
    timestamp: Timestamp = None
    metadata: dict[str, Any] | None = None


Message = LangMemMessage | OpenAIMessage


class Weights(BaseModel):
    """How `query_user_memory` blends its three scores (a key left out, or null, stays 1)."""

    relevance: float = Field(default=1.0, ge=0, le=1000)
    recency: float = Field(default=1.0, ge=0, le=1000)
    importance: float = Field(default=1.0, ge=0, le=1000)

    @model_validator(mode="before")
    @classmethod
    def _known(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(
                'weights must be an object such as {"relevance": 1, "recency": 0.5, "importance": 0}'
            )
        unknown = set(data) - set(cls.model_fields)
        if unknown:
            raise ValueError(f"unknown weights {sorted(unknown)}; use relevance, recency and importance")
        for name, w in data.items():
            if isinstance(w, bool) or not isinstance(w, int | float | None):
                raise ValueError(f"weight {name} must be a number between 0 and 1000")
        return {k: v for k, v in data.items() if v is not None}

    @model_validator(mode="after")
    def _some(self) -> Weights:
        if not (self.relevance or self.recency or self.importance):
            raise ValueError("at least one weight must be above 0")
        return self


class UserMemoryQuery(BaseModel):
    """What `query_user_memory` takes, whether over MCP or REST."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="what to look for")
    k: StrictInt = Field(default=10, ge=1, le=MAX_K)
    memory_function_ids: list[Id] | None = Field(default=None, max_length=MAX_FUNCTION_IDS)
    weights: Weights | None = None
    states_to_return: list[Id] | None = Field(default=None, max_length=MAX_FUNCTION_IDS)
    thread_summaries: list[Id] | None = Field(default=None, max_length=MAX_FUNCTION_IDS)
    thread_summaries_k: StrictInt | None = Field(default=None, ge=1, le=100)
    include_superseded: bool = False


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any, where: str = "") -> M:
    """`data` as `model`, or an `InvalidInput` naming the first thing wrong with it."""
    if isinstance(data, model):
        return data
    if not isinstance(data, dict):
        raise InvalidInput(f"{where or model.__name__} must be an object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(explain(exc.errors()[0], model, where)) from None


def messages(raw: Any) -> list[Message]:
    """A list of messages in either format; the format is told by a `user` object."""
    if raw is None:
        return []
    if isinstance(raw, dict | str) or not isinstance(raw, Sequence):
        raise InvalidInput("messages must be a list of message objects")
    if len(raw) > MAX_MESSAGES_PER_CALL:
        raise InvalidInput(
            f"at most {MAX_MESSAGES_PER_CALL} messages per call; send the rest in another call"
        )
    out: list[Message] = []
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(m, dict | LangMemMessage | OpenAIMessage):
            raise InvalidInput(f"{where} must be an object with role and content")
        langmem = isinstance(m, LangMemMessage) or (
            isinstance(m, dict) and (isinstance(m.get("user"), dict) or ("role" not in m and "user" in m))
        )
        if langmem and isinstance(m, dict) and not isinstance(m.get("user"), dict):
            raise InvalidInput(f"{where}.user must be an object with user_id, user_name and role")
        out.append(parse(LangMemMessage, m, where) if langmem else parse(OpenAIMessage, m, where))
    return out


_UNION_TAGS = {"str", "int", "float", "bool", "datetime", "list[any]", "dict[str,any]"}
_WHAT = {
    "missing": "is required",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "extra_forbidden": "is not a field this takes",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "too_long": "may have at most {max_length} items",
    "string_too_long": "must be at most {max_length} characters",
}


def explain(error: ErrorDetails, model: type[BaseModel], where: str) -> str:
    """One pydantic error as a sentence: the field's path, what it must be, and what it is for."""
    loc = [p for p in error["loc"] if p not in _UNION_TAGS]
    path = where
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    ctx = error.get("ctx") or {}
    if error["type"] == "value_error":  # a validator's own sentence
        return str(ctx.get("error", error["msg"]))
    template = _WHAT.get(error["type"])
    what = template.format(**ctx) if template else error["msg"][:1].lower() + error["msg"][1:]
    if error["type"] == "extra_forbidden":
        what += f"; it takes {', '.join(model.model_fields)}"
    field = model.model_fields.get(str(loc[0])) if len(loc) == 1 else None
    if field is None or not field.description:
        return f"{path} {what}"
    if len(loc) < len(error["loc"]):  # one of several types failed: say what all of them are
        return f"{path} must be {field.description}"
    return f"{path} {what}: {field.description}"
