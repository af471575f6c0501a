"""Structured answers from a model: force a tool call, validate its input, feed back what is wrong.

:func:`structured_call` is the loop every single-answer procedure needs (a summary, a profile
patch, a rewritten prompt): ask for one tool, validate its input, and on a refusal answer the
call with the reason and ask again, up to ``max_attempts`` times. It returns the validated
value or raises :class:`StructuredOutputError` (an :class:`LLMError`) saying what was wrong.

:class:`Exchange` is the part multi-step procedures share with it (the memory manager, the
optimiser's reflection): the history of the exchange, one model turn at a time, and each
turn answered in the form the model's reply calls for.

Models do not always call the tool asked for: a host's generic sampling handler often answers
in prose, and local models behind Anthropic-compatible endpoints call tools unreliably. A
reply without a tool call is therefore read as text. JSON in it (a fenced block, or the first
JSON object or list in the text) is taken as tool calls: ``{"tool_calls": [...]}``,
``{"name", "input"}``, or a tool's input on its own. Otherwise the procedure's text reader
says how its prose is read (a summary is the prose itself, memories are its bulleted lines,
...). What was read is validated like a tool call's input; a reply holding JSON that does not
parse is a failure like any other, fed back to the model. A refusal of text is fed back as
a user turn, since there is no tool call to answer.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from langmem_mcp.llm.base import (
    LLM,
    LLMError,
    LLMResponse,
    Message,
    ToolCall,
    ToolChoice,
    ToolSpec,
    assistant_message,
    tool_results_message,
)

T = TypeVar("T")
ToolInput = dict[str, Any]
#: Reads a text reply as the input of the tool asked for; None when the text says nothing usable.
TextReader = Callable[[str], ToolInput | None]
#: Reads a text reply as tool calls, ``[(tool name, input), ...]``; empty when it holds none.
CallsReader = Callable[[str], list[tuple[str, ToolInput]]]
Failure = Literal["invalid", "unreadable", "missing"]


class Invalid(Exception):
    """Raised by a validator to refuse a candidate input; ``problem`` is fed back to the model."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class StructuredOutputError(LLMError):
    """No valid answer came back within the attempts allowed; ``problem`` is the last reason.

    ``failure`` says what went wrong last: the validator refused the input (``invalid``),
    the reply held JSON that does not parse (``unreadable``), or it held no answer (``missing``).
    """

    def __init__(self, message: str, problem: str, failure: Failure) -> None:
        super().__init__(message)
        self.problem = problem
        self.failure = failure


# ---- reading text ----


@dataclass(frozen=True)
class FoundJSON:
    """What :func:`find_json` found: a value, or why the JSON in the text does not parse."""

    value: Any = None
    found: bool = False
    error: str | None = None


_FENCE = re.compile(r"```[ \t]*([A-Za-z][\w+-]*)?[ \t]*\n?(.*?)```", re.DOTALL)
# An object key or a list of strings/objects: JSON, unlike a {placeholder} or a [link].
_JSON_START = re.compile(r'\{\s*"[^"\n]*"\s*:|\[\s*[{"]')
_OPENERS = re.compile(r"[\[{]")
_MAX_OPENERS = 200  # bare JSON is looked for at this many brackets at most
_LEAD_IN = re.compile(
    r"(?:sure|okay|ok|certainly|of course|here(?:'s| is| are)|below is|this is)\b[^\n]{0,120}:",
    re.IGNORECASE,
)


def _parse(text: str) -> FoundJSON:
    try:
        return FoundJSON(json.loads(text), True)
    except json.JSONDecodeError as exc:
        return FoundJSON(error=_parse_error(exc))


def _parse_error(exc: json.JSONDecodeError) -> str:
    return f"the reply's JSON does not parse: {exc.msg} (line {exc.lineno}, column {exc.colno})"


def _plausible(value: Any) -> bool:
    """Whether JSON found inside prose is an answer rather than an aside such as ``[1]``."""
    if isinstance(value, dict):
        return bool(value)
    if isinstance(value, list) and value:
        return all(isinstance(v, dict) for v in value) or all(isinstance(v, str) for v in value)
    return False


