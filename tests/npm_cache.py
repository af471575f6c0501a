"""npm packages the tests drive (Claude Code, the MCP Inspector), installed once into a cache under
the home directory and reused across runs and parallel test workers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.file_lock import file_lock

CACHE_ROOT = Path.home() / ".cache" / "langmem-mcp-tests"
NPM_ENV = {
    "npm_config_update_notifier": "false",
    "npm_config_fund": "false",
    "npm_config_audit": "false",
}


def installed_version(prefix: Path, name: str) -> str | None:
    try:
        manifest = prefix / "node_modules" / name / "package.json"
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def ensure_package(prefix: Path, name: str, version: str, timeout: float = 600) -> str:
    """`name@version` installed under `prefix` (one worker installs, the others wait for it);
    '' when it is there, else why not (npm missing, the install failed)."""
    with file_lock(prefix.parent / f"{prefix.name}.lock"):
        if installed_version(prefix, name) == version:
            return ""
        npm = shutil.which("npm")
        if npm is None:
            return f"npm not found on PATH (install Node.js 20+ to run the {name} tests)"
        prefix.mkdir(parents=True, exist_ok=True)
        res = subprocess.run(
            [npm, "install", "--no-save", "--prefix", str(prefix), f"{name}@{version}"],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **NPM_ENV},
        )
        if res.returncode != 0:
            return f"npm install {name}@{version} failed ({res.returncode}): {res.stderr.strip()[-800:]}"
        return ""
