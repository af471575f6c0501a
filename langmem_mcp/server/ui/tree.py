"""The namespace tree of the memory browser: counts per node, and names that look alike.

A misspelt namespace looks exactly like an empty store, so the tree marks what a person should
look at twice: siblings whose names differ only in case, separators or a plural 's', or by one
typed character ("project-x" / "project_x" / "projectx" / "projcet-x"), and nodes that hold no
memories of their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

#: Above this many siblings, only the cheap same-spelling check runs (edit distance is pairwise).
MAX_PAIRWISE = 400
_SEPARATORS = re.compile(r"[\s_\-.:]+")


@dataclass
class Node:
    name: str
    key: str  # the namespace, segments joined by "/"
    own: int = 0  # memories in exactly this namespace
    total: int = 0  # in this namespace and below
    children: list[Node] = field(default_factory=list)
    #: Sibling names this one may be a misspelling of.
    looks_like: list[str] = field(default_factory=list)
    #: Shown although it holds nothing (e.g. the default namespace).
    placeholder: bool = False

    @property
    def empty(self) -> bool:
        return self.own == 0


def build(counts: dict[str, int], extra: Iterable[str] = ()) -> list[Node]:
    """The forest of namespaces (keys "a/b") with their counts; `extra` keys are shown even
    when nothing is stored there."""
    root = Node("", "")
    index: dict[str, Node] = {"": root}

    def node(key: str) -> Node:
        found = index.get(key)
        if found is not None:
            return found
        parent_key, _, name = key.rpartition("/")
        made = Node(name, key)
        node(parent_key).children.append(made)
        index[key] = made
        return made

    for key, n in counts.items():
        node(key).own = n
    for key in extra:
        if counts.get(key, 0) == 0:
            node(key).placeholder = True
    _total(root)
    _mark_lookalikes(root)
    return root.children


def _total(n: Node) -> int:
    n.children.sort(key=lambda c: c.name.casefold())
    n.total = n.own + sum(_total(c) for c in n.children)
    return n.total


def normal(name: str) -> str:
    """What a name is once case, separators and a plural 's' are ignored."""
    flat = _SEPARATORS.sub("", name.casefold())
    return flat[:-1] if len(flat) > 3 and flat.endswith("s") else flat


def within_one_edit(a: str, b: str) -> bool:
    """True if one insertion, deletion, substitution or swap of neighbours turns a into b."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1 :]


def _distinct_tag(a: str, b: str) -> bool:
    """Names that differ in one short or numeric word ("project-x" / "project-y", "v1" / "v2")
    are deliberate, not typos."""
    wa, wb = _SEPARATORS.split(a.casefold()), _SEPARATORS.split(b.casefold())
    if len(wa) != len(wb):
        return False
    diff = [(x, y) for x, y in zip(wa, wb, strict=True) if x != y]
    if len(diff) != 1:
        return False
    x, y = diff[0]
    return (
        min(len(x), len(y)) <= 2
        or (x.isdigit() and y.isdigit())
        or x.rstrip("0123456789") == y.rstrip("0123456789")
    )


def _mark_lookalikes(n: Node) -> None:
    kids = n.children
    forms = [normal(c.name) for c in kids]
    by_form: dict[str, list[int]] = {}
    for i, f in enumerate(forms):
        by_form.setdefault(f, []).append(i)
    for group in by_form.values():
        for i in group:
            kids[i].looks_like += [kids[j].name for j in group if j != i]
    if len(kids) <= MAX_PAIRWISE:
        for i in range(len(kids)):
            for j in range(i + 1, len(kids)):
                a, b = forms[i], forms[j]
                if (
                    a != b
                    and min(len(a), len(b)) >= 4
                    and within_one_edit(a, b)
                    and not _distinct_tag(kids[i].name, kids[j].name)
                ):
                    kids[i].looks_like.append(kids[j].name)
                    kids[j].looks_like.append(kids[i].name)
    for c in kids:
        _mark_lookalikes(c)


def flatten(nodes: list[Node], depth: int = 0) -> list[tuple[int, Node]]:
    """The tree in display order, each node with its depth."""
    out: list[tuple[int, Node]] = []
    for n in nodes:
        out.append((depth, n))
        out += flatten(n.children, depth + 1)
    return out