def find_json(text: str) -> FoundJSON:
    """The JSON of a text reply: the first ```json (or bare ```) block, else the whole text,
    else the first JSON object or list in the text.

    ``error`` is set when the reply holds JSON that does not parse: a ```json block, or an
    object key (``{"``) with no parseable JSON around it. ``{placeholders}`` are not JSON.
    """
    for fence in _FENCE.finditer(text):
        lang, body = (fence.group(1) or "").lower(), fence.group(2).strip()
        if lang not in ("", "json"):
            continue
        parsed = _parse(body)
        if parsed.found or lang == "json" or _JSON_START.match(body):
            return parsed
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        whole = _parse(stripped)
        if whole.found:
            return whole
    decoder = json.JSONDecoder()
    for opener in itertools.islice(_OPENERS.finditer(text), _MAX_OPENERS):
        try:
            value, _ = decoder.raw_decode(text, opener.start())
        except json.JSONDecodeError:
            continue
        if _plausible(value):
            return FoundJSON(value, True)
    start = _JSON_START.search(text)
    if start is not None:
        try:
            decoder.raw_decode(text, start.start())
        except json.JSONDecodeError as exc:
            return FoundJSON(error=_parse_error(exc))
    return FoundJSON()


def prose(text: str) -> str:
    """A prose reply without its lead-in line ("Here is the summary:") or the fence around it.

    Empty when the reply is only JSON: that is for :func:`find_json`, not a text reader.
    """
    body = text.strip()
    first, _, rest = body.partition("\n")
    if rest.strip() and _LEAD_IN.fullmatch(first.strip()):
        body = rest.strip()
    fence = _FENCE.match(body)
    if fence is not None and fence.group(2).strip():
        body = fence.group(2).strip()
    if body[:1] in ("{", "[") and _parse(body).found:
        return ""
    return body


def _tool_for(value: Mapping[str, Any], tools: Sequence[ToolSpec]) -> ToolSpec | None:
    """The tool ``value`` is the input of: the one tool whose fields it uses (all when one
    tool is asked for and it names some of them; by an exact fit among several)."""

    def fields(tool: ToolSpec) -> tuple[set[str], set[str] | None]:
        props = tool.input_schema.get("properties")
        required = tool.input_schema.get("required")
        return (
            set(required) if isinstance(required, list) else set(),
            set(props) if isinstance(props, Mapping) else None,
        )

    keys = set(value)
    if len(tools) == 1:
        _, props = fields(tools[0])
        return tools[0] if not keys or not props or keys & props else None
    fits = []
    for tool in tools:
        required, props = fields(tool)
        if required <= keys and (props is None or keys <= props):
            fits.append(tool)
    return fits[0] if len(fits) == 1 else None


def calls_in_json(value: Any, tools: Sequence[ToolSpec]) -> list[tuple[str, ToolInput]]:
    """Tool calls in a JSON reply: ``{"tool_calls": [{"name", "input"}]}``, one such call or a
    list of them, or the input of one of ``tools`` on its own (see :func:`_tool_for`)."""
    names = {t.name for t in tools}
    if isinstance(value, dict) and isinstance(value.get("tool_calls"), list):
        items = value["tool_calls"]
    elif (
        isinstance(value, dict) and value.get("name") in names and ("input" in value or "arguments" in value)
    ):
        items = [value]
    elif (
        isinstance(value, list)
        and value
        and all(isinstance(v, dict) and v.get("name") in names for v in value)
    ):
        items = value
    elif isinstance(value, dict):
        tool = _tool_for(value, tools)
        return [(tool.name, value)] if tool is not None else []
    else:
        return []
    calls: list[tuple[str, ToolInput]] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        args = item.get("input", item.get("arguments", {}))
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                args = {}
        calls.append((item["name"], args if isinstance(args, dict) else {}))
    return calls


# ---- the exchange ----


@dataclass
class Turn:
    """One reply of the model and the tool calls it holds, read from its text when it made none."""

    response: LLMResponse
    calls: list[ToolCall]
    # where the calls come from: tool calls, JSON in the text, or the procedure's text reader
    source: Literal["tools", "json", "reader"] = "tools"
    problem: str | None = None  # the text holds JSON that does not parse

    @property
    def from_text(self) -> bool:
        """The calls were read from the text: their ids are ours, and they are answered in text."""
        return self.source != "tools"


