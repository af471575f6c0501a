"""Thread summaries: by the model when there is one, else extractively on this machine.

The extractive summary keeps LangMem's ``thread_summary`` useful with no LLM at all: it
picks the sentences closest to the thread's centroid while avoiding repeats (MMR), so a
summary exists offline and is honestly labelled ``"method": "extractive"``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langmem_mcp.engine.extraction import render_conversation, schema_errors, to_json
from langmem_mcp.llm.base import LLM, ToolSpec
from langmem_mcp.llm.prompts import PromptLibrary, declare, default_library
from langmem_mcp.llm.structured import Invalid, find_json, prose, structured_call

if TYPE_CHECKING:
    import numpy as np

Embed = Callable[[list[str]], "np.ndarray"]

SUMMARY_SYSTEM = declare("summarize_thread", "instructions", "schema")
SUMMARY_INPUT = declare("summarize_thread_input", "conversation")

DEFAULT_SUMMARY_SCHEMA: dict[str, Any] = {
    "title": "ConversationSummary",
    "type": "object",
    "properties": {
        "title": {"type": "string", "description": "A short title, distinct for this conversation."},
        "summary": {"type": "string", "description": "A high-level summary of the interactions."},
        "topics": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Tags for the topics discussed.",
        },
    },
    "required": ["title", "summary", "topics"],
}
DEFAULT_INSTRUCTIONS = "Summarize the conversation so it can be recalled later without rereading it."
SUMMARY_TOOL = "write_summary"


async def summarize_thread(
    messages: Sequence[Mapping[str, Any]],
    *,
    llm: LLM | None = None,
    embed: Embed | None = None,
    schema: Mapping[str, Any] | None = None,
    instructions: str | None = None,
    max_sentences: int = 5,
    max_steps: int = 2,
    prompts: PromptLibrary | None = None,
    procedure: str = "summarize_thread",
) -> dict[str, Any]:
    """A summary object following ``schema`` (default: title, summary, topics) plus ``method``.

    With ``llm=None`` the summary is extractive (default fields only) and uses ``embed``
    (rows L2-normalised) or, without it, a bag-of-words hashing embedding.
    """
    if llm is None:
        return extractive_summary(messages, embed, max_sentences=max_sentences)
    lib = prompts or default_library()
    target = dict(schema or DEFAULT_SUMMARY_SCHEMA)
    target.setdefault("type", "object")
    system = lib.render(
        SUMMARY_SYSTEM, instructions=instructions or DEFAULT_INSTRUCTIONS, schema=to_json(target)
    )
    history: list[dict[str, Any]] = [
        {"role": "user", "content": lib.render(SUMMARY_INPUT, conversation=render_conversation(messages))}
    ]
    tool = ToolSpec(SUMMARY_TOOL, "Record the summary of the conversation.", target)

    def judge(fields: dict[str, Any]) -> dict[str, Any]:
        errors = schema_errors(target, fields)
        if errors:
            raise Invalid("; ".join(errors))
        out = dict(fields)
        out.setdefault("method", "llm")
        return out

    return await structured_call(
        llm,
        system,
        history,
        tool,
        judge,
        max_attempts=max_steps,
        procedure=procedure,
        read_text=lambda text: summary_from_text(text, target),
        what="summary",
        feedback="Error: the summary does not follow the schema: {problem}",
    )


def summary_from_text(text: str, target: Mapping[str, Any]) -> dict[str, Any] | None:
    """A summary written as text, as the fields of ``target``: the prose is the summary, its
    heading or first sentence the title, its frequent words the topics. Lines labelled with
    the schema's fields ("Title: ...", "Topics: a, b") fill those fields instead.

    Only the fields ``target`` has are given, so a schema needing others fails validation,
    and the model is told what is missing.
    """
    body = prose(text)
    if not body:  # JSON, but not the summary's fields: validated, so the model hears why
        found = find_json(text)
        return found.value if isinstance(found.value, dict) else None
    props = target.get("properties")
    props = props if isinstance(props, Mapping) else {}
    fields = _labelled(body, props)
    if not fields:
        title, summary = _title_and_body(body)
        fields = {"title": title, "summary": summary}
    written = fields.get("summary")
    if isinstance(written, str) and written:
        fields.setdefault("title", _title_and_body(written)[0])
        fields.setdefault("topics", _topics(_SENTENCE.split(written)))
    return {k: v for k, v in fields.items() if k in props} if props else fields


_LABEL = re.compile(r"^[\s*_#>-]*([A-Za-z][A-Za-z _-]{0,40}?)[\s*_]*:[\s*_]*(.*)$")
_ITEM_MARK = re.compile(r"^[\s*•#-]+|[\s*]+$")


def _labelled(body: str, props: Mapping[str, Any]) -> dict[str, Any]:
    """Fields from lines such as "Title: ..." naming properties of the schema (two at least)."""
    names = {re.sub(r"[\s-]+", "_", str(k).lower()): str(k) for k in props}
    lines: dict[str, list[str]] = {}
    current: str | None = None
    for line in body.splitlines():
        match = _LABEL.match(line)
        key = names.get(re.sub(r"[\s-]+", "_", match.group(1).strip().lower())) if match else None
        if match and key is not None:
            current = key
            lines[key] = [match.group(2).strip()]
        elif current is not None:
            lines[current].append(line.strip())
    if len(lines) < 2:
        return {}
    fields: dict[str, Any] = {}
    for key, parts in lines.items():
        spec = props[key] if isinstance(props[key], Mapping) else {}
        if spec.get("type") == "array":
            items = (_ITEM_MARK.sub("", i) for part in parts for i in re.split(r"[,;]", part))
            fields[key] = [i for i in items if i]
            continue
        value = "\n".join(p for p in parts if p).strip()
        if spec.get("type") in ("number", "integer", "boolean"):
            try:
                fields[key] = json.loads(value.lower())
                continue
            except ValueError:
                pass
        fields[key] = value
    return fields


def _title_and_body(text: str, limit: int = 60) -> tuple[str, str]:
    """A title for ``text`` (its heading, else its first sentence, at most ``limit`` characters)
    and the text it titles (without the heading)."""
    first, _, rest = text.strip().partition("\n")
    first = first.strip()
    heading = first.startswith("#") or (first.startswith("**") and first.endswith("**") and len(first) > 4)
    if heading and rest.strip():
        title, text = first, rest.strip()
    else:
        title = _SENTENCE.split(first)[0]
    title = " ".join(title.split()).strip("#*_ ").rstrip(".!?:;, ")
    if len(title) > limit:
        title = title[: limit - 1].rsplit(" ", 1)[0].rstrip(",;: ") + "…"
    return title, text


# ---- extractive ----

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'’-]+")
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just know
    like me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own really same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who whom
    why will with would you your yours yourself yourselves yes yeah okay ok oh hi hello hey thanks thank
    great good sure well that's it's i'm don't i've you're get got let one going want think""".split()
)


