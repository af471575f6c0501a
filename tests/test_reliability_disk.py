"""A full disk or a read-only data dir, for real.

- No space left: the data dir on a small tmpfs, filled up with a file. A write fails with "no space
  left on device at <data dir>", nothing committed is lost or corrupted, searches go on, and once
  the file is removed writes work again in the same server.
- Read-only: the data dir seen through a read-only bind mount, or its permissions taken away
  (chmod), with the server spawned without the power to override them. The server starts, searches work, and
  every write answers that the data directory is read-only.

Mounting needs root (as here and in CI); without it the mount tests are skipped, saying why. Root
ignores file permissions, so the chmod test runs the server without CAP_DAC_OVERRIDE (setpriv).
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mcp_client import call, call_error, memory_session, read_json
from tests.stdio_process import StdioServer, tool_result

NOTES = [
    "The spare house key is under the blue flower pot",
    "The car needs new winter tyres before November",
    "The backup drive is in the second drawer of the desk",
    "Lena prefers green tea without sugar",
]
SMALL_NOTES = ["Uses a split keyboard", "Sam is allergic to penicillin"]
#: Namespaces over this many memories get a Chroma collection: "big" has one, "small" not.
SMALL_ENV = {"LANGMEM_MCP_EXACT_SEARCH_MAX": "3"}
FULL = "no space left on device at {data}: this change was not saved."
READ_ONLY = "the data directory is read-only ({data}): this change was not saved."


def mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


def need_root(what: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"{what} needs root to mount; run as root (CI does) to test it")


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs for the test, unmounted after."""
    need_root("a full disk (a small tmpfs)")
    point = tmp_path / "mnt"
    point.mkdir()
    res = mount("-t", "tmpfs", "-o", "size=24m,mode=0755", "tmpfs", str(point))
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({res.stderr.strip()}); it needs CAP_SYS_ADMIN")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def fill_up(directory: Path) -> Path:
    """Write a file until the device has no space left; returns it."""
    filler = directory / "filler"
    chunk = b"\0" * (1 << 16)
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    # the last partial chunk too, byte by byte in bigger steps: leave nothing free
    with open(filler, "ab", buffering=0) as fh:
        for size in (4096, 512, 1):
            try:
                while True:
                    fh.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    assert os.statvfs(directory).f_bavail == 0
    return filler


async def seed(data: Path) -> dict[str, str]:
    """Memories in a small namespace and a large one (with its Chroma collection); id -> content."""
    made = {}
    async with memory_session(data, **SMALL_ENV) as s:
        for ns in (["small"], ["big"]):
            for note in NOTES if ns == ["big"] else SMALL_NOTES:
                made[(await call(s, "manage_memory", content=note, namespace=ns))["id"]] = note
        await call(s, "search_memory", query="key", namespace=["big"])
    return made


