"""Prompt templates as files, so users can read and tune every prompt the server sends.

Templates are ``<name>.md`` files using ``string.Template`` placeholders (``$name`` or
``${name}``; ``$$`` is a literal dollar). That syntax leaves the JSON braces common in
prompts alone. The shipped templates live in ``langmem_mcp/prompts`` when installed (the
wheel packs the repository's top-level ``prompts/`` there) or in ``<repo>/prompts``; files
with the same name in ``Settings.prompts_dir`` override them. Code declares, next to where
it renders a template, which placeholders it requires and which it may fill; an edit that
breaks that contract (or the placeholder syntax) is refused and the last good text stays.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

logger = logging.getLogger(__name__)

SUFFIX = ".md"


@dataclass(frozen=True)
class PromptRef:
    """A template's name and its placeholder contract."""

    name: str
    required: frozenset[str]
    optional: frozenset[str] = frozenset()


_DECLARED: dict[str, PromptRef] = {}


def declare(name: str, *required: str, optional: Iterable[str] = ()) -> PromptRef:
    """Declare the placeholders of template ``name``; call it next to the code rendering it."""
    ref = PromptRef(name, frozenset(required), frozenset(optional))
    _DECLARED[name] = ref
    return ref


def declared() -> dict[str, PromptRef]:
    return dict(_DECLARED)


def shipped_dir() -> Path:
    """The shipped templates: package data when installed, else the repository's ``prompts/``."""
    try:
        packaged = importlib.resources.files("langmem_mcp") / "prompts"
        if packaged.is_dir():
            return Path(str(packaged))
    except (ModuleNotFoundError, NotADirectoryError, TypeError):
        pass
    return Path(__file__).resolve().parents[2] / "prompts"


def check_template(text: str, ref: PromptRef | None) -> str | None:
    """Why ``text`` cannot serve as ``ref``'s template, or None if it can."""
    template = Template(text)
    if not template.is_valid():
        return "broken placeholder syntax (use $name or ${name}; write $$ for a literal $)"
    if ref is None:
        return None
    found = set(template.get_identifiers())
    missing = sorted(ref.required - found)
    if missing:
        return "missing required placeholder(s): " + ", ".join("$" + m for m in missing)
    unknown = sorted(found - ref.required - ref.optional)
    if unknown:
        allowed = sorted(ref.required | ref.optional)
        return (
            "unknown placeholder(s): "
            + ", ".join("$" + u for u in unknown)
            + "; allowed: "
            + (", ".join("$" + a for a in allowed) or "none")
            + " (write $$ for a literal $)"
        )
    return None


