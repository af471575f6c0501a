"""Prompt templates: shipped files, user overrides, validation, hot reload."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

import pytest

from langmem_mcp.llm.prompts import PromptLibrary, check_template, declare, declared, shipped_dir

# every module that declares templates, so the registry is complete
for module in ("extraction", "memory_functions", "summary", "optimizer"):
    importlib.import_module(f"langmem_mcp.engine.{module}")
importlib.import_module("langmem_mcp.llm.sampling")

REF = declare("test_greeting", "name", optional=("mood",))


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    shipped, user = tmp_path / "shipped", tmp_path / "user"
    shipped.mkdir()
    user.mkdir()
    write(shipped / "test_greeting.md", "Hello $name. $mood")
    write(shipped / "other.md", "Other {json: braces} stay.")
    return shipped, user


async def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def test_shipped_templates_cover_every_declaration_and_are_valid():
    directory = shipped_dir()
    assert directory == Path(__file__).resolve().parents[1] / "prompts"
    lib = PromptLibrary(shipped=directory)
    assert lib.problems == {}
    for name, ref in declared().items():
        if name.startswith("test_"):
            continue
        assert (directory / f"{name}.md").is_file(), name
        assert check_template(lib.text(name), ref) is None, name


def test_render_fills_placeholders_and_keeps_braces(dirs):
    shipped, user = dirs
    lib = PromptLibrary(user, shipped)
    assert lib.render(REF, name="Ada") == "Hello Ada. "
    assert lib.render(REF, name="Ada", mood="Cheers $5") == "Hello Ada. Cheers $5"
    assert lib.render("other") == "Other {json: braces} stay."
    with pytest.raises(ValueError, match="needs values"):
        lib.render(REF)


def test_user_directory_overrides_by_name(dirs):
    shipped, user = dirs
    write(user / "test_greeting.md", "Hi $name!")
    lib = PromptLibrary(user, shipped)
    assert lib.render(REF, name="Bo") == "Hi Bo!"
    assert lib.source("test_greeting") == user / "test_greeting.md"
    assert lib.source("other") == shipped / "other.md"


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("Hi there!", "missing required placeholder"),
        ("Hi $name, $unknown", "unknown placeholder"),
        ("Hi $name, costs $ 5", "broken placeholder syntax"),
    ],
)
def test_invalid_user_template_falls_back_to_shipped(dirs, bad, why):
    shipped, user = dirs
    write(user / "test_greeting.md", bad)
    lib = PromptLibrary(user, shipped)
    assert lib.render(REF, name="Cy") == "Hello Cy. "
    assert why in lib.problems["test_greeting"]


async def test_hot_reload_applies_good_edits_and_refuses_bad_ones(dirs, caplog):
    shipped, user = dirs
    lib = PromptLibrary(user, shipped, debounce_ms=50)
    await lib.start()
    try:
        # The watcher arms itself in its task: rewrite the edit until a reload shows it.
        for attempt in range(40):
            reloads = lib.reloads
            write(user / "test_greeting.md", "Welcome, $name.")
            try:
                await wait_for(
                    lambda r=reloads: lib.reloads > r and lib.text("test_greeting") == "Welcome, $name.", 0.5
                )
                break
            except AssertionError:
                assert attempt < 39, "the watcher never picked up an edit"

        reloads = lib.reloads
        write(user / "test_greeting.md", "Welcome, friend.")  # drops $name: refused
        await wait_for(lambda: lib.reloads > reloads and "test_greeting" in lib.problems)
        assert lib.render(REF, name="Di") == "Welcome, Di."  # the last good text stays
        assert "missing required placeholder" in caplog.text

        reloads = lib.reloads
        (user / "test_greeting.md").unlink()  # override removed: back to the shipped text
        await wait_for(lambda: lib.reloads > reloads and lib.text("test_greeting") == "Hello $name. $mood")
        assert "test_greeting" not in lib.problems
    finally:
        await lib.stop()
    assert lib._task is None


async def test_start_and_stop_without_directories(tmp_path):
    lib = PromptLibrary(tmp_path / "missing-user", tmp_path / "missing-shipped")
    await lib.start()
    await lib.stop()
    with pytest.raises(KeyError):
        lib.text("nothing")
