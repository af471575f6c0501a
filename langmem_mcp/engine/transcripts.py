"""Past sessions as conversation turns, for memory capture.

Reads three formats:

- ``claude-code``: Claude Code session JSONL (``~/.claude/projects/<project>/<session>.jsonl``),
  one JSON object per line. ``user``/``assistant`` lines carry an API ``message``; other line
  types (``attachment``, ``system``, ``summary``, ``queue-operation``, ``last-prompt``,
  ``api-request*``, ``cost-state``, …) are bookkeeping and are skipped.
- ``codex``: Codex CLI rollout JSONL (``~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl``): lines
  ``{"timestamp", "type", "payload"}`` with ``session_meta`` first, then ``response_item``
  (messages, function calls, reasoning), ``event_msg``, ``turn_context``, ``compacted``. Early
  rollouts wrote bare items after a ``{"id", "timestamp", ...}`` header; those are read too.
- ``openai``: one JSON document holding a list of OpenAI-style chat messages
  (``[{"role": "user", "content": "..."}, ...]``, or ``{"messages": [...]}``).

Kept: the user's prompts and the assistant's text answers. Left out: tool calls and results,
thinking/reasoning, system/developer messages, context the client injects (system reminders,
slash-command wrappers and output, Codex's environment context and AGENTS.md), meta and
compaction-summary lines, sidechain (subagent) messages, synthetic and API-error messages.

Parsing is incremental: a ``Watermark`` says how far a file was read (bytes and lines, plus the
session id and cwd known so far, which Codex states only once at the top). A parse starts
after it and returns the new one. A last line without its newline is a session still being
written: it is left for the next parse, not reported. Bad lines are reported as ``Problem``
and skipped.

Everything here is pure except ``iter_lines`` and ``parse_file``, which read a file.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

Role = Literal["user", "assistant"]
Format = Literal["claude-code", "codex", "openai"]
FORMATS: tuple[Format, ...] = ("claude-code", "codex", "openai")

# uuid5 namespace for turns whose line has no id of its own.
TURN_NAMESPACE = uuid.UUID("6f4d2b0e-6c1a-5e57-9a51-7c0d3b1e2a94")


@dataclass(frozen=True, slots=True)
class Turn:
    """One user or assistant turn read from a host's transcript file: what capture stores."""

    id: str
    session_id: str
    role: Role
    text: str
    timestamp: str | None
    line: int  # 1-based line of the file (for the openai format: 1-based index of the message)
    cwd: str | None


@dataclass(frozen=True, slots=True)
class Problem:
    """A line of a transcript that could not be read, and why: reported, never fatal."""

    path: str
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class Watermark:
    """How far a transcript has been read. ``offset`` bytes / ``line`` lines were consumed; the
    rest is state a later parse needs (the format and what the file said once at the top)."""

    offset: int = 0
    line: int = 0
    format: Format | None = None
    session_id: str | None = None
    cwd: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Watermark:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass(slots=True)
class ParseResult:
    """The turns read from a transcript since a watermark, with the problems met and where to resume."""

    turns: list[Turn] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    watermark: Watermark = field(default_factory=Watermark)
    pending: bool = False  # an unfinished last line was left for the next parse

    @property
    def format(self) -> Format | None:
        return self.watermark.format

    @property
    def session_id(self) -> str | None:
        return self.watermark.session_id


def turn_id(session_id: str, line: int, role: str, text: str) -> str:
    """A stable id for a turn whose source has none: the same line always gets the same id."""
    key = json.dumps([session_id, line, role, text], ensure_ascii=False, separators=(",", ":"))
    return str(uuid.uuid5(TURN_NAMESPACE, key))


# -- text clean-up -------------------------------------------------------------------------------

# Spans Claude Code puts into user messages that the user did not type.
_CLAUDE_TAGS = (
    "system-reminder",
    "local-command-stdout",
    "local-command-stderr",
    "local-command-caveat",
    "command-name",
    "command-message",
    "command-args",
    "command-contents",
    "bash-input",
    "bash-stdout",
    "bash-stderr",
    "user-prompt-submit-hook",
    "task-notification",
)
_CLAUDE_SPANS = re.compile(
    r"<(" + "|".join(map(re.escape, _CLAUDE_TAGS)) + r")(?:\s[^>]*)?>.*?(?:</\1>|\Z)", re.DOTALL
)
_INTERRUPTED = re.compile(r"^\[Request interrupted by user[^\]]*\]$")

