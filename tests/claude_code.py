"""Run the real Claude Code CLI headless (`claude -p`) against a scripted model on 127.0.0.1.

- ``ensure_claude()`` installs ``@anthropic-ai/claude-code`` (pinned) once with npm into
  ``~/.cache/langmem-mcp-tests/claude-code`` and returns the native binary, or ``None`` and a
  reason when npm is missing or the install fails (tests skip saying why).
- ``ScriptedModel`` is an Anthropic Messages API server: each conversation request Claude Code
  sends is answered, streamed as SSE (or as one JSON body when not streaming), by the next
  reply of its script (``say``/``call``/``calls``). Compaction requests get a canned summary
  and side requests (token counts, utility calls without tools or on small models) a short
  text, neither consuming the script. Every request is recorded.
- ``run_claude()`` runs ``claude -p PROMPT --output-format json`` with an isolated ``HOME``,
  pointed at the scripted model, and returns the parsed result.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.npm_cache import CACHE_ROOT, ensure_package

CLAUDE_CODE_VERSION = "2.1.332"
NAME = "@anthropic-ai/claude-code"
PACKAGE = f"{NAME}@{CLAUDE_CODE_VERSION}"
CACHE = CACHE_ROOT / "claude-code"
REPO = Path(__file__).resolve().parents[1]

_PLATFORM_PACKAGES = {
    ("linux", "x86_64"): "claude-code-linux-x64",
    ("linux", "aarch64"): "claude-code-linux-arm64",
    ("darwin", "x86_64"): "claude-code-darwin-x64",
    ("darwin", "arm64"): "claude-code-darwin-arm64",
}


# -- installing the CLI --------------------------------------------------------------------------


def _binary_in(prefix: Path) -> Path | None:
    """The native `claude` binary an npm install under ``prefix`` brought, if any."""
    scope = prefix / "node_modules" / "@anthropic-ai"
    machine = os.uname().machine if hasattr(os, "uname") else ""
    preferred = _PLATFORM_PACKAGES.get((sys.platform, machine))
    candidates = [scope / preferred / "claude"] if preferred else []
    candidates += sorted(scope.glob("claude-code-*/claude"))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


def ensure_claude(cache: Path = CACHE) -> tuple[Path | None, str]:
    """Install the pinned Claude Code once (reused across runs); return (binary, reason).

    ``$LANGMEM_TEST_CLAUDE`` names a binary to use instead. The binary is None, with the reason,
    when npm is missing or the install fails.
    """
    given = os.environ.get("LANGMEM_TEST_CLAUDE")
    if given:
        path = Path(given)
        return (path, "") if path.is_file() else (None, f"LANGMEM_TEST_CLAUDE={given} is not a file")
    why = ensure_package(cache, NAME, CLAUDE_CODE_VERSION)  # its file lock also orders this process's threads
    if why:
        return None, why
    binary = _binary_in(cache)
    if binary is None:
        return None, f"npm installed {PACKAGE} but no native claude binary for this platform"
    return binary, ""


# -- the scripted model --------------------------------------------------------------------------

_ids = itertools.count(1)


@dataclass(frozen=True)
class Reply:
    """One assistant message: content blocks and the stop reason."""

    content: tuple[dict[str, Any], ...]
    stop_reason: str = "end_turn"

    @property
    def tool_uses(self) -> list[dict[str, Any]]:
        return [b for b in self.content if b["type"] == "tool_use"]


def say(text: str) -> Reply:
    """A reply that answers with ``text`` and ends the turn."""
    return Reply(({"type": "text", "text": text},), "end_turn")


def call(name: str, input: Mapping[str, Any], *, preamble: str = "", id: str | None = None) -> Reply:
    """A reply that calls one tool (optionally after some text)."""
    return calls((name, input), preamble=preamble, ids=[id] if id else None)


def calls(
    *tools: tuple[str, Mapping[str, Any]], preamble: str = "", ids: Sequence[str] | None = None
) -> Reply:
    """A reply that calls several tools in one message, in order."""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": preamble}] if preamble else []
    for i, (name, input) in enumerate(tools):
        tool_id = ids[i] if ids else f"toolu_scripted_{next(_ids):04d}"
        blocks.append({"type": "tool_use", "id": tool_id, "name": name, "input": dict(input)})
    return Reply(tuple(blocks), "tool_use")


Script = Reply | Callable[[dict[str, Any]], Reply]


@dataclass
class Request:
    """One HTTP request the scripted model received, and how it was answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    kind: str  # "turn" (from the script), "unscripted", "compact", "side", "count_tokens", "other"
    reply: Reply | None = None
    status: int = 200

    @property
    def text(self) -> str:
        """Everything the model was sent in this request, as one string (for `in` checks)."""
        return json.dumps(self.body, ensure_ascii=False)

    @property
    def system_text(self) -> str:
        system = self.body.get("system") if isinstance(self.body, dict) else None
        if isinstance(system, str):
            return system
        return "\n".join(b.get("text", "") for b in system or [] if isinstance(b, dict))

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages", []) if isinstance(self.body, dict) else []

    def tool_results(self) -> list[dict[str, Any]]:
        """The tool_result blocks of this request's messages."""
        return [
            block
            for m in self.messages
            if isinstance(m.get("content"), list)
            for block in m["content"]
            if isinstance(block, dict) and block.get("type") == "tool_result"
        ]


