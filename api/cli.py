"""The `khaibao` command: serve, worker, users, and the operators' tools of each domain."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

from accounts.tokens import ROLES
from api.eventloop import EVENT_LOOP
from core.context import Context
from core.settings import get_settings

# Domains that add their own subcommands define `register(subparsers)` in these modules.
COMMAND_MODULES: tuple[str, ...] = ("qr.cli", "notifications.cli", "load.cli")


def run_with_context(action: Callable[[Context], Awaitable[Any]]) -> Any:
    """Run one operator action with a full context (store, cipher, Redis), then close it."""
    from api.app import build_context, close_context

    async def main() -> Any:
        ctx = await build_context(get_settings())
        try:
            return await action(ctx)
        finally:
            await close_context(ctx)

    return asyncio.run(main())


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    if args.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Each worker is its own process; metrics are merged through this directory.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="khaibao-metrics-")
    uvicorn.run(
        "api.app:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=True,
        access_log=False,
        loop=EVENT_LOOP,
        timeout_graceful_shutdown=10,
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    from notifications.celery_app import run_worker

    return run_worker(concurrency=args.concurrency)


def _users_create(args: argparse.Namespace) -> int:
    from accounts.service import create_staff

    password = sys.stdin.readline().rstrip("\n")
    if not password:
        print("error: give the password on standard input", file=sys.stderr)
        return 2

    async def create(ctx: Context) -> str:
        return await create_staff(
            ctx,
            username=args.username,
            password=password,
            role=args.role,
            checkpoints=args.checkpoint or [],
        )

    try:
        user_id = run_with_context(create)
    except Exception as exc:  # an operator's typo deserves one line, not a trace
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(user_id)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="khaibao", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(handler=_serve)

    worker = commands.add_parser("worker", help="run the Celery worker (needs KHAIBAO_REDIS_URL)")
    worker.add_argument("--concurrency", type=int, default=2)
    worker.set_defaults(handler=_worker)

    users = commands.add_parser("users", help="staff accounts").add_subparsers(
        dest="users_command", required=True
    )
    create = users.add_parser("create", help="create a staff account; password on stdin")
    create.add_argument("--role", required=True, choices=[r for r in ROLES if r != "citizen"])
    create.add_argument("--username", required=True)
    create.add_argument("--checkpoint", action="append", help="checkpoint id (repeatable)")
    create.set_defaults(handler=_users_create)

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands)
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    # A key id is a JWK thumbprint in base64url, so one in 64 begins with "-", which argparse
    # would take for an option: what follows `keys remove` is the id, whatever it looks like.
    if argv[:2] == ["keys", "remove"] and len(argv) == 3 and argv[2] not in ("-h", "--help"):
        argv = [*argv[:2], "--", argv[2]]
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
