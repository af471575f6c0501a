"""Domain errors: what a caller did wrong or what is missing, in words the caller can act on.

Each surface maps them in one place (`server/errors.py`): an MCP tool error, a resource error,
an HTTP status. The message is shown to the caller as it is.
"""


class LangmemError(Exception):
    """Base of the errors a caller can act on."""


class InvalidInput(LangmemError):
    """The request was wrong: a bad value, a missing field, a limit passed."""


class NotFound(LangmemError):
    """No such thing in the caller's scope (and nothing reveals whether it exists elsewhere)."""


class Forbidden(LangmemError):
    """Outside what the caller's token may touch."""


class Conflict(LangmemError):
    """It exists already, or the change would break a rule (e.g. deleting the default function)."""


class Unavailable(LangmemError):
    """A feature that needs something not configured here (an LLM, a model)."""
