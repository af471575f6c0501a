"""A Python with the real `langmem==0.0.3` client, for driving the REST API.

The client pins `httpx<0.27`, which chromadb (a dependency of this project) cannot live with,
so it gets a virtualenv of its own: `$LANGMEM_CLIENT_PYTHON` if set, else one created (once,
then reused) under `~/.cache/langmem-mcp-tests/langmem-client`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.file_lock import file_lock

CLIENT_REQUIREMENT = "langmem==0.0.3"
CACHE = Path.home() / ".cache" / "langmem-mcp-tests"
VENV = CACHE / "langmem-client"
SCRIPT = Path(__file__).with_name("langmem_client_script.py")


def _python_in(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _has_client(python: Path) -> bool:
    if not python.exists():
        return False
    check = "import importlib.metadata as m, langmem; assert m.version('langmem') == '0.0.3'"
    return subprocess.run([str(python), "-c", check], capture_output=True, timeout=60).returncode == 0


def client_python() -> Path:
    """The interpreter to run the client with; creates the virtualenv on first use."""
    given = os.environ.get("LANGMEM_CLIENT_PYTHON")
    if given:
        python = Path(given)
        if not _has_client(python):
            raise RuntimeError(f"LANGMEM_CLIENT_PYTHON={given} has no {CLIENT_REQUIREMENT}")
        return python
    with file_lock(CACHE / "langmem-client.lock"):
        return _installed()


def _installed() -> Path:
    python = _python_in(VENV)
    if _has_client(python):
        return python
    if VENV.exists():  # an earlier attempt that did not finish
        shutil.rmtree(VENV)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True, timeout=300)
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", CLIENT_REQUIREMENT],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if install.returncode != 0:
        raise RuntimeError(
            f"could not install {CLIENT_REQUIREMENT} in {VENV}:\n{install.stdout}\n{install.stderr}"
        )
    python = _python_in(VENV)
    if not _has_client(python):
        raise RuntimeError(f"the virtualenv at {VENV} does not provide {CLIENT_REQUIREMENT}")
    return python


def run_flow(python: Path, url: str, flow: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LANGMEM_API_URL": url,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    env.pop("LANGMEM_API_KEY", None)
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [str(python), str(SCRIPT), flow], env=env, capture_output=True, text=True, timeout=timeout
    )
