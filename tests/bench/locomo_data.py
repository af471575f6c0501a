"""LoCoMo conversations as memories and questions (shared/data/locomo-dev, ACL 2024)."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "locomo-dev"
_SESSION = re.compile(r"session_(\d+)")
_DIA = re.compile(r"D\d+:\d+")


@dataclass(frozen=True)
class Turn:
    dia_id: str
    speaker: str
    text: str
    session: int
    date_time: str

    @property
    def memory(self) -> str:
        return f"{self.speaker}: {self.text}"


@dataclass(frozen=True)
class Question:
    question: str
    evidence: frozenset[str]
    category: int


@dataclass(frozen=True)
class Conversation:
    name: str
    turns: list[Turn]
    questions: list[Question]


@functools.cache
def load(data_dir: Path = DATA_DIR) -> list[Conversation]:
    """Every turn in order; questions of categories 1-4 whose evidence names turns that exist."""
    out = []
    for path in sorted(data_dir.glob("*.json")):
        raw = json.loads(path.read_text())
        sessions = sorted((int(m.group(1)), k) for k in raw if (m := _SESSION.fullmatch(k)))
        turns = [
            Turn(t["dia_id"], t["speaker"], t["text"], n, raw.get(f"{key}_date_time", ""))
            for n, key in sessions
            for t in raw[key]
        ]
        known = {t.dia_id for t in turns}
        questions = []
        for qa in raw["qa"]:
            if qa.get("category") == 5:
                continue
            evidence = frozenset(
                e for item in qa.get("evidence", []) for e in _DIA.findall(item) if e in known
            )
            if evidence:
                questions.append(Question(qa["question"], evidence, qa["category"]))
        out.append(Conversation(path.stem, turns, questions))
    return out


def recall(ranked: list[str], evidence: frozenset[str], k: int) -> float:
    return len(evidence & set(ranked[:k])) / len(evidence)


_COPY_MARK = re.compile(r" \[\d+\]$")


def original(text: str) -> str:
    """A numbered_turns text without its copy number: the turn it copies."""
    return _COPY_MARK.sub("", text)


def numbered_turns(n: int, data_dir: Path = DATA_DIR) -> list[str]:
    """n distinct turns as memories, in conversation order; past the last turn the turns come
    again, each marked with its copy number ("… [1]")."""
    convs = load(data_dir)
    out: list[str] = []
    copy = 0
    while len(out) < n:
        for conv in convs:
            for turn in conv.turns:
                out.append(turn.memory if copy == 0 else f"{turn.memory} [{copy}]")
                if len(out) == n:
                    return out
        copy += 1
    return out