def hashing_embed(texts: list[str], dim: int = 512) -> np.ndarray:
    """Deterministic bag-of-words (+ bigrams) hashing embedding, rows L2-normalised."""
    import numpy as np

    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, text in enumerate(texts):
        words = [w.lower() for w in _WORD.findall(text) if w.lower() not in STOPWORDS]
        for token in words + [a + " " + b for a, b in zip(words, words[1:], strict=False)]:
            h = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")
            out[i, h % dim] += 1.0 if h & (1 << 63) else -1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1.0, norms)


def split_sentences(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    """Sentences of the thread, each prefixed with its speaker so the summary keeps who said what."""
    from langmem_mcp.engine.extraction import message_text

    out = []
    for m in messages:
        speaker = str(m.get("name") or m.get("role") or "user")
        for part in _SENTENCE.split(message_text(m.get("content"))):
            part = " ".join(part.split())
            if part:
                out.append(f"{speaker}: {part}")
    return out


def extractive_summary(
    messages: Sequence[Mapping[str, Any]],
    embed: Embed | None = None,
    *,
    max_sentences: int = 5,
    diversity: float = 0.3,
) -> dict[str, Any]:
    """Centroid + MMR sentence selection; title from the most central sentence, topics by frequency."""
    import numpy as np

    sentences = split_sentences(messages)
    if not sentences:
        return {"title": "Empty conversation", "summary": "", "topics": [], "method": "extractive"}
    content = [s.split(": ", 1)[1] for s in sentences]
    # statements of three words or more; questions and greetings carry little to remember
    pool = [i for i, c in enumerate(content) if len(_WORD.findall(c)) >= 3 and not c.endswith("?")]
    pool = (
        pool
        or [i for i, c in enumerate(content) if len(_WORD.findall(c)) >= 3]
        or list(range(len(sentences)))
    )
    vectors = np.asarray((embed or hashing_embed)([sentences[i] for i in pool]), dtype=np.float32)
    centroid = vectors.mean(axis=0)
    norm = float(np.linalg.norm(centroid))
    relevance = vectors @ (centroid / norm) if norm > 0 else np.zeros(len(pool))
    chosen: list[int] = []
    while len(chosen) < min(max_sentences, len(pool)):
        best, best_score = -1, -np.inf
        for j in range(len(pool)):
            if j in chosen:
                continue
            redundancy = max((float(vectors[j] @ vectors[k]) for k in chosen), default=0.0)
            score = (1 - diversity) * float(relevance[j]) - diversity * redundancy
            if score > best_score:
                best, best_score = j, score
        chosen.append(best)
    central = content[pool[int(np.argmax(relevance))]]
    summary = " ".join(sentences[pool[j]] for j in sorted(chosen))
    return {"title": _title(central), "summary": summary, "topics": _topics(content), "method": "extractive"}


def _title(sentence: str, limit: int = 60) -> str:
    sentence = sentence.rstrip(".!? ")
    if len(sentence) <= limit:
        return sentence
    cut = sentence[:limit].rsplit(" ", 1)[0]
    return cut + "…"


def _topics(texts: Sequence[str], k: int = 5) -> list[str]:
    counts: Counter[str] = Counter()
    for text in texts:
        words = dict.fromkeys(w.lower().strip("'’-") for w in _WORD.findall(text))  # in order: ties stay put
        counts.update(w for w in words if len(w) > 2 and w not in STOPWORDS)
    return [w for w, n in counts.most_common(k) if n > 0]
