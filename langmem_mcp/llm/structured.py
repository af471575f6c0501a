"""Structured answers from a model: force a tool call, validate its input, feed back what is wrong.

:func:`structured_call` is the loop every single-answer procedure needs (a summary, a profile
patch, a rewritten prompt): ask for one tool, validate its input, and on a refusal answer the
call with the reason and ask again, up to ``max_attempts`` times. It returns the validated
value or raises :class:`StructuredOutputError` (an :class:`LLMError`) saying what was wrong.

:class:`Exchange` is the part multi-step procedures share with it (the memory manager, the
optimiser's reflection): the history of the exchange, one model turn at a time, and each
turn answered in the form the model's reply calls for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
Failure = Literal["invalid", "missing"]


class Invalid(Exception):
    """Raised by a validator to refuse a candidate input; ``problem`` is fed back to the model."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class StructuredOutputError(LLMError):
    """No valid answer came back within the attempts allowed; ``problem`` is the last reason."""

    def __init__(self, message: str, problem: str, failure: Failure) -> None:
        super().__init__(message)
        self.problem = problem
        self.failure = failure


@dataclass
class Turn:
    """One reply of the model and the tool calls it holds."""

    response: LLMResponse
    calls: list[ToolCall]


class Exchange:
    """A conversation with a model about one task: its history, and turns asked and answered."""

    def __init__(self, llm: LLM, system: str, messages: Sequence[Message], *, procedure: str = "") -> None:
        self.llm = llm
        self.system = system
        self.history: list[Message] = list(messages)
        self.procedure = procedure

    async def ask(self, tools: Sequence[ToolSpec], tool_choice: ToolChoice) -> Turn:
        """One model turn with ``tools`` offered."""
        response = await self.llm.complete(
            self.system, self.history, tools=list(tools), tool_choice=tool_choice, procedure=self.procedure
        )
        return Turn(response, list(response.tool_calls))

    def answer(self, turn: Turn, outcomes: Sequence[tuple[str, bool]]) -> None:
        """Append ``turn`` and the outcome of each of its calls, ``(text, is_error)`` in order."""
        self.history.append(assistant_message(turn.response))
        self.history.append(
            tool_results_message(
                [(c.id, text, err) for c, (text, err) in zip(turn.calls, outcomes, strict=True)]
            )
        )

    def reply(self, turn: Turn, text: str, *, is_error: bool = True) -> None:
        """Append ``turn`` and one answer to all of it: each call's result, or a user turn."""
        self.history.append(assistant_message(turn.response))
        if turn.calls:
            self.history.append(tool_results_message([(c.id, text, is_error) for c in turn.calls]))
        else:
            self.history.append({"role": "user", "content": text})


async def structured_call(
    llm: LLM,
    system: str,
    messages: Sequence[Message],
    tool: ToolSpec,
    validate: Callable[[ToolInput], T],
    *,
    max_attempts: int = 2,
    procedure: str = "",
    what: str = "answer",
    feedback: str = "Error: {problem}",
    if_missing: Callable[[], T] | None = None,
) -> T:
    """Call ``tool`` (forced) until ``validate`` accepts its input; return what it returned.

    ``validate`` raises :class:`Invalid` to refuse an input: the call is answered with
    ``feedback`` (``{problem}`` filled in) and the model asked again. A reply without the call
    returns ``if_missing()`` when given; otherwise the model is told to call the tool and the
    reply counts as a failed attempt. After ``max_attempts`` failures, raises
    :class:`StructuredOutputError`: "the model did not produce a valid {what}: {problem}".
    """
    exchange = Exchange(llm, system, messages, procedure=procedure)
    problem = f"no {what} was given"
    failure: Failure = "missing"
    for _ in range(max(1, max_attempts)):
        turn = await exchange.ask([tool], tool.name)
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
