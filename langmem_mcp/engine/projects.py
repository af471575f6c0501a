"""Which project a session belongs to, and where that project's memories live.

A project is named after the root of the git repository holding the session's working directory
(a `.git` directory, or the `.git` file of a worktree), else after the directory itself. Its
memories live under ``["projects", <name>]`` and the turns of its captured conversations under
``["projects", <name>, "conversations"]``. Two repositories with the same name share a project.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

PROJECTS = "projects"
CONVERSATIONS = "conversations"
MAX_NAME = 128


def project_root(cwd: str | Path) -> Path:
    """The nearest enclosing git work tree of ``cwd``, else ``cwd`` itself."""
    start = Path(cwd).expanduser().absolute()
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def clean_name(name: str) -> str:
    """A name usable as one namespace segment: no '/', no control characters, at most 128 chars."""
    kept = "".join(
        "-" if ch in "/\\" or unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in name.strip()
    )
    return kept.strip()[:MAX_NAME].strip()


def project_name(cwd: str | Path | None) -> str | None:
    """The project of a working directory; None for no directory, a filesystem root or the home
    directory (a host started there works on no project in particular)."""
    if not cwd:
        return None
    root = project_root(cwd)
    if root == Path.home().absolute():
        return None
    name = clean_name(root.name)
    return name or None


def project_namespace(project: str) -> list[str]:
    return [PROJECTS, project]


def conversation_namespace(project: str) -> list[str]:
    return [PROJECTS, project, CONVERSATIONS]
