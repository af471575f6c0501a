"""A scripted Anthropic Messages API on 127.0.0.1, so tests run the real SDK over HTTP.

Give it replies in order (``text``, ``tools``, ``error`` build them, ``slow`` delays one, or
pass a callable that gets the request body); inspect ``requests`` afterwards. With the queue
empty it answers 500 with ``x-should-retry: false`` so a test that under-scripts fails fast.
It stands in for Anthropic's API and for the Anthropic-compatible ``/v1/messages`` of local
servers (Ollama, LM Studio, vLLM) alike: the SDK speaks the same protocol to both.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ids = itertools.count(1)


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering: a slow model (cut short when the fake closes)


def message(
    content: list[dict[str, Any]], stop_reason: str, model: str = "claude-fake", usage=(11, 7)
) -> Reply:
    return Reply(
        body={
            "id": f"msg_{next(_ids)}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
        }
    )


def text(answer: str, **kw: Any) -> Reply:
    return message([{"type": "text", "text": answer}], "end_turn", **kw)


def tools(*calls: tuple[str, dict[str, Any]], preamble: str = "", **kw: Any) -> Reply:
    """A reply calling ``(name, input)`` tools, in order."""
    content: list[dict[str, Any]] = [{"type": "text", "text": preamble}] if preamble else []
    content += [{"type": "tool_use", "id": f"toolu_{next(_ids)}", "name": n, "input": i} for n, i in calls]
    return message(content, "tool_use", **kw)


def slow(reply: Reply, seconds: float) -> Reply:
    """``reply``, sent only after ``seconds``: a model slower than the client's timeout."""
    return Reply(reply.status, reply.body, dict(reply.headers), seconds)


def raw(body: bytes, status: int = 200) -> Reply:
    """A reply whose body is not a Messages API message (a misconfigured or foreign server)."""
    return Reply(status, body)


def error(status: int, kind: str = "api_error", headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status, {"type": "error", "error": {"type": kind, "message": f"scripted {status}"}}, headers or {}
    )


Script = Reply | Callable[[dict[str, Any]], Reply]


class FakeAnthropic:
    def __init__(self, replies: Iterable[Script] = ()) -> None:
        self.queue: deque[Script] = deque(replies)
        self.requests: list[dict[str, Any]] = []  # {"path", "headers", "body", "status"}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_raw": raw.decode(errors="replace")}
                with fake._lock:
                    script = fake.queue.popleft() if fake.queue else None
                if script is None:
                    reply = error(500, headers={"x-should-retry": "false"})
                    reply.body["error"]["message"] = "no scripted reply left"
                else:
                    reply = script(body) if callable(script) else script
                with fake._lock:
                    fake.requests.append(
                        {
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                            "status": reply.status,
                        }
                    )
                if reply.delay:
                    fake._closing.wait(reply.delay)
                data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up waiting (a timeout) and closed the connection
                    self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, *replies: Script) -> None:
        with self._lock:
            self.queue.extend(replies)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests]

    def start(self) -> FakeAnthropic:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()