class Exchange:
    """A conversation with a model about one task: its history, and turns asked and answered."""

    def __init__(self, llm: LLM, system: str, messages: Sequence[Message], *, procedure: str = "") -> None:
        self.llm = llm
        self.system = system
        self.history: list[Message] = list(messages)
        self.procedure = procedure
        self._read = 0

    async def ask(
        self, tools: Sequence[ToolSpec], tool_choice: ToolChoice, read_text: CallsReader | None = None
    ) -> Turn:
        """One model turn with ``tools`` offered. A reply without tool calls is read as text:
        its JSON (see :func:`calls_in_json`), else ``read_text``."""
        response = await self.llm.complete(
            self.system, self.history, tools=list(tools), tool_choice=tool_choice, procedure=self.procedure
        )
        if response.tool_calls or not response.text.strip():
            return Turn(response, list(response.tool_calls))
        found = find_json(response.text)
        if found.error is not None:
            return Turn(response, [], source="json", problem=found.error)
        pairs = calls_in_json(found.value, tools) if found.found else []
        source: Literal["json", "reader"] = "json"
        if not pairs and read_text is not None:
            pairs, source = read_text(response.text), "reader"
        if not pairs:
            return Turn(response, [])
        calls = []
        for name, args in pairs:
            self._read += 1
            calls.append(ToolCall(f"text_{self._read}", name, args))
        return Turn(response, calls, source=source)

    def answer(self, turn: Turn, outcomes: Sequence[tuple[str, bool]]) -> None:
        """Append ``turn`` and the outcome of each of its calls, ``(text, is_error)`` in order."""
        if not turn.from_text:
            self.history.append(assistant_message(turn.response))
            self.history.append(
                tool_results_message(
                    [(c.id, text, err) for c, (text, err) in zip(turn.calls, outcomes, strict=True)]
                )
            )
            return
        texts = [text for text, _ in outcomes]
        if len(texts) == 1:
            self._reply_text(turn, texts[0])
        else:
            listed = "\n".join(f"{i}. {text}" for i, text in enumerate(texts, 1))
            self._reply_text(turn, f"Results, in the order of your answer:\n{listed}")

    def reply(self, turn: Turn, text: str, *, is_error: bool = True) -> None:
        """Append ``turn`` and one answer to all of it: each call's result, or a user turn."""
        if turn.calls and not turn.from_text:
            self.history.append(assistant_message(turn.response))
            self.history.append(tool_results_message([(c.id, text, is_error) for c in turn.calls]))
        else:
            self._reply_text(turn, text)

    def _reply_text(self, turn: Turn, text: str) -> None:
        self.history.append(assistant_message(turn.response))
        self.history.append({"role": "user", "content": text})


# ---- one structured answer ----


def _as_call(read_text: TextReader, name: str) -> CallsReader:
    def read(text: str) -> list[tuple[str, ToolInput]]:
        candidate = read_text(text)
        return [] if candidate is None else [(name, candidate)]

    return read


async def structured_call(
    llm: LLM,
    system: str,
    messages: Sequence[Message],
    tool: ToolSpec,
    validate: Callable[[ToolInput], T],
    *,
    read_text: TextReader | None = None,
    max_attempts: int = 2,
    procedure: str = "",
    what: str = "answer",
    feedback: str = "Error: {problem}",
    if_missing: Callable[[], T] | None = None,
) -> T:
    """Call ``tool`` (forced) until ``validate`` accepts its input; return what it returned.

    A reply without the call is read as text: its JSON, else ``read_text`` (how this
    procedure's prose is read). ``validate`` raises :class:`Invalid` to refuse an input: the
    reply is answered with ``feedback`` (``{problem}`` filled in) and the model asked again.
    A reply with no answer at all returns ``if_missing()`` when given; otherwise the model is
    told to call the tool and the reply counts as a failed attempt. After ``max_attempts``
    failures, raises :class:`StructuredOutputError`: "the model did not produce a valid
    {what}: {problem}".
    """
    exchange = Exchange(llm, system, messages, procedure=procedure)
    reader = None if read_text is None else _as_call(read_text, tool.name)
    problem = f"no {what} was given"
    failure: Failure = "missing"
    for _ in range(max(1, max_attempts)):
        turn = await exchange.ask([tool], tool.name, read_text=reader)
        if turn.problem is not None:
            problem, failure = turn.problem, "unreadable"
            exchange.reply(turn, f"Error: {problem}. Call {tool.name} again, with valid JSON.")
            continue
        call = next((c for c in turn.calls if c.name == tool.name), None)
        if call is None:
            if if_missing is not None:
                return if_missing()
            problem, failure = f"the model answered without calling {tool.name}", "missing"
            exchange.reply(turn, f"Call {tool.name}.")
            continue
        try:
            return validate(call.input)
        except Invalid as refused:
            problem, failure = refused.problem, "invalid"
        exchange.reply(turn, feedback.format(problem=problem))
    raise StructuredOutputError(f"the model did not produce a valid {what}: {problem}", problem, failure)