# Codex user-role messages that carry context, not the user's words (matched at the start).
_CODEX_CONTEXT_PREFIXES = (
    "<environment_context>",
    "<user_instructions>",
    "# agents.md instructions",
    "<turn_aborted>",
    "<context_update>",
    "<skills_instructions>",
    "<skill>",
    "<user_shell_command>",
    "<subagent_notification>",
    "<hook_prompt",
    "<permissions instructions>",
    "<collaboration_mode>",
    "<personality_spec>",
    "<model_switch>",
)


def clean_user_text(text: str) -> str:
    """A user message without the spans the client injected; '' when nothing of the user's is left."""
    text = _CLAUDE_SPANS.sub("", text).strip()
    if _INTERRUPTED.match(text):
        return ""
    return text


def _is_codex_context(text: str) -> bool:
    head = text.lstrip()[:64].lower()
    return head.startswith(_CODEX_CONTEXT_PREFIXES)


# -- content extraction --------------------------------------------------------------------------


class _Malformed(ValueError):
    pass


def _texts(content: Any, kinds: tuple[str, ...]) -> list[str] | None:
    """Text parts of a message content (a string or a list of blocks); None when the content has
    parts but none of them is text (tool calls, tool results, thinking, images…)."""
    if content is None:
        return None
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        raise _Malformed(f"message content is a {type(content).__name__}, not a string or a list")
    out = []
    for block in content:
        if isinstance(block, str):
            out.append(block)
        elif isinstance(block, dict):
            if block.get("type") in kinds and isinstance(block.get("text"), str):
                out.append(block["text"])
        else:
            raise _Malformed(f"content block is a {type(block).__name__}")
    return out or None


def _join(parts: Iterable[str]) -> str:
    return "\n\n".join(p for p in (p.strip() for p in parts) if p)


# -- per-format line readers ---------------------------------------------------------------------

_CLAUDE_BOOKKEEPING = frozenset(
    {
        "summary",
        "system",
        "attachment",
        "queue-operation",
        "last-prompt",
        "file-history-snapshot",
        "api-request",
        "api-request-shape",
        "api-request-blob",
        "cost-state",
        "atis-latch",
        "mode",
        "custom-title",
        "tag",
    }
)


@dataclass(slots=True)
class _State:
    path: str
    session_id: str | None
    cwd: str | None
    fallback_session: str
    fixed_session: bool = False  # the caller named the session: keep it

    def saw_session(self, value: Any) -> None:
        if isinstance(value, str) and value and not self.fixed_session:
            self.session_id = value


def _claude_line(obj: dict[str, Any], line: int, state: _State) -> Turn | None:
    kind = obj.get("type")
    state.saw_session(obj.get("sessionId"))
    if isinstance(obj.get("cwd"), str):
        state.cwd = obj["cwd"]
    if kind not in ("user", "assistant"):
        return None  # bookkeeping (see _CLAUDE_BOOKKEEPING) or a type from a newer version
    if obj.get("isSidechain") or obj.get("isMeta") or obj.get("isCompactSummary"):
        return None
    if obj.get("isVisibleInTranscriptOnly") or obj.get("isApiErrorMessage"):
        return None
    message = obj.get("message")
    if not isinstance(message, dict):
        raise _Malformed(f"a {kind} line without a message object")
    role = message.get("role", kind)
    if role != kind:
        raise _Malformed(f"a {kind} line holding a {role!r} message")
    if kind == "assistant" and message.get("model") == "<synthetic>":
        return None
    content = message.get("content")
    if isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    ):
        return None  # a tool's result (and whatever the client sent along with it)
    parts = _texts(content, ("text",))
    if parts is None:
        return None
    text = _join(parts) if kind == "assistant" else _join(clean_user_text(p) for p in parts)
    if not text:
        return None
    session = state.session_id or state.fallback_session
    uid = obj.get("uuid")
    return Turn(
        id=uid if isinstance(uid, str) and uid else turn_id(session, line, kind, text),
        session_id=session,
        role=kind,
        text=text,
        timestamp=obj.get("timestamp") if isinstance(obj.get("timestamp"), str) else None,
        line=line,
        cwd=state.cwd,
    )


def _codex_message(item: dict[str, Any], line: int, timestamp: Any, state: _State) -> Turn | None:
    role = item.get("role")
    if role not in ("user", "assistant"):
        return None  # developer / system instructions
    kinds = ("input_text", "text") if role == "user" else ("output_text", "text")
    parts = _texts(item.get("content"), kinds)
    if parts is None:
        return None
    if role == "user":
        parts = [clean_user_text(p) for p in parts if not _is_codex_context(p)]
    text = _join(parts)
    if not text:
        return None
    session = state.session_id or state.fallback_session
    return Turn(
        id=turn_id(session, line, role, text),
        session_id=session,
        role=role,
        text=text,
        timestamp=timestamp if isinstance(timestamp, str) else None,
        line=line,
        cwd=state.cwd,
    )


