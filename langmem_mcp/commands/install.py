"""`langmem-mcp install HOST`: write this server into a host's MCP configuration.

Hosts spawn stdio servers with few environment variables and an unknown working directory,
so the entry names the console script (or interpreter) by absolute path and puts the data
directory in `env`. The file is merged, not replaced: other servers survive, the previous
file is kept as `<file>.bak`, and installing again updates our entry in place.

`install claude-code --hooks` also merges the capture hooks (`langmem-mcp hook EVENT`) into
Claude Code's settings (`.claude/settings.json` of the project, or `~/.claude/settings.json`
with `--scope user`), keeping every other hook; `uninstall` removes exactly what install added.
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
    p.add_argument("--print", dest="print_only", action="store_true", help="show the result; write nothing")
    p.add_argument(
        "--hooks",
        action="store_true",
        help="claude-code: also install the capture hooks (session start context, transcript capture)",
    )
    p.add_argument(
        "--prompt-recall",
        action="store_true",
        help="claude-code --hooks: also recall memories for each prompt (UserPromptSubmit)",
    )
    p.add_argument(
        "--tools",
        help="MCP tool groups the host gets (LANGMEM_MCP_TOOLS, e.g. memory,llm); default: memory, "
        "and memory,llm with --hooks (the session-start context points at the llm group's distill)",
    )


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


def make_entry(settings: Settings, vscode: bool = False, tools: str | None = None) -> dict[str, Any]:
    command, args, extra_env = launch_command()
    env = {"LANGMEM_MCP_DATA_DIR": str(settings.data_dir.expanduser().absolute()), **extra_env}
    if settings.chroma_url:
        env["LANGMEM_MCP_CHROMA_URL"] = settings.chroma_url
    if tools:
        env["LANGMEM_MCP_TOOLS"] = tools
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


# -- Claude Code hooks ---------------------------------------------------------------------------
#: Claude Code event → (our subcommand, matcher, timeout in seconds). SessionEnd hooks get 1.5 s
#: unless they ask for more; the others get 600 s by default. Ours return in well under a second
#: (the work is queued); the timeouts bound a stuck disk, never the normal case.
HOOK_EVENTS = {
    "SessionStart": ("session-start", "startup|resume|clear|compact", 10),
    "UserPromptSubmit": ("user-prompt-submit", None, 5),
    "Stop": ("stop", None, 10),
    "PreCompact": ("pre-compact", None, 10),
    "SessionEnd": ("session-end", None, 10),
}
OPT_IN_EVENTS = ("UserPromptSubmit",)
#: What marks a hook command as ours: `<this install's langmem-mcp> hook <event>`.
HOOK_MARK = " hook "


def claude_settings_path(scope: str, project_dir: Path) -> Path:
    if scope == "user":
        return Path.home() / ".claude" / "settings.json"
    return project_dir.absolute() / ".claude" / "settings.json"


def _quote(part: str) -> str:
    import shlex
    import subprocess

    return subprocess.list2cmdline([part]) if os.name == "nt" else shlex.quote(part)


def hook_command(event: str, settings: Settings) -> str:
    """The shell command Claude Code runs for ``event`` (the data dir on its command line: hooks
    get the host's environment, not the MCP entry's)."""
    command, args, extra_env = launch_command()
    words = [command, *args, "hook", HOOK_EVENTS[event][0]]
    words += ["--data-dir", str(settings.data_dir.expanduser().absolute())]
    prefix = "".join(f"{k}={_quote(v)} " for k, v in extra_env.items())  # a source checkout (POSIX shells)
    return prefix + " ".join(_quote(w) for w in words)


def is_our_hook(hook: Any) -> bool:
    command = hook.get("command") if isinstance(hook, dict) else None
    return isinstance(command, str) and HOOK_MARK in command and "langmem" in command


def hook_groups(settings: Settings, prompt_recall: bool) -> dict[str, dict[str, Any]]:
    """The matcher group install adds for each event."""
    out = {}
    for event, (_, matcher, timeout) in HOOK_EVENTS.items():
        if event in OPT_IN_EVENTS and not prompt_recall:
            continue
        group: dict[str, Any] = {"matcher": matcher} if matcher else {}
        group["hooks"] = [{"type": "command", "command": hook_command(event, settings), "timeout": timeout}]
        out[event] = group
    return out


def _hooks_of(config: dict[str, Any]) -> dict[str, Any]:
    hooks = config.get("hooks")
    if hooks is None:
        hooks = config["hooks"] = {}
    if not isinstance(hooks, dict):
        raise ValueError('"hooks" in the settings is not a JSON object; fix it, then install again')
    return hooks


def merge_hooks(config: dict[str, Any], groups: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Add our group to each event, or update our hook in place; other hooks stay as they are.
    Events we no longer install (prompt recall turned off) lose our hook."""
    hooks = _hooks_of(config)
    for event in HOOK_EVENTS:
        current = hooks.get(event)
        if current is not None and not isinstance(current, list):
            raise ValueError(f'"hooks.{event}" in the settings is not a list; fix it, then install again')
        wanted = groups.get(event)
        ours = [
            (g, h)
            for g in current or []
            if isinstance(g, dict) and isinstance(g.get("hooks"), list)
            for h in g["hooks"]
            if is_our_hook(h)
        ]
        if wanted is None:
            _drop_ours(hooks, event)
        elif ours:
            group, hook = ours[0]
            hook.clear()
            hook.update(wanted["hooks"][0])
            if "matcher" in wanted:
                group["matcher"] = wanted["matcher"]
        else:
            hooks.setdefault(event, []).append(wanted)
    if not hooks:
        config.pop("hooks")
    return config


