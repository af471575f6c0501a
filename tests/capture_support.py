"""For the capture tests: Claude Code session transcripts written the way the CLI writes them (one
JSON object per line: prompts and answers, and the lines capture must leave out: tool calls and
results, thinking, system reminders, command output), and the capture workers still running."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Transcript:
    """A growing session file: each call appends lines (optionally without the last newline)."""

    def __init__(self, path: Path, cwd: Path, session_id: str | None = None) -> None:
        self.path = path
        self.cwd = str(cwd)
        self.session_id = session_id or str(uuid.uuid4())
        self.n = 0
        self.ids: list[str] = []  # uuids of the lines capture keeps, in order
        path.parent.mkdir(parents=True, exist_ok=True)

    def _line(self, kind: str, message: dict[str, Any], **extra: Any) -> dict[str, Any]:
        self.n += 1
        return {
            "parentUuid": None,
            "isSidechain": False,
            "type": kind,
            "message": message,
            "uuid": str(uuid.uuid4()),
            "timestamp": (START + timedelta(seconds=self.n)).isoformat().replace("+00:00", "Z"),
            "cwd": self.cwd,
            "sessionId": self.session_id,
            "version": "2.1.332",
            **extra,
        }

    def write(self, *lines: dict[str, Any], newline_at_end: bool = True) -> None:
        text = "\n".join(json.dumps(line) for line in lines)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text + ("\n" if newline_at_end else ""))

    def user(self, text: str) -> dict[str, Any]:
        line = self._line("user", {"role": "user", "content": text})
        self.ids.append(line["uuid"])
        return line

    def assistant(self, text: str) -> dict[str, Any]:
        content = [{"type": "text", "text": text}]
        line = self._line("assistant", {"role": "assistant", "model": "claude-opus-5-5", "content": content})
        self.ids.append(line["uuid"])
        return line

    # lines capture leaves out
    def tool_call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        block = {"type": "tool_use", "id": f"toolu_{self.n}", "name": name, "input": arguments}
        return self._line("assistant", {"role": "assistant", "content": [block]})

    def tool_result(self, output: str) -> dict[str, Any]:
        block = {"type": "tool_result", "tool_use_id": f"toolu_{self.n - 1}", "content": output}
        return self._line("user", {"role": "user", "content": [block]}, toolUseResult={"stdout": output})

    def thinking(self, text: str) -> dict[str, Any]:
        block = {"type": "thinking", "thinking": text, "signature": "x"}
        return self._line("assistant", {"role": "assistant", "content": [block]})

    def reminder(self, text: str) -> dict[str, Any]:
        return self._line("user", {"role": "user", "content": f"<system-reminder>{text}</system-reminder>"})

    def command_output(self, text: str) -> dict[str, Any]:
        return self._line(
            "user", {"role": "user", "content": f"<local-command-stdout>{text}</local-command-stdout>"}
        )

    def exchange(self, prompt: str, answer: str) -> None:
        self.write(self.user(prompt), self.assistant(answer))

    def hook_input(self, event: str, **extra: Any) -> dict[str, Any]:
        """What Claude Code sends a hook on stdin for this session."""
        return {
            "session_id": self.session_id,
            "transcript_path": str(self.path),
            "cwd": self.cwd,
            "hook_event_name": event,
            **extra,
        }


def workers_of(data: Path) -> list[int]:
    """Capture workers (`hook --worker`) still running for this data dir (read from Linux /proc)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = entry.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--worker" in argv and (str(data).encode() in argv or _env_data_dir(entry.parent) == str(data)):
            found.append(int(entry.parent.name))
    return found


def _env_data_dir(proc: Path) -> str | None:
    try:
        env = (proc / "environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in env:
        if item.startswith(b"LANGMEM_MCP_DATA_DIR="):
            return item.split(b"=", 1)[1].decode(errors="replace")
    return None
