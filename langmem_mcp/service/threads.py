"""Threads, their messages and thread state.

Messages come in OpenAI format (`role`, `content`, optional `name`, `metadata` with `user_id`
and `timestamp`) or LangMem format (`id`, `content`, `timestamp`, `user: {user_id, user_name,
role}`). A message given with a timestamp is stored once per thread: posting it again with the
same timestamp and content (or the same id) is a duplicate and changes nothing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from langmem_mcp.engine import validation
from langmem_mcp.errors import Conflict, InvalidInput, NotFound
from langmem_mcp.service import inputs, scoping
from langmem_mcp.service.models.langmem import AddMessagesResult, MessagePage, Thread, ThreadList, ThreadState
from langmem_mcp.service.paging import page_limit
from langmem_mcp.service.secrets import message_dedup_key, redact_value
from langmem_mcp.store.threads import MessageRow, NewMessage, ThreadRow, ThreadStore

MAX_KEY = 256
DEFAULT_PAGE = 100
MAX_PAGE = 1000


def to_thread(row: ThreadRow) -> Thread:
    return Thread(
        id=row.id,
        metadata=row.metadata,
        created_at=row.created_at,
        updated_at=row.updated_at,
        message_count=row.message_count,
        last_message_at=row.last_message_at,
        pending_formation=row.pending_since is not None,
    )


def parse_timestamp(value: Any, where: str) -> str | None:
    """ISO 8601 (a naive time is taken as UTC) or seconds since the epoch → ISO UTC, µs precision."""
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, bool):
        raise InvalidInput(f"{where} must be an ISO 8601 time or seconds since the epoch")
    elif isinstance(value, int | float):
        try:
            dt = datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise InvalidInput(f"{where} {value!r} is out of range") from exc
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise InvalidInput(f"{where} {value[:40]!r} is not an ISO 8601 time") from exc
    else:
        raise InvalidInput(f"{where} must be an ISO 8601 time or seconds since the epoch")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def _content(value: str | list[Any], where: str, max_chars: int) -> str | list[Any]:
    if isinstance(value, str):
        if len(value) > max_chars:
            raise InvalidInput(f"{where} is {len(value)} characters long; the limit is {max_chars}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInput(f"{where} is not valid Unicode") from exc
        return value
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidInput(f"{where} is not plain JSON: {exc}") from exc
    if len(encoded) > max_chars:
        raise InvalidInput(f"{where} is {len(encoded)} characters long; the limit is {max_chars}")
    return value


def _author(m: inputs.Message, metadata: dict[str, Any]) -> tuple[str, str | None, Any, Any, Any]:
    """role, name, user id, user name and timestamp, wherever the message's format keeps them."""
    if isinstance(m, inputs.LangMemMessage):
        user = m.user
        name = m.name or (None if user.user_name is None else str(user.user_name))
        return (
            user.role or m.role or "user",
            name,
            user.user_id if user.user_id is not None else metadata.get("user_id"),
            user.user_name,
            m.timestamp if m.timestamp is not None else metadata.get("timestamp"),
        )
    return (
        m.role,
        m.name,
        metadata.get("user_id"),
        metadata.get("user_name") or m.name,
        metadata.get("timestamp", m.timestamp),
    )


def parse_message(
    m: inputs.Message, i: int, now: str, max_chars: int, redacted: set[str] | None = None
) -> NewMessage:
    """A message as it is stored: secrets and <private> spans taken out (their kinds added to
    ``redacted``)."""
    where = f"messages[{i}]"
    metadata = dict(m.metadata or {})
    role, name, user_id, user_name, timestamp = _author(m, metadata)
    if not role.strip() or len(role) > inputs.MAX_ROLE:
        raise InvalidInput(f"{where}.role must be a non-empty string of at most {inputs.MAX_ROLE} characters")
    if user_name is not None and not isinstance(user_name, str):
        user_name = str(user_name)
    content = _content(m.content, f"{where}.content", max_chars)
    uid = None if user_id is None else scoping.entity_id(user_id, f"{where} user_id")
    ts = parse_timestamp(timestamp, f"{where} timestamp")
    mid = scoping.new_id() if m.id is None else scoping.entity_id(m.id, f"{where}.id")
    metadata.pop("user_id", None)
    metadata.pop("timestamp", None)
    metadata = validation.metadata(metadata)
    (content, metadata), kinds = redact_value((content, metadata))  # before it is hashed or stored
    if redacted is not None:
        redacted.update(kinds)
    dedup = None if ts is None else message_dedup_key(ts, content)
    return NewMessage(
        id=mid,
        role=role,
        content=content,
        name=name,
        user_id=uid,
        user_name=user_name,
        timestamp=ts or now,
        metadata=metadata,
        dedup_key=dedup,
    )