class PromptLibrary:
    """Loaded templates, with the user's directory overriding the shipped one by file name."""

    def __init__(
        self,
        user_dir: Path | None = None,
        shipped: Path | None = None,
        *,
        debounce_ms: int = 300,
        force_polling: bool | None = None,
    ) -> None:
        self.user_dir = Path(user_dir).expanduser() if user_dir else None
        self.shipped = Path(shipped) if shipped else shipped_dir()
        self.debounce_ms = debounce_ms
        self.force_polling = force_polling
        self._good: dict[str, tuple[str, Path]] = {}
        self.problems: dict[str, str] = {}  # name -> why its file was refused
        self.reloads = 0  # bumped after every reload, so callers and tests can wait on it
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self.load()

    # ---- loading ----

    def _dirs(self) -> list[Path]:
        return [d for d in (self.shipped, self.user_dir) if d is not None and d.is_dir()]

    def names(self) -> list[str]:
        found = {p.stem for d in self._dirs() for p in d.glob("*" + SUFFIX)}
        return sorted(found | set(self._good))

    def load(self, names: Iterable[str] | None = None) -> None:
        """(Re)load templates; a refused file keeps the previous good text (or the shipped one)."""
        for name in sorted(set(names) if names is not None else set(self.names())):
            self._load_one(name)
        self.reloads += 1

    def _candidates(self, name: str) -> list[Path]:
        paths = []
        if self.user_dir is not None:
            paths.append(self.user_dir / (name + SUFFIX))
        paths.append(self.shipped / (name + SUFFIX))
        return [p for p in paths if p.is_file()]

    def _load_one(self, name: str) -> None:
        ref = _DECLARED.get(name)
        candidates = self._candidates(name)
        if not candidates:
            if name in self._good:
                logger.warning("prompt %r: its file is gone; keeping the last loaded text", name)
            return
        first = candidates[0]
        problem: str | None
        for path in candidates:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                problem = f"cannot read {path}: {exc}"
            else:
                problem = check_template(text, ref)
                if problem is None:
                    if path == first or name not in self._good:
                        self._good[name] = (text, path)
                    if path == first:
                        self.problems.pop(name, None)
                    return
            if path == first:
                self.problems[name] = f"{path}: {problem}"
                kept = self._good.get(name)
                logger.warning(
                    "prompt %r: refused %s: %s; %s",
                    name,
                    path,
                    problem,
                    f"keeping the last good text from {kept[1]}" if kept else "trying the shipped one",
                )
                if kept is not None:
                    return

    # ---- use ----

    def text(self, name: str) -> str:
        try:
            return self._good[name][0]
        except KeyError:
            raise KeyError(
                f"no prompt template named {name!r} in {self.shipped} or {self.user_dir}"
            ) from None

    def source(self, name: str) -> Path:
        return self._good[name][1]

    def render(self, ref: PromptRef | str, /, **values: Any) -> str:
        """Fill a template; optional placeholders not given render as empty text."""
        if isinstance(ref, str):
            ref = _DECLARED.get(ref) or PromptRef(ref, frozenset())
        text = self.text(ref.name)
        problem = check_template(text, ref) if ref.required or ref.optional else None
        if problem is not None:  # declared after this library loaded: fall back to the shipped text
            shipped = self.shipped / (ref.name + SUFFIX)
            text = shipped.read_text(encoding="utf-8") if shipped.is_file() else text
            if check_template(text, ref) is not None:
                raise ValueError(f"prompt {ref.name!r} is unusable: {problem}")
        missing = ref.required - set(values)
        if missing:
            raise ValueError(f"prompt {ref.name!r} needs values for {sorted(missing)}")
        filled = {k: "" for k in ref.optional}
        filled.update({k: "" if v is None else str(v) for k, v in values.items()})
        return Template(text).substitute(filled)

    # ---- hot reload ----

    async def start(self) -> None:
        """Watch the template directories and reload on edits, in a background task."""
        if self._task is not None:
            return
        dirs = self._dirs()
        if not dirs:
            return
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._watch(dirs), name="prompt-library-watch")
        self.load()  # an edit made between the first load and the watch is not lost

    async def stop(self) -> None:
        if self._task is None:
            return
        assert self._stop is not None
        self._stop.set()
        try:
            await asyncio.wait_for(self._task, timeout=5)
        except (TimeoutError, asyncio.CancelledError):
            self._task.cancel()
        self._task = None

    async def _watch(self, dirs: list[Path]) -> None:
        from watchfiles import awatch  # imported here: only servers that watch pay for it

        try:
            async for changes in awatch(
                *dirs,
                stop_event=self._stop,
                debounce=self.debounce_ms,
                step=50,
                recursive=False,
                force_polling=self.force_polling,
            ):
                names = {Path(p).stem for _, p in changes if p.endswith(SUFFIX)}
                if names:
                    self.load(names)
                    logger.info("reloaded prompt templates: %s", ", ".join(sorted(names)))
        except Exception:  # a dead watcher must not take the server down; templates stay loaded
            logger.exception("prompt template watcher stopped")


_default: PromptLibrary | None = None


def default_library() -> PromptLibrary:
    """The shipped templates without watching: for callers that were given no library."""
    global _default
    if _default is None:
        _default = PromptLibrary()
    return _default