def _codex_line(obj: dict[str, Any], line: int, state: _State) -> Turn | None:
    kind = obj.get("type")
    if "payload" in obj:  # the {"timestamp", "type", "payload"} envelope
        payload = obj["payload"]
        if not isinstance(payload, dict):
            raise _Malformed(f"a {kind} line whose payload is not an object")
        if kind == "session_meta":
            nested = payload.get("meta")  # SessionMetaLine flattens SessionMeta; be lenient
            meta = nested if isinstance(nested, dict) else payload
            state.saw_session(meta.get("id"))
            if isinstance(meta.get("cwd"), str):
                state.cwd = meta["cwd"]
            return None
        if kind == "turn_context":
            if isinstance(payload.get("cwd"), str):
                state.cwd = payload["cwd"]
            return None
        if kind == "response_item" and payload.get("type") == "message":
            return _codex_message(payload, line, obj.get("timestamp"), state)
        return None  # event_msg repeats the messages; reasoning, tool calls, compacted…
    if kind == "message":  # early rollouts: bare response items
        return _codex_message(obj, line, obj.get("timestamp"), state)
    if kind is None and "record_type" not in obj and isinstance(obj.get("id"), str):
        state.saw_session(obj["id"])  # early rollouts' header line
    return None


_UUID_TAIL = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$", re.I)


def _fallback_session(path: str) -> str:
    stem = Path(path).stem
    found = _UUID_TAIL.search(stem)
    return found.group(1) if found else stem


def detect(obj: dict[str, Any]) -> Format | None:
    """The JSONL format a transcript line belongs to, when it says."""
    kind = obj.get("type")
    if "payload" in obj and kind in (
        "session_meta",
        "response_item",
        "event_msg",
        "turn_context",
        "compacted",
    ):
        return "codex"
    if "sessionId" in obj or "uuid" in obj or kind in ("user", "assistant") or kind in _CLAUDE_BOOKKEEPING:
        return "claude-code"
    if (kind == "message" and "role" in obj) or "record_type" in obj:
        return "codex"
    if kind is None and "id" in obj and ("instructions" in obj or "git" in obj):
        return "codex"
    return None


# -- parsing -------------------------------------------------------------------------------------


def parse_lines(
    lines: Iterable[bytes],
    *,
    path: str = "<memory>",
    start: Watermark | None = None,
    format: Format | None = None,
    session_id: str | None = None,
    final: bool = False,
) -> ParseResult:
    """Parse JSONL ``lines`` (each with its ending, as ``bytes.splitlines(keepends=True)`` or a
    binary file give them) that follow ``start``.

    The format comes from ``format``, else the watermark, else the first line that tells.
    ``session_id`` overrides the one the transcript states. A last line without its newline is
    left for the next parse (its writer may not be done) unless ``final`` says the file is
    complete; then it is parsed, or reported when it is not valid JSON.
    """
    start = start or Watermark()
    fmt = format or start.format
    state = _State(
        str(path),
        session_id or start.session_id,
        start.cwd,
        _fallback_session(str(path)),
        session_id is not None,
    )
    result = ParseResult()
    offset, number = start.offset, start.line
    for raw in lines:
        if not raw.endswith(b"\n") and not final:
            result.pending = bool(raw.strip())
            break
        number += 1
        offset += len(raw)
        body = raw.strip()
        if not body:
            continue
        try:
            obj = json.loads(body)
        except ValueError as exc:
            result.problems.append(Problem(state.path, number, f"invalid JSON: {exc}"))
            continue
        if not isinstance(obj, dict):
            result.problems.append(Problem(state.path, number, f"a JSON {type(obj).__name__}, not an object"))
            continue
        if fmt is None:
            fmt = detect(obj)
            if fmt is None:
                continue
        try:
            turn = (
                _claude_line(obj, number, state) if fmt == "claude-code" else _codex_line(obj, number, state)
            )
        except _Malformed as exc:
            result.problems.append(Problem(state.path, number, str(exc)))
            continue
        if turn is not None:
            result.turns.append(turn)
    result.watermark = Watermark(offset, number, fmt, state.session_id, state.cwd)
    return result