def committed(data: Path) -> dict[str, str]:
    with sqlite3.connect(f"file:{data / 'memory.sqlite3'}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return dict(conn.execute("SELECT id, content FROM memories").fetchall())


async def test_no_space_left_on_device(tmpfs: Path) -> None:
    data = tmpfs / "data"
    before = await seed(data)
    async with memory_session(data, **SMALL_ENV) as s:
        key = next(i for i, c in before.items() if "spare house key" in c)
        await call(s, "search_memory", query="warm up", namespace=["big"])  # the index is loaded
        filler = fill_up(tmpfs)

        for ns in (["small"], ["big"]):
            big_text = "A long note that needs new pages on disk. " + "x" * 20_000
            message = await call_error(s, "manage_memory", content=big_text, namespace=ns)
            assert FULL.format(data=data) in message, message
            assert "Error id" not in message  # a known condition, said in words
        update = await call_error(
            s,
            "manage_memory",
            action="update",
            id=key,
            content="The key moved" + "y" * 20_000,
            namespace=["big"],
        )
        assert FULL.format(data=data) in update, update

        # reads go on
        hits = (await call(s, "search_memory", query="where is the spare key?", namespace=["big"]))[
            "memories"
        ]
        assert hits[0]["id"] == key
        hits = (await call(s, "search_memory", query="what is Sam allergic to?", namespace=["small"]))[
            "memories"
        ]
        assert hits[0]["content"] == SMALL_NOTES[1]
        assert (await read_json(s, "memory://stats"))["total"] == len(before)

        # room again: writes work in the same server
        filler.unlink()
        made = await call(s, "manage_memory", content="The car needs winter tyres", namespace=["big"])
        hits = (await call(s, "search_memory", query="what does the car need?", namespace=["big"]))[
            "memories"
        ]
        assert hits[0]["id"] == made["id"]
    assert committed(data) == {**before, made["id"]: "The car needs winter tyres"}


async def test_read_only_mount(tmp_path: Path) -> None:
    """The data dir seen through a read-only bind mount, as on a read-only volume."""
    need_root("a read-only mount")
    data, view = tmp_path / "data", tmp_path / "read-only"
    before = await seed(data)
    view.mkdir()
    res = mount("--bind", str(data), str(view))
    if res.returncode != 0:
        pytest.skip(f"cannot bind-mount here ({res.stderr.strip()}); it needs CAP_SYS_ADMIN")
    try:
        res = mount("-o", "remount,bind,ro", str(view))
        assert res.returncode == 0, res.stderr
        async with memory_session(view, **SMALL_ENV) as s:
            await check_read_only(s, view, before)
            assert (await read_json(s, "memory://stats"))["total"] == len(before)
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)
    assert committed(data) == before


async def check_read_only(s: object, data: Path, before: dict[str, str]) -> None:
    key = next(i for i, c in before.items() if "spare house key" in c)
    for ns in (["small"], ["big"]):
        message = await call_error(s, "manage_memory", content="New fact", namespace=ns)  # type: ignore[arg-type]
        assert READ_ONLY.format(data=data) in message, message
    for kwargs in ({"action": "update", "content": "moved"}, {"action": "delete"}):
        message = await call_error(s, "manage_memory", id=key, namespace=["big"], **kwargs)  # type: ignore[arg-type]
        assert READ_ONLY.format(data=data) in message, message
    hits = (await call(s, "search_memory", query="where is the spare key?", namespace=["big"]))["memories"]  # type: ignore[arg-type]
    assert hits[0]["id"] == key
    hits = (await call(s, "search_memory", query="what is Sam allergic to?", namespace=["small"]))["memories"]  # type: ignore[arg-type]
    assert hits[0]["content"] == SMALL_NOTES[1]


def drop_write_permission(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@pytest.mark.process
async def test_data_dir_without_write_permission(tmp_path: Path) -> None:
    """chmod -R a-w on the data dir, as a careless user might; the server runs as a process that
    permissions bind (as root: without CAP_DAC_OVERRIDE)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip(
                "root ignores file permissions and setpriv (util-linux) is missing to drop that power"
            )
        prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--"]
    data = tmp_path / "data"
    before = await seed(data)
    drop_write_permission(data)
    try:
        server = await StdioServer.start(data, tmp_path / "server.log", command_prefix=prefix, **SMALL_ENV)
        try:
            key = next(i for i, c in before.items() if "spare house key" in c)
            for ns in (["small"], ["big"]):
                answer = await server.answer(server.call("manage_memory", content="New fact", namespace=ns))
                assert answer["result"]["isError"], answer
                assert READ_ONLY.format(data=data) in answer["result"]["content"][0]["text"]
            answer = await server.answer(
                server.call("search_memory", query="where is the spare key?", namespace=["big"])
            )
            assert tool_result(answer)["memories"][0]["id"] == key
            answer = await server.answer(
                server.call("search_memory", query="what is Sam allergic to?", namespace=["small"])
            )
            assert tool_result(answer)["memories"][0]["content"] == SMALL_NOTES[1]
        finally:
            server.close_stdin()
            await server.proc.wait()
        assert server.proc.returncode == 0, server.stderr()
        assert "is read-only: serving searches" in server.stderr()
    finally:
        for path in [data, *data.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
    assert committed(data) == before