def tool_result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, str):
        return content
    return "\n".join(c.get("text", "") for c in content or [] if isinstance(c, dict))


COMPACT_MARKER = "create a detailed summary of the conversation so far"
COMPACT_SUMMARY = (
    "<analysis>Scripted compaction.</analysis>\n"
    "<summary>1. Primary Request and Intent: scripted conversation (summary by the test model).</summary>"
)


def classify(body: Any) -> str:
    """How a /v1/messages request is answered: "turn" (the script), "compact" or "side".

    The agent loop always sends its tool list (Claude Code's own tools, ToolSearch among them)
    to the main model. Compaction (``/compact``, or automatic near the context limit) sends the
    same tools but ends with an instruction to summarize the conversation in
    ``<analysis>``/``<summary>`` blocks. Utility calls (titles, quota checks, classifiers) send
    no tools, a tiny ``max_tokens`` or go to a small (haiku) model.
    """
    if not isinstance(body, dict):
        return "side"
    if not body.get("tools") or "haiku" in str(body.get("model", "")).lower():
        return "side"
    if (body.get("max_tokens") or 0) <= 64:
        return "side"
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    if last.get("role") == "user" and COMPACT_MARKER in json.dumps(last.get("content"), ensure_ascii=False):
        return "compact"
    return "turn"


