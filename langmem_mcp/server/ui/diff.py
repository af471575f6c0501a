"""Line diffs between versions of an optimized prompt, as rows a template can show."""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    kind: str  # "same", "added", "removed", "skip"
    text: str


def lines(old: str, new: str, context: int = 3) -> list[Line]:
    """A unified diff of two texts (unchanged runs longer than 2*context shown as a skip)."""
    out: list[Line] = []
    a, b = old.splitlines(), new.splitlines()
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(context):
        if out:
            out.append(Line("skip", "…"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [Line("same", t) for t in a[i1:i2]]
                continue
            out += [Line("removed", t) for t in a[i1:i2]]
            out += [Line("added", t) for t in b[j1:j2]]
    return out
