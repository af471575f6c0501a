"""What a server imports before it answers `tools/list`, and what loads once the host has its list.

Hosts wait on the handshake, so the services (formation, the LLM procedures and model adapters,
the entity stores) load after it: `ServerContext.ready` builds and starts them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.process

#: Service code no tool signature needs: loaded on first use or once the server is ready.
DEFERRED = (
    "langmem_mcp.service.formation",
    "langmem_mcp.service.functions",
    "langmem_mcp.service.llm",
    "langmem_mcp.service.memories",
    "langmem_mcp.service.threads",
    "langmem_mcp.service.user_memory",
    "langmem_mcp.service.users",
    "langmem_mcp.service.container",
    "langmem_mcp.store.functions",
    "langmem_mcp.store.threads",
    "langmem_mcp.store.users",
    "langmem_mcp.engine.extraction",
    "langmem_mcp.engine.memory_functions",
    "langmem_mcp.engine.optimizer",
    "langmem_mcp.engine.summary",
    "langmem_mcp.llm",
)

CHECK = """
import asyncio, gc, logging, sys
from pathlib import Path

import pytest

from langmem_mcp.config import Settings
from langmem_mcp.server import startup_gc
from langmem_mcp.server.app import build_server, running
from langmem_mcp.server.lifespan import ServerContext


DEFERRED = {deferred!r}


async def main() -> None:
    logging.basicConfig(stream=sys.stderr)  # as `langmem-mcp serve` does first
    startup_gc.pause()  # as serve does on stdio
    state = ServerContext(Settings(data_dir=Path(sys.argv[1]), tools="memory,service,llm"))
    mcp = build_server(state.settings, state, own_lifespan=False)
    async with running(state):
        tools = await mcp.list_tools()
        assert len(tools) == 13, [t.name for t in tools]
        early = [m for m in DEFERRED if m in sys.modules]
        assert not early, f"imported before the tool list was answered: {{early}}"
        assert "rich" not in sys.modules, "the SDK's logging setup (rich) ran although logging was configured"
        assert not gc.isenabled()
        state.ready()
        assert gc.isenabled() and gc.get_freeze_count() > 10_000, "start-up garbage collection not resumed"
        for _ in range(200):
            if all(m in sys.modules for m in ("langmem_mcp.service.formation", "langmem_mcp.service.llm")):
                break
            await asyncio.sleep(0.01)
        names = {{t.get_name() for t in asyncio.all_tasks()}}
        assert "langmem-formation" in names, f"background formation did not start: {{names}}"


asyncio.run(main())
"""


def test_tools_list_before_the_services_load(tmp_path: Path) -> None:
    code = CHECK.format(deferred=DEFERRED)
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=120)


BESIDE = """
import sys, threading
from pathlib import Path
from langmem_mcp.index.chroma import import_beside

for path in sys.argv[1:]:  # one interpreter for the stores that import nothing
    import_beside(Path(path), None)
    loading = [t for t in threading.enumerate() if t.name == "import-chromadb"]
    for thread in loading:
        thread.join(60)
    print(bool(loading), hasattr(sys.modules.get("chromadb"), "PersistentClient"))
"""


def test_chromadb_is_imported_beside_the_model_only_for_a_store_with_collections(tmp_path: Path) -> None:
    """A start that will open Chroma imports it in a thread while the model loads; a store
    without collections (every namespace small) never imports it."""
    import chromadb

    from langmem_mcp.index.chroma import PREFIX

    empty, filled = tmp_path / "empty", tmp_path / "filled"
    empty.mkdir()
    client = chromadb.PersistentClient(path=str(filled))
    client.create_collection(PREFIX + "x")
    for paths, expected in (
        ((empty, tmp_path / "missing"), ["False False", "False False"]),
        ((filled,), ["True True"]),
    ):
        run = subprocess.run(
            [sys.executable, "-c", BESIDE, *map(str, paths)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert run.stdout.split("\n")[:-1] == expected, (paths, run.stdout, run.stderr)