def parse_messages(
    messages: Sequence[inputs.Message], max_chars: int, redacted: set[str] | None = None
) -> list[NewMessage]:
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    return [parse_message(m, i, now, max_chars, redacted) for i, m in enumerate(messages)]


def render_message(
    m: MessageRow, response_format: str, user_names: dict[str, str | None] | None = None
) -> dict[str, Any]:
    if response_format == "langmem":
        user: dict[str, Any] = {"role": m.role}
        if m.user_id is not None:
            user["user_id"] = m.user_id
        if m.name is not None or (user_names and m.user_id in user_names):
            user["user_name"] = m.name if m.name is not None else (user_names or {}).get(m.user_id or "")
        out: dict[str, Any] = {"id": m.id, "content": m.content, "timestamp": m.timestamp, "user": user}
        if m.metadata:
            out["metadata"] = m.metadata
        return out
    out = {"role": m.role, "content": m.content}
    if m.name is not None:
        out["name"] = m.name
    meta = dict(m.metadata)
    meta["id"] = m.id
    meta["timestamp"] = m.timestamp
    if m.user_id is not None:
        meta["user_id"] = m.user_id
    out["metadata"] = meta
    return out


def _encode_cursor(m: MessageRow) -> str:
    return base64.urlsafe_b64encode(f"{m.timestamp}|{m.seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts, seq = raw.rsplit("|", 1)
        return ts, int(seq)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cursor {cursor[:40]!r} is not one this server issued") from exc


def thread_metadata(value: Any) -> dict[str, Any]:
    return validation.metadata(value)


class ThreadService:
    """Threads and their messages as LangMem keeps them: the input to background formation and to `summarize_thread`."""

    def __init__(self, store: ThreadStore, max_chars: int) -> None:
        self.store = store
        self.max_chars = max_chars

    async def _thread_id(self, scope: str, thread_id: Any, *, must_exist: bool = True) -> str:
        tid = scoping.entity_id(thread_id, "thread_id")
        scoping.checked(scope, scoping.THREADS, tid)
        if must_exist and not await self.store.thread_exists(scope, tid):
            raise NotFound(f"no thread with id {tid!r}")
        return tid

    async def create(
        self,
        thread_id: str | None = None,
        messages: Sequence[inputs.Message] = (),
        metadata: dict[str, Any] | None = None,
    ) -> Thread:
        scope = scoping.current_scope()
        tid = (
            scoping.new_id()
            if thread_id is None
            else await self._thread_id(scope, thread_id, must_exist=False)
        )
        scoping.checked(scope, scoping.THREADS, tid)
        parsed = parse_messages(messages, self.max_chars)
        if not await self.store.insert_thread(scope, tid, thread_metadata(metadata)):
            raise Conflict(f"a thread with id {tid!r} already exists; add messages to it instead")
        if parsed:
            await self.store.add_messages(scope, tid, parsed, create=False)
        return await self.get(tid)

    async def add_messages(
        self,
        thread_id: str | None,
        messages: Sequence[inputs.Message],
        metadata: dict[str, Any] | None = None,
        *,
        create: bool = True,
    ) -> AddMessagesResult:
        """Add messages, creating the thread if it does not exist yet (as the LangMem API does)."""
        scope = scoping.current_scope()
        tid = (
            scoping.new_id()
            if thread_id is None
            else await self._thread_id(scope, thread_id, must_exist=False)
        )
        redacted: set[str] = set()
        parsed = parse_messages(messages, self.max_chars, redacted)
        if not parsed:
            raise InvalidInput("messages must contain at least one message")
        meta = thread_metadata(metadata) if metadata is not None else None
        ok, added, duplicates = await self.store.add_messages(
            scope, tid, parsed, create=create, thread_metadata=meta
        )
        if not ok:
            raise NotFound(f"no thread with id {tid!r}")
        return AddMessagesResult(
            thread_id=tid,
            added=len(added),
            duplicates=duplicates,
            message_ids=added,
            redacted=sorted(redacted),
        )

    async def get(self, thread_id: Any) -> Thread:
        scope = scoping.current_scope()
        tid = await self._thread_id(scope, thread_id, must_exist=False)
        row = await self.store.get_thread(scope, tid)
        if row is None:
            raise NotFound(f"no thread with id {tid!r}")
        return to_thread(row)

    async def list(self, limit: Any = None, cursor: Any = None, *, maximum: int = 1000) -> ThreadList:
        """Newest first."""
        scope = scoping.current_scope()
        n = page_limit(limit, maximum, maximum)
        before = None
        if cursor not in (None, ""):
            try:
                before = int(str(cursor))
            except ValueError as exc:
                raise InvalidInput(f"cursor {str(cursor)[:40]!r} is not one this server issued") from exc
        rows = await self.store.list_threads(scope, before, n + 1)
        more = len(rows) > n
        rows = rows[:n]
        return ThreadList(
            threads=[to_thread(r) for r in rows], next_cursor=str(rows[-1].rowid) if more else None
        )

    async def list_messages(
        self,
        thread_id: Any,
        response_format: Any = None,
        ascending_order: Any = None,
        page_size: Any = None,
        cursor: Any = None,
        limit: Any = None,
    ) -> MessagePage:
        """One page of a thread's messages, in conversation order (`ascending_order=False`:
        newest first). `limit` caps this page like `page_size` does."""
        scope = scoping.current_scope()
        tid = await self._thread_id(scope, thread_id)
        fmt = "openai" if response_format is None else response_format
        if fmt not in ("openai", "langmem"):
            raise InvalidInput(f"response_format must be 'openai' or 'langmem', not {str(fmt)[:40]!r}")
        ascending = True if ascending_order is None else ascending_order
        if not isinstance(ascending, bool):
            raise InvalidInput("ascending_order must be true or false")
        size = page_limit(page_size, DEFAULT_PAGE, MAX_PAGE)
        if limit is not None:
            size = min(size, page_limit(limit, DEFAULT_PAGE, MAX_PAGE))
        after = None
        if cursor not in (None, ""):
            if not isinstance(cursor, str):
                raise InvalidInput("cursor must be a string")
            after = _decode_cursor(cursor)
        rows = await self.store.messages_page(scope, tid, ascending, after, size + 1)
        more = len(rows) > size
        rows = rows[:size]
        return MessagePage(
            messages=[render_message(r, fmt) for r in rows],
            next_cursor=_encode_cursor(rows[-1]) if more and rows else None,
        )

    # -- thread state ------------------------------------------------------------------------------
    @staticmethod
    def _key(key: Any) -> str:
        if key is None:
            return ""
        if not isinstance(key, str) or len(key) > MAX_KEY:
            raise InvalidInput(f"key must be a string of at most {MAX_KEY} characters")
        return key

    async def set_state(self, thread_id: Any, state: Any, key: Any = None) -> ThreadState:
        scope = scoping.current_scope()
        tid = await self._thread_id(scope, thread_id)
        k = self._key(key)
        if state is None:
            raise InvalidInput("state is required (a JSON object)")
        try:
            encoded = json.dumps(state, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise InvalidInput(f"state is not plain JSON: {exc}") from exc
        if len(encoded) > self.max_chars:
            raise InvalidInput(f"state is {len(encoded)} characters of JSON; the limit is {self.max_chars}")
        updated = await self.store.set_thread_state(scope, tid, k, state)
        return ThreadState(thread_id=tid, key=key, state=state, updated_at=updated)

    async def get_state(self, thread_id: Any, key: Any = None) -> ThreadState:
        """The state stored under `key` (or without one); `state` is null if none was stored."""
        scope = scoping.current_scope()
        tid = await self._thread_id(scope, thread_id)
        found = await self.store.get_thread_state(scope, tid, self._key(key))
        if found is None:
            return ThreadState(thread_id=tid, key=key, state=None, updated_at=None)
        return ThreadState(thread_id=tid, key=key, state=found[0], updated_at=found[1])
