"""One index owner per data dir, and how other processes reach it.

Claude Desktop and an IDE may each spawn a server on the same data dir. SQLite handles
concurrent writers (WAL + busy timeout); Chroma's embedded store does not. So exactly one
process, the one holding an OS lock on `<data_dir>/owner.lock`, opens Chroma. It publishes
the address of a small RPC server (a unix socket, or loopback TCP on Windows) and a random
key in `owner.json` (mode 0600); the others send it their vector queries and index writes.
The OS drops the lock when the owner dies, however it dies, so a follower can take over.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import tempfile
import threading
from collections.abc import Callable
from hashlib import sha256
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOCK_FILE = "owner.lock"
INFO_FILE = "owner.json"
#: Unix socket paths are limited to about 104 bytes; longer data dirs use the temp dir.
MAX_SOCKET_PATH = 100


class OwnerLock:
    """A non-blocking, process-wide exclusive lock on a file, released when the process exits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.name == "nt":
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined,unused-ignore]
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops flock/msvcrt locks
            self._fd = None


class RemoteUnavailable(ConnectionError):
    """The owner did not answer (it died, or is still starting)."""


def _address(data_dir: Path) -> tuple[str, Any]:
    if os.name == "nt":
        return "AF_INET", ("127.0.0.1", 0)
    sock = data_dir / "owner.sock"
    if len(str(sock)) > MAX_SOCKET_PATH:
        digest = sha256(str(data_dir).encode()).hexdigest()[:16]
        sock = Path(tempfile.gettempdir()) / f"langmem-mcp-{digest}.sock"
    if sock.exists():
        sock.unlink()  # left by a dead owner; we hold the lock, so it is no one's now
    return "AF_UNIX", str(sock)


class OwnerServer:
    """Answers index calls from followers, one thread per connection.

    `handler(op, args)` does the work; it runs in the connection's thread.
    """

    def __init__(self, data_dir: Path, handler: Callable[[str, tuple[Any, ...]], Any]) -> None:
        self.data_dir = data_dir
        self.handler = handler
        family, address = _address(data_dir)
        self.authkey = secrets.token_bytes(32)
        self._listener = Listener(address, family=family, authkey=self.authkey)
        self._closed = False
        #: Open connections, each served by its thread; closed under the guard, so close() can
        #: hang up those still open without touching a descriptor another file reuses.
        self._connections: set[Connection] = set()
        self._guard = threading.Lock()
        info = {
            "family": family,
            "address": self._listener.address,
            "authkey": self.authkey.hex(),
            "pid": os.getpid(),
        }
        tmp = data_dir / f"{INFO_FILE}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(info, fh)
        os.replace(tmp, data_dir / INFO_FILE)
        self._thread = threading.Thread(target=self._accept, name="langmem-owner", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn = self._listener.accept()
            except Exception:  # noqa: BLE001 - a bad handshake or the listener closing
                if self._closed:
                    return
                log.debug("rejected an index connection", exc_info=True)
                continue
            with self._guard:
                if self._closed:
                    conn.close()
                    return
                self._connections.add(conn)
            threading.Thread(target=self._serve, args=(conn,), name="langmem-owner-conn", daemon=True).start()

    def _serve(self, conn: Connection) -> None:
        try:
            while True:
                try:
                    op, args = conn.recv()
                except (EOFError, OSError):
                    return
                try:
                    reply: tuple[str, Any] = ("ok", self.handler(op, args))
                except Exception as exc:  # noqa: BLE001 - sent back to the caller
                    log.exception("index call %s failed", op)
                    reply = ("error", f"{type(exc).__name__}: {exc}")
                try:
                    conn.send(reply)
                except OSError:
                    return
        finally:
            with self._guard:
                self._connections.discard(conn)
                conn.close()

    def close(self) -> None:
        """Stop listening and hang up every follower still connected: their threads end, and a
        follower's next call finds no owner (and may take over) instead of being answered by an
        index that is closed."""
        self._closed = True
        try:
            self._listener.close()
        except OSError:
            pass
        with self._guard:
            for conn in self._connections:
                _hang_up(conn)


def _hang_up(conn: Connection) -> None:
    """Wake the thread reading `conn` with end-of-file: shutting the socket down does, where
    closing its descriptor from another thread would not."""
    try:
        sock = socket.socket(fileno=conn.fileno())
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.detach()  # the connection still owns the descriptor: its thread closes it


class OwnerClient:
    """A follower's connection to the owner; one call at a time, reconnecting when needed."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> Connection:
        try:
            info = json.loads((self.data_dir / INFO_FILE).read_text())
            address = info["address"]
            if info["family"] == "AF_INET":
                address = tuple(address)
            return Client(address, family=info["family"], authkey=bytes.fromhex(info["authkey"]))
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise RemoteUnavailable(f"no index owner answers for {self.data_dir}: {exc}") from exc

    def call(self, op: str, *args: Any) -> Any:
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._conn is None:
                        self._conn = self._connect()
                    self._conn.send((op, args))
                    status, value = self._conn.recv()
                    break
                except (OSError, EOFError) as exc:
                    self.close_unlocked()
                    if attempt == 2:
                        raise RemoteUnavailable(f"the index owner stopped answering: {exc}") from exc
        if status != "ok":
            raise RuntimeError(f"index owner: {value}")
        return value

    def close_unlocked(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self.close_unlocked()


def call_with_deadline(data_dir: Path, op: str, *args: Any, timeout: float) -> Any:
    """One call to the owner that gives up after ``timeout`` seconds, for callers that must not
    wait on it (a hook blocks its host). Raises RemoteUnavailable when no owner answers in time."""
    box: list[Any] = []

    def call() -> None:
        client = OwnerClient(data_dir)
        try:
            box.append(("ok", client.call(op, *args)))
        except Exception as exc:  # noqa: BLE001 - handed to the caller
            box.append(("error", exc))
        finally:
            client.close()

    worker = threading.Thread(target=call, name="langmem-owner-call", daemon=True)
    worker.start()
    worker.join(timeout)
    if not box:
        raise RemoteUnavailable(f"the index owner did not answer within {timeout:g} s")
    status, value = box[0]
    if status == "error":
        if isinstance(value, RemoteUnavailable):
            raise value
        raise RemoteUnavailable(f"the index owner could not answer: {value}") from value
    return value
