"""Secrets are never kept: what is redacted before it is stored, and where a user keeps them.

Every write path calls this before its rows are written (engine.redaction does the finding):

- memories, whoever writes them (manage_memory, REST, import, formation, the LLM procedures):
  content and metadata, unless the namespace lies under a prefix of ``keep_secrets_in``
  (``LANGMEM_MCP_KEEP_SECRETS_IN``), the opt-out for users who want a secret remembered;
- thread messages (content and metadata), formed user and thread state, prompt versions: always.
  Conversation text is what automatic capture stores unread, so it has no opt-out.

``STORED`` names the columns that hold such text, for import and ``scan-secrets``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from langmem_mcp.engine import namespaces
from langmem_mcp.engine.redaction import added_kinds, redact, redact_value

if TYPE_CHECKING:
    from langmem_mcp.store.memories import NewMemory

__all__ = [
    "STORED",
    "SecretPolicy",
    "message_dedup_key",
    "redact_text",
    "redact_value",
    "union",
]


def redact_text(text: str) -> tuple[str, tuple[str, ...]]:
    """``text`` fit to store, and the kinds that were taken out of it."""
    out = redact(text).text
    return out, added_kinds(text, out)


@dataclass(frozen=True)
class SecretPolicy:
    """Which memories are redacted: all but those in namespaces under ``keep_in`` (stored keys)."""

    keep_in: tuple[str, ...] = ()

    @classmethod
    def of(cls, settings: Any) -> SecretPolicy:
        return cls(tuple(settings.keep_secrets_prefixes))

    def keeps(self, namespace: str) -> bool:
        """Whether the user asked for secrets in this namespace (its stored key) to be kept."""
        return any(namespaces.is_under(namespace, p) for p in self.keep_in)

    def text(self, namespace: str, text: str) -> tuple[str, tuple[str, ...]]:
        """A memory's content as it may be stored in ``namespace``, and the kinds taken out."""
        return (text, ()) if self.keeps(namespace) else redact_text(text)

    def value(self, namespace: str, value: Any) -> tuple[Any, tuple[str, ...]]:
        """A memory's metadata as it may be stored in ``namespace``, and the kinds taken out."""
        return (value, ()) if not value or self.keeps(namespace) else redact_value(value)

    def memories(self, new: Sequence[NewMemory]) -> tuple[list[NewMemory], list[tuple[str, ...]]]:
        """New memories as they may be stored, and the kinds taken out of each."""
        out, kinds = [], []
        for m in new:
            content, in_content = self.text(m.namespace, m.content)
            metadata, in_metadata = self.value(m.namespace, m.metadata)
            changed = content != m.content or metadata != m.metadata
            out.append(replace(m, content=content, metadata=metadata) if changed else m)
            kinds.append(union(in_content, in_metadata))
        return out, kinds

    def change(
        self, namespace: str, content: str | None, metadata: dict[str, Any] | None
    ) -> tuple[str | None, dict[str, Any] | None, tuple[str, ...]]:
        """An update's new content and metadata (None: unchanged) as they may be stored."""
        in_content: tuple[str, ...] = ()
        if content is not None:
            content, in_content = self.text(namespace, content)
        metadata, in_metadata = self.value(namespace, metadata)
        return content, metadata, union(in_content, in_metadata)


def union(*kinds: Sequence[str]) -> tuple[str, ...]:
    return tuple(sorted({k for ks in kinds for k in ks}))


def message_dedup_key(timestamp: str, content: Any) -> str:
    """What makes a message with a timestamp a duplicate in its thread: a hash of the timestamp and
    the content as stored (redacted, so the hash is not one of a secret's text)."""
    raw = timestamp + "\x00" + json.dumps(content, sort_keys=True)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


Encoding = Literal["text", "json"]

#: Where text that must hold no secret is stored beside the memories: table → its text columns
#: (plain text, or JSON whose strings are redacted one by one). Memories themselves are written
#: through MemoryService, which keeps their FTS index, contexts and vectors in step.
STORED: dict[str, dict[str, Encoding]] = {
    "svc_messages": {"content": "json", "metadata": "json"},
    "svc_states": {"state": "json"},
    "prompt_versions": {"prompt": "text", "analysis": "text"},
}


def redact_column(raw: Any, encoding: Encoding) -> tuple[Any, tuple[str, ...]]:
    """A stored column's value (JSON columns as their text) redacted, and the kinds taken out."""
    if not isinstance(raw, str):
        return raw, ()
    if encoding == "text":
        return redact_text(raw)
    try:
        value = json.loads(raw)
    except ValueError:  # not JSON after all: redact it as text
        return redact_text(raw)
    clean, kinds = redact_value(value)
    return (raw if clean == value else json.dumps(clean, ensure_ascii=False)), kinds


def redact_row(
    table: str, values: dict[str, Any], columns: Mapping[str, Encoding] | None = None
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """A row of ``table`` (column → stored value) fit to store, for import and scan-secrets; its text
    columns are ``columns``, by default those ``STORED`` names.

    A message's dedup key is a hash of its content: when the content changes it is recomputed from
    the redacted content, so no hash of the secret's text stays behind.
    """
    columns = STORED.get(table) if columns is None else columns
    if not columns:
        return values, ()
    out = dict(values)
    kinds: set[str] = set()
    for column, encoding in columns.items():
        if column in out:
            out[column], found = redact_column(out[column], encoding)
            kinds.update(found)
    changed = any(out.get(c) != values.get(c) for c in columns)
    if changed and table == "svc_messages" and out.get("dedup_key") and isinstance(out.get("timestamp"), str):
        try:
            content = json.loads(out["content"])
        except (TypeError, ValueError):
            content = out["content"]
        out["dedup_key"] = message_dedup_key(out["timestamp"], content)
    return out, tuple(sorted(kinds))
