"""`langmem-mcp uninstall HOST`: remove exactly what `install` added.

The server entry (by name, and only if it runs langmem-mcp) and, for Claude Code, every hook whose
command runs `langmem-mcp hook`; other servers, hooks and settings stay. A file left empty by it is
removed (install created it); otherwise the previous file is kept as `<file>.bak`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from langmem_mcp.config import Settings

NAME = "uninstall"
HELP = "remove this server (and Claude Code's capture hooks) from a host's config"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from langmem_mcp.commands.install import DEFAULT_NAME, HOSTS

    p.add_argument("host", choices=HOSTS, help="which host to clean up")
    p.add_argument(
        "--name", default=DEFAULT_NAME, help=f"the server's name in the host (default {DEFAULT_NAME})"
    )
    p.add_argument(
        "--scope", choices=["project", "user"], default="project", help="claude-code: project or user"
    )
    p.add_argument("--project-dir", default=".", help="claude-code/vscode project folder (default: current)")
    p.add_argument("--print", dest="print_only", action="store_true", help="show the result; write nothing")


def _ours(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    words = [str(entry.get("command", "")), *map(str, entry.get("args") or [])]
    return "langmem" in " ".join(words)


def _save(path: Path, config: dict[str, Any], print_only: bool) -> str:
    from langmem_mcp.commands.install import write_config

    if print_only:
        print(f"# would write {path}:" if config else f"# would remove {path} (left empty)")
        if config:
            import json

            print(json.dumps(config, indent=2, ensure_ascii=False))
        return ""
    if not config:
        import shutil

        kept = path.with_name(path.name + ".bak")
        shutil.copy2(path, kept)
        path.unlink()
        return f"removed {path}, which held nothing else (kept as {kept})"
    return f"previous file kept as {write_config(path, config)}"


def run(args: argparse.Namespace, settings: Settings) -> int:
    from langmem_mcp.commands.install import claude_settings_path, host_config, read_config, remove_hooks

    target = host_config(args.host, args.scope, Path(args.project_dir))
    done = []
    try:
        if target.path.exists():
            config = read_config(target.path)
            servers = config.get(target.key)
            if isinstance(servers, dict) and _ours(servers.get(args.name)):
                del servers[args.name]
                if not servers:
                    config.pop(target.key)
                note = _save(target.path, config, args.print_only)
                done.append(
                    f"removed server {args.name!r} from {target.path}" + (f"; {note}" if note else "")
                )
        if args.host == "claude-code":
            path = claude_settings_path(args.scope, Path(args.project_dir))
            if path.exists():
                config = read_config(path)
                removed = remove_hooks(config)
                if removed:
                    note = _save(path, config, args.print_only)
                    done.append(
                        f"removed {removed} capture hooks from {path}" + (f"; {note}" if note else "")
                    )
    except (ValueError, OSError) as exc:
        print(f"langmem-mcp uninstall: {exc}", file=sys.stderr)
        return 1
    if args.print_only:
        return 0
    print("\n".join(done) if done else f"nothing of langmem-mcp found for {args.host} ({target.path})")
    return 0
