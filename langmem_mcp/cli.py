"""The `langmem-mcp` command. Subcommands live in `langmem_mcp.commands`, one module each.

Kept free of heavy imports: `langmem-mcp` with no arguments is what hosts spawn, and the
time to the first answered `tools/list` is what they wait on.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from langmem_mcp import __version__, commands
from langmem_mcp.config import Settings, load_settings

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# numpy's BLAS on one thread: the server's products are small (a namespace's vectors against a
# query), and a second BLAS thread waits for a core that onnxruntime's threads keep busy
# (tests/bench/blas_threads.py). Set before numpy loads; the environment can still say otherwise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

DEFAULT_COMMAND = "serve"


def _common(p: argparse.ArgumentParser, top: bool = False) -> None:
    # On subcommands the defaults are SUPPRESS, so a flag given before the command survives.
    d = None if top else argparse.SUPPRESS
    p.add_argument(
        "--data-dir",
        default=d,
        help="where memories live (env LANGMEM_MCP_DATA_DIR; default: per-user data dir)",
    )
    p.add_argument(
        "--namespace", default=d, help="default namespace, segments joined by '/' (env LANGMEM_MCP_NAMESPACE)"
    )
    p.add_argument("--log-level", default=d, help="DEBUG, INFO, WARNING (default) or ERROR")
    p.add_argument(
        "--chroma-url", default=d, help="keep vectors on a Chroma server (env LANGMEM_MCP_CHROMA_URL)"
    )


def command_modules() -> dict[str, ModuleType]:
    found = {}
    for info in pkgutil.iter_modules(commands.__path__):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        found[module.NAME] = module
    return dict(sorted(found.items()))


def build_parser(modules: dict[str, ModuleType]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="langmem-mcp",
        description="Local-first long-term memory for AI assistants, over the Model Context Protocol. "
        "With no command, serves MCP over stdio.",
    )
    parser.add_argument("--version", action="version", version=f"langmem-mcp {__version__}")
    _common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in modules.items():
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        _common(p)
        module.add_arguments(p)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    data_dir = getattr(args, "data_dir", None)
    return load_settings(
        data_dir=Path(data_dir).expanduser().resolve() if data_dir else None,
        namespace=getattr(args, "namespace", None),
        log_level=getattr(args, "log_level", None),
        chroma_url=getattr(args, "chroma_url", None),
        transport=getattr(args, "transport", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["hook"]:  # hosts run hooks on every event: skip loading the other commands
        from langmem_mcp.commands import hook

        return hook.main(argv[1:])
    modules = command_modules()
    parser = build_parser(modules)
    args = parser.parse_args(argv)
    try:
        settings = settings_from(args)
        settings = settings.with_overrides(data_dir=settings.data_dir.expanduser().resolve())
    except ValueError as exc:
        parser.error(str(exc))
    module = modules[args.command or DEFAULT_COMMAND]
    if not args.command:  # bare `langmem-mcp`: serve's own options take their defaults
        serve_parser = argparse.ArgumentParser()
        module.add_arguments(serve_parser)
        for key, value in vars(serve_parser.parse_args([])).items():
            setattr(args, key, value)
    try:
        status: int = module.run(args, settings)
    except BrokenPipeError:
        # The reader went away (`langmem-mcp export | head`): stop quietly, as Unix tools do, and
        # point stdout at nothing so flushing it at exit does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
