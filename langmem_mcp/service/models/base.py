"""The base of every result model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


def _without_description(schema: dict[str, Any], cls: type[BaseModel]) -> None:
    schema.pop("description", None)


class Result(BaseModel):
    """A service result. Its docstring is for the engineer reading the code: the JSON schema
    (every MCP tool's output schema, sent in each host's tool list) leaves it out, so the
    hosts' context is not spent on it; field descriptions stay."""

    model_config = ConfigDict(json_schema_extra=_without_description)
