"""`langmem-mcp ui`: the memory browser. Serves HTTP on loopback (MCP, the REST API and the pages,
as `serve --transport http` does) and opens http://127.0.0.1:PORT/ui/ in the default browser."""

from __future__ import annotations

import argparse
import logging
import sys
import threading

from langmem_mcp.config import Settings

NAME = "ui"
HELP = "open the memory browser: serve HTTP on this machine only and open its page in your browser"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, help="port on 127.0.0.1 (default 8765; 0 picks a free one)")
    p.add_argument(
        "--no-open", action="store_true", help="print the page's address instead of opening a browser"
    )


def _open(url: str) -> None:
    import webbrowser

    if not webbrowser.open(url):
        print(f"langmem-mcp: no web browser found; open {url} yourself", file=sys.stderr, flush=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    logging.basicConfig(
        level=settings.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from langmem_mcp.server.http import RefuseToStart, serve

    # Loopback only, whatever LANGMEM_MCP_HOST says: this command is for the person at this machine.
    settings = settings.with_overrides(transport="http", host="127.0.0.1")

    def listening(base: str) -> None:
        url = f"{base}/ui/"
        print(f"memory browser: {url}  (Ctrl-C stops it)", flush=True)
        if not args.no_open:
            # A console browser would hold this thread until it exits: not the server's.
            threading.Thread(target=_open, args=(url,), daemon=True, name="open-browser").start()

    try:
        serve(settings, on_listening=listening)
    except KeyboardInterrupt:
        pass
    except RefuseToStart as exc:
        print(f"langmem-mcp: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # uvicorn exits when it cannot bind
        if exc.code:
            print(
                f"langmem-mcp: could not listen on 127.0.0.1:{settings.port} (see above). If a server already "
                f"runs there, its memory browser is at http://127.0.0.1:{settings.port}/ui/; or pass --port 0 "
                "for a free port.",
                file=sys.stderr,
            )
            return 1
    return 0
