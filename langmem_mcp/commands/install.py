"""`langmem-mcp install HOST`: write this server into a host's MCP configuration.

Hosts spawn stdio servers with few environment variables and an unknown working directory,
so the entry names the console script (or interpreter) by absolute path and puts the data
directory in `env`. The file is merged, not replaced: other servers survive, the previous
file is kept as `<file>.bak`, and installing again updates our entry in place.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langmem_mcp.config import Settings

NAME = "install"
HELP = "add this server to a host's MCP config (claude-desktop, claude-code, cursor, vscode)"
HOSTS = ("claude-desktop", "claude-code", "cursor", "vscode")
DEFAULT_NAME = "memory"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("host", choices=HOSTS, help="which host to configure")
    p.add_argument(
        "--name", default=DEFAULT_NAME, help=f"the server's name in the host (default {DEFAULT_NAME})"
    )
    p.add_argument(
        "--scope",
        choices=["project", "user"],
        default="project",
        help="claude-code: the project's .mcp.json (default) or your user config (~/.claude.json)",
    )
    p.add_argument("--project-dir", default=".", help="claude-code/vscode project folder (default: current)")
    p.add_argument("--print", dest="print_only", action="store_true", help="show the entry; write nothing")


# -- where each host keeps its config ------------------------------------------------------
@dataclass(frozen=True)
class HostConfig:
    host: str
    path: Path
    key: str  # the JSON object that holds the servers
    vscode: bool = False  # VS Code entries carry "type": "stdio"


def claude_desktop_path() -> Path:
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
    if os.name == "nt":
        return (
            Path(os.environ.get("APPDATA") or home / "AppData" / "Roaming")
            / "Claude"
            / "claude_desktop_config.json"
        )
    return (
        Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "Claude" / "claude_desktop_config.json"
    )


def host_config(host: str, scope: str = "project", project_dir: Path | None = None) -> HostConfig:
    project = (project_dir or Path.cwd()).absolute()
    if host == "claude-desktop":
        return HostConfig(host, claude_desktop_path(), "mcpServers")
    if host == "claude-code":
        if scope == "user":
            return HostConfig(host, Path.home() / ".claude.json", "mcpServers")
        return HostConfig(host, project / ".mcp.json", "mcpServers")
    if host == "cursor":
        return HostConfig(host, Path.home() / ".cursor" / "mcp.json", "mcpServers")
    if host == "vscode":
        return HostConfig(host, project / ".vscode" / "mcp.json", "servers", vscode=True)
    raise ValueError(f"unknown host {host!r}; expected one of {', '.join(HOSTS)}")


def all_host_configs(project_dir: Path | None = None) -> list[HostConfig]:
    return [
        host_config("claude-desktop"),
        host_config("claude-code", "user"),
        host_config("claude-code", "project", project_dir),
        host_config("cursor"),
        host_config("vscode", "project", project_dir),
    ]


# -- the entry -------------------------------------------------------------------------------
def launch_command() -> tuple[str, list[str], dict[str, str]]:
    """This install's console script by absolute path, else its interpreter with `-m langmem_mcp`."""
    scripts = Path(sys.executable).absolute().parent
    exe = "langmem-mcp.exe" if os.name == "nt" else "langmem-mcp"
    for candidate in (scripts / exe, Path(sysconfig.get_path("scripts")) / exe):
        if candidate.is_file():
            return str(candidate), [], {}
    found = shutil.which("langmem-mcp")
    if found and Path(found).absolute().parent == scripts:
        return str(Path(found).absolute()), [], {}
    extra: dict[str, str] = {}
    source_root = Path(__file__).resolve().parents[2]
    site = {Path(p).resolve() for p in (sysconfig.get_path("purelib"), sysconfig.get_path("platlib"))}
    if source_root not in site:  # running from a source checkout: the host needs to find it
        extra["PYTHONPATH"] = str(source_root)
    return str(Path(sys.executable).absolute()), ["-m", "langmem_mcp"], extra


def make_entry(settings: Settings, vscode: bool = False) -> dict[str, Any]:
    command, args, extra_env = launch_command()
    env = {"LANGMEM_MCP_DATA_DIR": str(settings.data_dir.expanduser().absolute()), **extra_env}
    if settings.chroma_url:
        env["LANGMEM_MCP_CHROMA_URL"] = settings.chroma_url
    entry: dict[str, Any] = {"command": command, "args": args, "env": env}
    return {"type": "stdio", **entry} if vscode else entry


def read_config(path: Path) -> dict[str, Any]:
    if not path.exists() or not path.read_text(encoding="utf-8").strip():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); fix or move it, then install again") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object; fix or move it, then install again")
    return data


def merge(config: dict[str, Any], key: str, name: str, entry: dict[str, Any]) -> dict[str, Any]:
    servers = config.get(key)
    if servers is None:
        servers = config[key] = {}
    if not isinstance(servers, dict):
        raise ValueError(f'"{key}" in the config is not a JSON object; fix it, then install again')
    servers[name] = entry  # an existing key keeps its place
    return config


def write_config(path: Path, config: dict[str, Any]) -> Path | None:
    """Write atomically; keep the previous file as `<name>.bak`. Returns the backup's path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    backup = None
    if path.exists():
        backup = path.with_name(path.name + ".bak")
        shutil.copy2(path, backup)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return backup


def run(args: argparse.Namespace, settings: Settings) -> int:
    target = host_config(args.host, args.scope, Path(args.project_dir))
    entry = make_entry(settings, target.vscode)
    if args.print_only:
        print(f"# {target.host}: would be merged into {target.path}")
        print(json.dumps({target.key: {args.name: entry}}, indent=2, ensure_ascii=False))
        return 0
    try:
        config = read_config(target.path)
        existed = args.name in (config.get(target.key) or {})
        backup = write_config(target.path, merge(config, target.key, args.name, entry))
    except (ValueError, OSError) as exc:
        print(f"langmem-mcp install: {exc}", file=sys.stderr)
        return 1
    print(f"{'updated' if existed else 'added'} {args.name!r} in {target.path}")
    if backup:
        print(f"previous file kept as {backup}")
    print(f"data directory: {entry['env']['LANGMEM_MCP_DATA_DIR']}")
    if target.host == "claude-desktop":
        print("restart Claude Desktop to load it")
    return 0
