"""`langmem-mcp token create|list|revoke`: access tokens for the HTTP transports and REST API."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from langmem_mcp.config import Settings

NAME = "token"
HELP = "create, list or revoke access tokens (each limited to one namespace prefix)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="token_action", metavar="ACTION", required=True)
    create = sub.add_parser(
        "create",
        help="create a token; prints it once, on the last line (only its hash is stored)",
        description="Create a token limited to the namespaces under --namespace (e.g. users/alice). "
        "The token is printed once, alone on the last line; only its SHA-256 is stored.",
    )
    create.add_argument("--name", default="", help="a label to recognise it by in `token list`")
    create.add_argument(
        "--namespace",
        dest="token_prefix",
        required=True,
        help="namespace prefix the token may use, segments joined by '/' (e.g. users/alice)",
    )
    sub.add_parser("list", help="list tokens (ids, prefixes, labels; never the tokens)")
    revoke = sub.add_parser("revoke", help="revoke a token by id (see `token list`)")
    revoke.add_argument("token_id", help="the token's id")
    for action in (create, sub.choices["list"], revoke):  # `--data-dir` works after the action too
        action.add_argument("--data-dir", default=argparse.SUPPRESS, help="the server's data directory")


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from langmem_mcp.errors import LangmemError
    from langmem_mcp.service.container import open_services

    async with open_services(settings) as services:
        return await _act(args, services.tokens, LangmemError)


async def _act(args: argparse.Namespace, svc: Any, error: type[Exception]) -> int:
    try:
        if args.token_action == "create":
            new = await svc.create(args.token_prefix, args.name)
            print(
                f"created token {new.row.id} for namespaces under {new.row.prefix!r}; it is shown only once:"
            )
            print(new.token)
        elif args.token_action == "list":
            rows = await svc.list()
            if not rows:
                print("no tokens; HTTP and SSE serve loopback clients only")
            for r in rows:
                status = "active" if r.active else f"revoked {r.revoked_at}"
                print(f"{r.id}  {r.prefix}  {status}  created {r.created_at}  {r.name}".rstrip())
        else:
            await svc.revoke(args.token_id)
            print(f"revoked token {args.token_id}")
        return 0
    except error as exc:
        print(f"langmem-mcp token: {exc}", file=sys.stderr)
        return 1


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_run(args, settings))
