"""The memory manager: a model reads a conversation and the memories already kept, and
inserts, corrects (update), supersedes or (when allowed) deletes memories through tool calls.

An update is a correction (the memory was wrong; its old text goes to its history); a supersede
says the world changed (a new memory holds what is true now, the old one stays as what was true
before). Either way nothing is lost.

LangMem's ``create_memory_manager`` semantics, with the defects fixed: every call's outcome
is fed back to the model as a tool result (so it can correct an invalid payload in the next
step), ids it invents are refused, schema'd memories are validated before they count, and
nothing is stored here: the caller gets the operations and applies them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langmem_mcp.llm.base import LLM, ToolCall, ToolSpec
from langmem_mcp.llm.prompts import PromptLibrary, declare, default_library
from langmem_mcp.llm.structured import Exchange, StructuredOutputError, find_json

EXTRACT_SYSTEM = declare("extract_memories", "instructions", "kinds", "operations")
EXTRACT_INPUT = declare("extract_memories_input", "conversation", "existing")

TEXT_KIND = "Memory"
DEFAULT_IMPORTANCE = 0.5
DEFAULT_INSTRUCTIONS = (
    "Extract the facts, preferences, events and lessons from this conversation that will still "
    "matter in future conversations with this user. Keep each memory short and self-contained."
)


@dataclass
class MemoryOp:
    """One change to apply. ``id`` is an existing memory's id, or ``new-N`` for an insert."""

    op: Literal["insert", "update", "supersede", "delete"]
    id: str
    kind: str = TEXT_KIND
    content: str | dict[str, Any] | None = None
    importance: float | None = None


@dataclass
class ExtractionResult:
    """The manager's run: the operations for the caller to apply, and how the run went."""

    ops: list[MemoryOp] = field(default_factory=list)
    steps: int = 0
    finished: bool = False  # the model signalled it was done (rather than running out of steps)
    rejected: list[str] = field(default_factory=list)  # why calls were refused, for logs

    @property
    def inserted(self) -> list[MemoryOp]:
        return [o for o in self.ops if o.op == "insert"]

    @property
    def updated(self) -> list[MemoryOp]:
        return [o for o in self.ops if o.op == "update"]

    @property
    def superseded(self) -> list[MemoryOp]:
        return [o for o in self.ops if o.op == "supersede"]

    @property
    def deleted(self) -> list[MemoryOp]:
        return [o for o in self.ops if o.op == "delete"]


# ---- helpers shared by the engine's procedures ----


def message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [b.get("text", "") if isinstance(b, dict) else str(b) for b in content]
        return " ".join(p for p in parts if p)
    return "" if content is None else str(content)


def render_conversation(messages: Sequence[Mapping[str, Any]]) -> str:
    """A transcript the model reads as data (not as turns addressed to it)."""
    lines = []
    for m in messages:
        role = str(m.get("role") or "user")
        name = m.get("name")
        speaker = f"{role} ({name})" if name else role
        lines.append(f"{speaker}: {message_text(m.get('content')).strip()}")
    return "\n".join(lines) if lines else "(empty conversation)"