class ScriptedModel:
    """A Messages API on 127.0.0.1 that answers conversation turns from a script.

    ``script`` holds one ``Reply`` (or a callable getting the request body and returning one)
    per conversation request, in order. A conversation request arriving with the script used up
    gets a 400 ``invalid_request_error`` naming the problem, so the CLI fails fast and says so.
    Compaction requests get ``compact_reply`` and side requests ``side_reply`` (see ``classify``);
    neither consumes the script.
    """

    def __init__(
        self,
        script: Iterable[Script] = (),
        *,
        side_reply: Callable[[dict[str, Any]], Reply] | None = None,
        compact_reply: Callable[[dict[str, Any]], Reply] | None = None,
        classify: Callable[[Any], str] = classify,
        model: str | None = None,
    ) -> None:
        self.script: deque[Script] = deque(script)
        self.requests: list[Request] = []
        self.side_reply = side_reply or (lambda body: say("OK"))
        self.compact_reply = compact_reply or (lambda body: say(COMPACT_SUMMARY))
        self.classify = classify
        self.model = model
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # views

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def turns(self) -> list[Request]:
        """The conversation requests answered from the script, in order."""
        return [r for r in self.requests if r.kind == "turn"]

    @property
    def unscripted(self) -> list[Request]:
        """Conversation requests that arrived after the script ran out (answered 400)."""
        return [r for r in self.requests if r.kind == "unscripted"]

    @property
    def side(self) -> list[Request]:
        return [r for r in self.requests if r.kind != "turn"]

    @property
    def remaining(self) -> int:
        return len(self.script)

    def add(self, *replies: Script) -> None:
        with self._lock:
            self.script.extend(replies)

    # lifecycle

    def start(self) -> ScriptedModel:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ScriptedModel:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # serving

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_turn(self, body: dict[str, Any]) -> Reply | None:
        with self._lock:
            script = self.script.popleft() if self.script else None
        if script is None:
            return None
        return script(body) if callable(script) else script

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _headers(self) -> dict[str, str]:
                return {k.lower(): v for k, v in self.headers.items()}

            def _send(self, status: int, data: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                self.send_header("request-id", f"req_scripted_{next(_ids)}")
                if status >= 400:
                    self.send_header("x-should-retry", "false")
                self.end_headers()
                self.wfile.write(data)

            def _json(self, status: int, obj: Any) -> None:
                self._send(status, json.dumps(obj).encode(), "application/json")

            def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
                model._record(Request("HEAD", self.path, self._headers(), None, "other"))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                model._record(Request("GET", self.path, self._headers(), None, "other", status=404))
                self._json(404, _error("not_found_error", f"scripted model: no GET {self.path}"))

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_raw": raw.decode(errors="replace")}
                path = self.path.split("?", 1)[0]
                if path.endswith("/count_tokens"):
                    model._record(Request("POST", self.path, self._headers(), body, "count_tokens"))
                    self._json(200, {"input_tokens": max(1, len(raw) // 4)})
                    return
                if not path.endswith("/v1/messages"):
                    model._record(Request("POST", self.path, self._headers(), body, "other", status=404))
                    self._json(404, _error("not_found_error", f"scripted model: no POST {path}"))
                    return
                kind = model.classify(body)
                if kind == "turn":
                    reply = model._next_turn(body)
                elif kind == "compact":
                    reply = model.compact_reply(body)
                else:
                    reply = model.side_reply(body)
                request = Request("POST", self.path, self._headers(), body, kind, reply)
                if reply is None:
                    request.kind, request.status = "unscripted", 400
                    model._record(request)
                    used = len(model.turns)
                    message = f"scripted model: the script has no reply left (all {used} were used)"
                    self._json(400, _error("invalid_request_error", message))
                    return
                model._record(request)
                name = model.model or body.get("model") or "claude-scripted"
                if body.get("stream"):
                    self._send(200, _sse(reply, name), "text/event-stream; charset=utf-8")
                else:
                    self._json(200, _message(reply, name))

        return Handler


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _usage(reply: Reply) -> tuple[int, int]:
    return 10, max(1, sum(len(json.dumps(b)) for b in reply.content) // 4)


def _message(reply: Reply, model: str) -> dict[str, Any]:
    inp, out = _usage(reply)
    return {
        "id": f"msg_scripted_{next(_ids)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [dict(b) for b in reply.content],
        "stop_reason": reply.stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": inp, "output_tokens": out},
    }


def _sse_events(reply: Reply, model: str) -> Iterator[tuple[str, dict[str, Any]]]:
    inp, out = _usage(reply)
    start = _message(Reply((), reply.stop_reason), model)
    start.update(stop_reason=None, usage={"input_tokens": inp, "output_tokens": 1})
    yield "message_start", {"type": "message_start", "message": start}
    for index, block in enumerate(reply.content):
        if block["type"] == "text":
            yield (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                },
            )
            text = block["text"]
            for i in range(0, max(len(text), 1), 40):  # a few deltas, as a real stream has
                delta = {"type": "text_delta", "text": text[i : i + 40]}
                yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        elif block["type"] == "tool_use":
            yield (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {
                        "type": "tool_use",
                        "id": block["id"],
                        "name": block["name"],
                        "input": {},
                    },
                },
            )
            raw = json.dumps(block["input"])
            for i in range(0, len(raw), 40):
                delta = {"type": "input_json_delta", "partial_json": raw[i : i + 40]}
                yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        else:
            raise ValueError(f"scripted model cannot stream a {block['type']!r} block")
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": out},
        },
    )
    yield "message_stop", {"type": "message_stop"}


def _sse(reply: Reply, model: str) -> bytes:
    return "".join(f"event: {e}\ndata: {json.dumps(d)}\n\n" for e, d in _sse_events(reply, model)).encode()


# -- projects, settings, running -----------------------------------------------------------------


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def langmem_server(data_dir: Path, **env: str) -> dict[str, Any]:
    """An ``.mcp.json`` entry that spawns this checkout's server over stdio."""
    return {
        "type": "stdio",
        "command": sys.executable,
        "args": ["-m", "langmem_mcp"],
        "env": {"LANGMEM_MCP_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO), **env},
    }


def write_mcp_json(project: Path, servers: Mapping[str, dict[str, Any]]) -> Path:
    return write_json(project / ".mcp.json", {"mcpServers": dict(servers)})


def user_settings(home: Path, settings: Mapping[str, Any]) -> Path:
    """Write ``$HOME/.claude/settings.json``; ``enableAllProjectMcpServers`` defaults to true, so a
    project's ``.mcp.json`` servers start without the interactive approval."""
    return write_json(home / ".claude" / "settings.json", {"enableAllProjectMcpServers": True, **settings})


def session_files(home: Path) -> list[Path]:
    """Every session transcript under ``$HOME/.claude/projects``."""
    return sorted((home / ".claude" / "projects").glob("*/*.jsonl"))


def transcript_for(home: Path, session_id: str) -> Path | None:
    found = list((home / ".claude" / "projects").glob(f"*/{session_id}.jsonl"))
    return found[0] if found else None


# Variables that would point the CLI at a real account, another config dir or a proxy, or
# reconfigure the servers it spawns (they inherit its environment; tests pass theirs explicitly).
_SCRUB_PREFIXES = ("ANTHROPIC_", "CLAUDE", "AWS_", "GOOGLE_", "VERTEX_", "OTEL_", "MCP_", "LANGMEM_")
_SCRUB = {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"}
_SCRUB |= {"XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "NODE_OPTIONS"}


def claude_env(home: Path, model: ScriptedModel, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB_PREFIXES) and k not in _SCRUB}
    scratch = home / ".tmp"  # per-project scratch Claude Code would otherwise leave in /tmp/claude-<uid>
    scratch.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        CLAUDE_CODE_TMPDIR=str(scratch),
        ANTHROPIC_API_KEY="sk-ant-scripted-test",
        ANTHROPIC_BASE_URL=model.url,
        DISABLE_TELEMETRY="1",
        DISABLE_AUTOUPDATER="1",
        DISABLE_ERROR_REPORTING="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        # In -p mode Claude Code connects MCP servers in the background and sends the first request
        # without waiting: under load a server that starts slowly is not listed yet (its tools and
        # prompts missing from that request). Blocking, it waits for the connection instead.
        MCP_CONNECTION_NONBLOCKING="false",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    env.update(extra or {})
    return env


@dataclass
class ClaudeRun:
    returncode: int
    output: dict[str, Any] | None  # the --output-format json result, when stdout parsed
    stdout: str
    stderr: str
    seconds: float
    args: list[str] = field(default_factory=list)

    @property
    def session_id(self) -> str | None:
        return (self.output or {}).get("session_id")

    @property
    def result(self) -> str | None:
        return (self.output or {}).get("result")

    def describe(self) -> str:
        return (
            f"claude exited {self.returncode} after {self.seconds:.1f}s\n"
            f"stdout: {self.stdout[-3000:]}\nstderr: {self.stderr[-3000:]}"
        )


def run_claude(
    claude: Path,
    project_dir: Path,
    home: Path,
    prompt: str,
    model: ScriptedModel,
    *,
    args: Sequence[str] = (),
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> ClaudeRun:
    """``claude -p PROMPT --output-format json [args]`` in ``project_dir`` with ``HOME=home``."""
    argv = [str(claude), "-p", prompt, "--output-format", "json", *args]
    started = time.monotonic()
    res = subprocess.run(
        argv,
        cwd=project_dir,
        env=claude_env(home, model, extra_env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    seconds = time.monotonic() - started
    try:
        output = json.loads(res.stdout)
    except ValueError:
        output = None
    if not isinstance(output, dict):
        output = None
    return ClaudeRun(res.returncode, output, res.stdout, res.stderr, seconds, argv)