def parse_messages(
    messages: Any,
    *,
    session_id: str,
    path: str = "<memory>",
    start: Watermark | None = None,
    offset: int = 0,
) -> ParseResult:
    """Parse a list of OpenAI-style chat messages; ``start.line`` messages were read before.

    ``offset`` is the document's size, recorded in the watermark."""
    start = start or Watermark()
    result = ParseResult()
    if isinstance(messages, dict) and isinstance(messages.get("messages"), list):
        messages = messages["messages"]
    if not isinstance(messages, list):
        result.problems.append(Problem(path, 0, "an openai transcript is a JSON list of messages"))
        result.watermark = replace(start, format="openai", session_id=session_id)
        return result
    for index in range(start.line, len(messages)):
        number, message = index + 1, messages[index]
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            result.problems.append(Problem(path, number, "a message must be an object with a role"))
            continue
        role = message["role"]
        if role not in ("user", "assistant"):
            continue  # system, developer, tool, function
        try:
            parts = _texts(message.get("content"), ("text", "input_text", "output_text"))
        except _Malformed as exc:
            result.problems.append(Problem(path, number, str(exc)))
            continue
        if parts is None:
            continue  # an assistant message with only tool_calls
        text = _join(clean_user_text(p) for p in parts) if role == "user" else _join(parts)
        if not text:
            continue
        stamp = message.get("timestamp", message.get("created_at"))
        result.turns.append(
            Turn(
                id=message["id"]
                if isinstance(message.get("id"), str)
                else turn_id(session_id, number, role, text),
                session_id=session_id,
                role=role,
                text=text,
                timestamp=stamp if isinstance(stamp, str) else None,
                line=number,
                cwd=None,
            )
        )
    result.watermark = Watermark(offset, max(start.line, len(messages)), "openai", session_id, None)
    return result


def parse(
    data: bytes,
    *,
    path: str = "<memory>",
    start: Watermark | None = None,
    format: Format | None = None,
    session_id: str | None = None,
    final: bool = False,
) -> ParseResult:
    """Parse a transcript's bytes. For JSONL ``data`` is what follows ``start.offset``; for the
    openai format it is the whole document (``start.line`` messages are skipped)."""
    start = start or Watermark()
    fmt = format or start.format or sniff(data)
    if fmt == "openai":
        sid = session_id or start.session_id or _fallback_session(str(path))
        try:
            doc = json.loads(data)
        except ValueError as exc:
            result = ParseResult(watermark=replace(start, format="openai", session_id=sid))
            result.problems.append(Problem(str(path), getattr(exc, "lineno", 0), f"invalid JSON: {exc}"))
            return result
        return parse_messages(doc, session_id=sid, path=str(path), start=start, offset=len(data))
    lines = data.splitlines(keepends=True)
    return parse_lines(lines, path=path, start=start, format=fmt, session_id=session_id, final=final)


def sniff(data: bytes) -> Format | None:
    """``openai`` for a JSON document starting with ``[`` (or a multi-line object); JSONL
    formats are told apart line by line, so None for them."""
    head = data.lstrip()[:1]
    if head == b"[":
        return "openai"
    if head == b"{" and _OPENAI_OBJECT.match(data.lstrip().split(b"\n", 1)[0]):
        return "openai"  # a pretty-printed {"messages": [...]}
    return None


_OPENAI_OBJECT = re.compile(rb'^\{\s*("messages"\s*:\s*\[?\s*)?$')


# -- files ---------------------------------------------------------------------------------------


def iter_lines(path: str | Path, offset: int = 0) -> Iterator[bytes]:
    """The lines of a file from byte ``offset`` on, each with its newline (the last may lack it)."""
    with open(path, "rb") as f:
        f.seek(offset)
        yield from f


def parse_file(
    path: str | Path,
    start: Watermark | None = None,
    *,
    format: Format | None = None,
    session_id: str | None = None,
    final: bool = False,
) -> ParseResult:
    """Parse the part of a transcript file after ``start`` (the whole file by default).

    A JSONL file that shrank below the watermark (rewritten or replaced) is read from the top; an
    openai document is always read whole and its first ``start.line`` messages skipped.
    ``final``: the file is complete, so an unterminated last line is parsed too.
    """
    start = start or Watermark()
    path = Path(path)
    fmt = format or start.format
    if fmt != "openai" and path.stat().st_size < start.offset:
        start = Watermark(format=start.format)
    if fmt is None:
        with open(path, "rb") as f:
            fmt = sniff(f.read(4096))
    if fmt == "openai":
        return parse(path.read_bytes(), path=str(path), start=start, format="openai", session_id=session_id)
    lines = iter_lines(path, start.offset)
    return parse_lines(lines, path=str(path), start=start, format=fmt, session_id=session_id, final=final)