def schema_errors(schema: Mapping[str, Any], value: Any, *, limit: int = 5) -> list[str]:
    """Why ``value`` does not follow ``schema`` (empty when it does)."""
    try:
        from jsonschema.validators import validator_for  # type: ignore[import-untyped, unused-ignore]
    except ImportError:  # pragma: no cover - jsonschema comes with mcp
        return _minimal_errors(schema, value)
    cls = validator_for(schema)
    errors = sorted(cls(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
    out = []
    for err in errors[:limit]:
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        out.append(f"{where}: {err.message}")
    return out


def _minimal_errors(schema: Mapping[str, Any], value: Any) -> list[str]:
    if schema.get("type") == "object":
        if not isinstance(value, dict):
            return ["(top level): must be an object"]
        return [
            f"(top level): {k!r} is a required property" for k in schema.get("required", []) if k not in value
        ]
    return []


def relaxed(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema without top-level ``required``: for patches that set only some fields."""
    out = dict(schema)
    out.pop("required", None)
    return out


def schema_kind(schema: Mapping[str, Any], index: int = 0) -> str:
    return str(schema.get("title") or schema.get("name") or f"Schema{index + 1}")


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1, default=str)


# ---- the manager ----


class _Manager:
    def __init__(
        self,
        existing: Sequence[Mapping[str, Any]],
        schemas: Mapping[str, Mapping[str, Any]],
        *,
        enable_inserts: bool,
        enable_updates: bool,
        enable_deletes: bool,
        with_importance: bool,
        enable_supersedes: bool = True,
    ) -> None:
        self.schemas = schemas
        self.existing = {str(m["id"]): m for m in existing}
        self.enable = {
            "insert": enable_inserts,
            "update": enable_updates,
            "supersede": enable_supersedes,
            "delete": enable_deletes,
        }
        self.with_importance = with_importance
        self.inserts: dict[str, MemoryOp] = {}
        self.changes: dict[str, MemoryOp] = {}  # existing id -> update/supersede/delete
        self.rejected: list[str] = []
        self._next_new = 0  # ids of inserts are never reused, even after one is dropped

    def kind_of(self, memory: Mapping[str, Any]) -> str:
        if memory.get("kind"):
            return str(memory["kind"])
        if isinstance(memory.get("content"), str) or not self.schemas:
            return TEXT_KIND
        return next(iter(self.schemas))

    def check_content(self, kind: str, content: Any) -> str | None:
        if kind == TEXT_KIND and kind not in self.schemas:
            if not isinstance(content, str) or not content.strip():
                return "content must be a non-empty string"
            return None
        schema = self.schemas.get(kind)
        if schema is None:
            return f"unknown kind {kind!r}; use one of {sorted(self.schemas) or [TEXT_KIND]}"
        if isinstance(content, str):
            try:
                content = json.loads(content)
            except ValueError:
                return f"content of a {kind} must be a JSON object following its schema"
        errors = schema_errors(schema, content)
        return f"content does not follow the {kind} schema: " + "; ".join(errors) if errors else None

    def apply(self, call: ToolCall) -> tuple[str, bool]:
        """Apply one tool call; return the tool result text and whether it is an error."""
        op = {
            "insert_memory": "insert",
            "update_memory": "update",
            "supersede_memory": "supersede",
            "delete_memory": "delete",
        }.get(call.name)
        if op is None:
            return self._reject(f"unknown tool {call.name!r}")
        if not self.enable[op]:
            return self._reject(f"{op}s are not allowed in this run")
        args = call.input
        if op == "insert":
            return self._insert(args)
        # supersede_memory names the old memory `replaces` (so a bare {"id", "content"} written
        # in text reads as the safe correction, update_memory)
        mid = str((args.get("replaces") if op == "supersede" else None) or args.get("id") or "")
        if mid in self.inserts:
            if op == "delete":
                del self.inserts[mid]
                return f"dropped {mid}", False
            return self._update_new(mid, args)
        if mid not in self.existing:
            return self._reject(f"no memory with id {mid!r}; use an id from the existing memories")
        if op == "delete":
            self.changes[mid] = MemoryOp("delete", mid, self.kind_of(self.existing[mid]))
            return f"deleted {mid}", False
        if self.changes.get(mid, MemoryOp("update", mid)).op == "delete":
            return self._reject(f"{mid} was deleted in this run")
        kind = self.kind_of(self.existing[mid])
        content = self._content(kind, args.get("content"))
        problem = self.check_content(kind, content)
        if problem:
            return self._reject(problem)
        self.changes[mid] = MemoryOp(op, mid, kind, content, self._importance(args, None))  # type: ignore[arg-type]
        if op == "supersede":
            return (
                f"superseded {mid}: a new memory holds this, and {mid} is kept as what was true before",
                False,
            )
        return f"updated {mid}", False

    def _insert(self, args: Mapping[str, Any]) -> tuple[str, bool]:
        kind = str(args.get("kind") or (next(iter(self.schemas)) if self.schemas else TEXT_KIND))
        content = self._content(kind, args.get("content"))
        problem = self.check_content(kind, content)
        if problem:
            return self._reject(problem)
        for mid, prior in self.inserts.items():
            if prior.kind == kind and prior.content == content:
                return self._reject(f"already inserted as {mid}")
        self._next_new += 1
        mid = f"new-{self._next_new}"
        importance = self._importance(args, DEFAULT_IMPORTANCE) if self.with_importance else None
        self.inserts[mid] = MemoryOp("insert", mid, kind, content, importance)
        return f"inserted as {mid}", False

    def _update_new(self, mid: str, args: Mapping[str, Any]) -> tuple[str, bool]:
        prior = self.inserts[mid]
        content = self._content(prior.kind, args.get("content"))
        problem = self.check_content(prior.kind, content)
        if problem:
            return self._reject(problem)
        prior.content = content
        prior.importance = self._importance(args, prior.importance) if self.with_importance else None
        return f"updated {mid}", False

    def _content(self, kind: str, content: Any) -> Any:
        if kind in self.schemas and isinstance(content, str):
            try:
                return json.loads(content)
            except ValueError:
                return content
        return content.strip() if isinstance(content, str) else content

    @staticmethod
    def _importance(args: Mapping[str, Any], default: float | None) -> float | None:
        value = args.get("importance", default)
        try:
            return None if value is None else min(1.0, max(0.0, float(value)))
        except (TypeError, ValueError):
            return default

    def _reject(self, why: str) -> tuple[str, bool]:
        self.rejected.append(why)
        return f"Error: {why}. Nothing was changed by this call.", True

    def ops(self) -> list[MemoryOp]:
        return list(self.inserts.values()) + list(self.changes.values())

    def tools(self) -> list[ToolSpec]:
        kinds = list(self.schemas) or [TEXT_KIND]
        one_schema = len(self.schemas) == 1
        content: dict[str, Any]
        if not self.schemas:
            content = {"type": "string", "description": "The memory, one self-contained statement."}
        elif one_schema:
            content = dict(next(iter(self.schemas.values())))
        else:
            content = {"type": "object", "description": "An object following the schema of its kind."}
        importance = {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "How much this will matter later: 0 trivia, 1 essential.",
        }
        insert_props: dict[str, Any] = {"content": content}
        required = ["content"]
        if len(kinds) > 1:
            insert_props = {"kind": {"type": "string", "enum": kinds}, **insert_props}
            required = ["kind", "content"]
        if self.with_importance:
            insert_props["importance"] = importance
            required.append("importance")
        update_props: dict[str, Any] = {"id": {"type": "string"}, "content": content}
        if self.with_importance:
            update_props["importance"] = importance
        specs = []
        if self.enable["insert"]:
            specs.append(
                ToolSpec(
                    "insert_memory",
                    "Save a new memory.",
                    {"type": "object", "properties": insert_props, "required": required},
                )
            )
        if self.enable["update"]:
            specs.append(
                ToolSpec(
                    "update_memory",
                    "Correct a memory by id (an existing one, or one inserted in this run): it was wrong, "
                    "incomplete or badly worded. Its previous text is kept in its history.",
                    {"type": "object", "properties": update_props, "required": ["id", "content"]},
                )
            )
        if self.enable["supersede"]:
            supersede_props: dict[str, Any] = {
                "replaces": {"type": "string", "description": "The id of the memory that is no longer true."},
                **{k: v for k, v in update_props.items() if k != "id"},
            }
            specs.append(
                ToolSpec(
                    "supersede_memory",
                    "The world changed: the memory `replaces` was true but no longer is (the person "
                    "moved, changed jobs, changed a preference). `content` is what is true now; the old "
                    "memory is kept as what was true before.",
                    {"type": "object", "properties": supersede_props, "required": ["replaces", "content"]},
                )
            )
        if self.enable["delete"]:
            specs.append(
                ToolSpec(
                    "delete_memory",
                    "Delete a memory by id: it is wrong, obsolete or merged into another.",
                    {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
                )
            )
        specs.append(
            ToolSpec(
                "done",
                "Call when the memories are complete and correct.",
                {"type": "object", "properties": {}},
            )
        )
        return specs


def normalize_schemas(
    schemas: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None,
) -> dict[str, dict[str, Any]]:
    """Schemas by kind (their ``title``); accepts one schema, a list, or None (free text)."""
    if schemas is None:
        return {}
    items = [schemas] if isinstance(schemas, Mapping) else list(schemas)
    out: dict[str, dict[str, Any]] = {}
    for i, schema in enumerate(items):
        schema = dict(schema)
        if "parameters" in schema and "type" not in schema:  # LangMem alpha's function-schema shape
            schema = {
                **schema["parameters"],
                "title": schema.get("name") or schema["parameters"].get("title"),
            }
        out[schema_kind(schema, i)] = schema
    return out


def _operations_text(inserts: bool, updates: bool, deletes: bool, supersedes: bool = True) -> str:
    allowed = [
        n
        for n, on in (
            ("insert", inserts),
            ("update", updates),
            ("supersede", supersedes),
            ("delete", deletes),
        )
        if on
    ]
    text = "You may " + ", ".join(allowed) + " memories." if allowed else "You may not change memories."
    if updates and supersedes:
        text += (
            " Update a memory that was wrong (a correction); supersede a memory that was true but no "
            "longer is (the world changed)."
        )
    if not deletes:
        text += (
            " Deleting is not allowed: fix a wrong memory by updating it, an outdated one by superseding it."
        )
    return text


def _kinds_text(schemas: Mapping[str, Mapping[str, Any]]) -> str:
    if not schemas:
        return f"Memories are free text (kind {TEXT_KIND})."
    return "Memories are JSON objects of these kinds:\n" + "\n".join(
        f"- {kind}: {to_json(schema)}" for kind, schema in schemas.items()
    )


async def extract_memories(
    llm: LLM,
    messages: Sequence[Mapping[str, Any]],
    existing: Sequence[Mapping[str, Any]] = (),
    *,
    schemas: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
    instructions: str | None = None,
    enable_inserts: bool = True,
    enable_updates: bool = True,
    enable_deletes: bool = False,
    enable_supersedes: bool = True,
    with_importance: bool = False,
    max_steps: int = 3,
    prompts: PromptLibrary | None = None,
    procedure: str = "extract_memories",
) -> ExtractionResult:
    """Run the manager for up to ``max_steps`` model turns; return the operations to apply.

    ``existing`` items are ``{"id", "content", "kind"?}``; content is text or, with
    ``schemas``, an object of the given kind.

    A model answering in text instead of calling tools is read: JSON tool calls in it count
    as calls, and a list of statements (:func:`statements_as_inserts`) as inserts, which end
    the run unless some are refused. A reply whose JSON does not parse is fed back once; if
    the next one does not parse either, the run ends, with a StructuredOutputError when it
    produced no operation at all.
    """
    lib = prompts or default_library()
    kinds = normalize_schemas(schemas)
    manager = _Manager(
        existing,
        kinds,
        enable_inserts=enable_inserts,
        enable_updates=enable_updates,
        enable_deletes=enable_deletes,
        with_importance=with_importance,
        enable_supersedes=enable_supersedes,
    )
    system = lib.render(
        EXTRACT_SYSTEM,
        instructions=instructions or DEFAULT_INSTRUCTIONS,
        kinds=_kinds_text(kinds),
        operations=_operations_text(enable_inserts, enable_updates, enable_deletes, enable_supersedes),
    )
    shown = [{"id": str(m["id"]), "kind": manager.kind_of(m), "content": m.get("content")} for m in existing]
    history: list[dict[str, Any]] = [
        {
            "role": "user",
            "content": lib.render(
                EXTRACT_INPUT,
                conversation=render_conversation(messages),
                existing=to_json(shown) if shown else "(none yet)",
            ),
        }
    ]
    tools = manager.tools()
    result = ExtractionResult()
    exchange = Exchange(llm, system, history, procedure=procedure)
    unreadable: str | None = None  # the last reply holds JSON that does not parse
    for _ in range(max(1, max_steps)):
        turn = await exchange.ask(tools, "any", read_text=statements_as_inserts)
        result.steps += 1
        if turn.problem is not None:
            manager.rejected.append(turn.problem)
            fed_back, unreadable = unreadable is not None, turn.problem
            if fed_back:
                break
            exchange.reply(turn, f"Error: {turn.problem}. Nothing was changed; call the tools again.")
            continue
        unreadable = None
        if not turn.calls:
            result.finished = True
            break
        outcomes = [("ok", False) if c.name == "done" else manager.apply(c) for c in turn.calls]
        exchange.answer(turn, outcomes)
        # statements read from prose are the model's whole answer: done unless some were refused
        if any(c.name == "done" for c in turn.calls) or (
            turn.source == "reader" and not any(err for _, err in outcomes)
        ):
            result.finished = True
            break
    result.ops = manager.ops()
    result.rejected = manager.rejected
    if unreadable is not None and not result.ops:
        raise StructuredOutputError(
            f"the model did not produce readable memory operations: {unreadable}", unreadable, "unreadable"
        )
    return result


_LISTED = re.compile(r"^\s*(?:[-*•+]|\d{1,3}[.)])\s+(.*\S)\s*$")


def statements_as_inserts(text: str) -> list[tuple[str, dict[str, Any]]]:
    """A text answer as inserts: a JSON list (of statements, or of memories ``{"content", ...}``),
    or the statements on its bulleted or numbered lines. Anything else holds no memory."""
    found = find_json(text)
    value = found.value.get("memories") if isinstance(found.value, dict) else found.value
    items: list[Any] = (
        value if isinstance(value, list) else [m.group(1) for m in map(_LISTED.match, text.splitlines()) if m]
    )
    inserts: list[tuple[str, dict[str, Any]]] = []
    for item in items:
        if isinstance(item, str) and item.strip():
            inserts.append(("insert_memory", {"content": item.strip()}))
        elif isinstance(item, dict):
            inserts.append(("insert_memory", dict(item) if "content" in item else {"content": item}))
    return inserts


def proposed_memories(
    items: Sequence[Any], schemas: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None
) -> tuple[list[MemoryOp], list[str]]:
    """Memories the calling agent wrote for a host-agent task, checked exactly as the model's
    ``insert_memory`` calls are: text, or ``{"content", "kind"}`` following the kind's schema.
    Returns the inserts and, per refused item, why."""
    manager = _Manager(
        (),
        normalize_schemas(schemas),
        enable_inserts=True,
        enable_updates=False,
        enable_deletes=False,
        with_importance=False,
    )
    problems = []
    for i, item in enumerate(items):
        args = dict(item) if isinstance(item, Mapping) else {"content": item}
        _, refused = manager.apply(ToolCall(f"agent-{i}", "insert_memory", args))
        if refused:
            problems.append(f"memories[{i}]: {manager.rejected[-1]}")
    return manager.ops(), problems