def _drop_ours(hooks: dict[str, Any], event: str) -> int:
    """Remove our hooks from one event (and groups and the event left empty); returns how many."""
    groups = hooks.get(event)
    if not isinstance(groups, list):
        return 0
    removed = 0
    kept_groups = []
    for group in groups:
        if isinstance(group, dict) and isinstance(group.get("hooks"), list):
            kept = [h for h in group["hooks"] if not is_our_hook(h)]
            removed += len(group["hooks"]) - len(kept)
            if not kept and len(group["hooks"]) > 0:
                continue
            group["hooks"] = kept
        kept_groups.append(group)
    if kept_groups:
        hooks[event] = kept_groups
    else:
        hooks.pop(event)
    return removed


def remove_hooks(config: dict[str, Any]) -> int:
    """Remove every hook install added; returns how many."""
    hooks = config.get("hooks")
    if not isinstance(hooks, dict):
        return 0
    removed = sum(_drop_ours(hooks, event) for event in list(hooks))
    if not hooks:
        config.pop("hooks")
    return removed


def _show(path: Path, config: dict[str, Any]) -> None:
    print(f"# would write {path}:")
    print(json.dumps(config, indent=2, ensure_ascii=False))


#: Tool groups for a Claude Code install with hooks: the session-start context names the `distill`
#: prompt (llm group) when captured sessions wait, and Claude Code defers MCP tools behind its
#: tool search, so the wider list costs no context until used.
HOOKS_TOOLS = "memory,llm"


def run(args: argparse.Namespace, settings: Settings) -> int:
    target = host_config(args.host, args.scope, Path(args.project_dir))
    hooks = args.hooks or args.prompt_recall
    entry = make_entry(settings, target.vscode, args.tools or (HOOKS_TOOLS if hooks else None))
    if hooks and args.host != "claude-code":
        print("langmem-mcp install: --hooks and --prompt-recall are for claude-code", file=sys.stderr)
        return 2
    settings_path = claude_settings_path(args.scope, Path(args.project_dir))
    groups = hook_groups(settings, args.prompt_recall) if hooks else {}
    try:
        config = read_config(target.path)
        existed = args.name in (config.get(target.key) or {})
        merge(config, target.key, args.name, entry)
        hooks_config = merge_hooks(read_config(settings_path), groups) if hooks else None
        if args.print_only:
            _show(target.path, config)
            if hooks_config is not None:
                _show(settings_path, hooks_config)
            return 0
        backup = write_config(target.path, config)
        hooks_backup = write_config(settings_path, hooks_config) if hooks_config is not None else None
    except (ValueError, OSError) as exc:
        print(f"langmem-mcp install: {exc}", file=sys.stderr)
        return 1
    print(f"{'updated' if existed else 'added'} {args.name!r} in {target.path}")
    if backup:
        print(f"previous file kept as {backup}")
    if hooks_config is not None:
        print(f"capture hooks ({', '.join(groups)}) in {settings_path}")
        if hooks_backup:
            print(f"previous file kept as {hooks_backup}")
    print(f"data directory: {entry['env']['LANGMEM_MCP_DATA_DIR']}")
    if target.host == "claude-desktop":
        print("restart Claude Desktop to load it")
    return 0
