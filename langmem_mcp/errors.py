"""Domain errors. Surfaces map them: MCP → tool error, REST → 4xx with the message."""


class LangmemError(Exception):
    """Base of the errors a caller can act on; the message is shown to the caller as is."""

    status_code = 400


class InvalidInput(LangmemError):
    status_code = 422


class NotFound(LangmemError):
    status_code = 404


class Forbidden(LangmemError):
    status_code = 403


class Conflict(LangmemError):
    status_code = 409


class Unavailable(LangmemError):
    """A feature that needs something not configured here (an LLM, a model)."""

    status_code = 503
