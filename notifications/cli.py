"""`khaibao notifications failed` and `khaibao notifications retry ID…|--all`: what an
operator needs when the gateway was down longer than the retries lasted."""

from __future__ import annotations

import argparse
import sys
from functools import partial
from typing import Any

from core.clock import utcnow
from core.context import Context, ContextRunner
from core.storage import Store
from notifications import repository

PAGE = 500


async def list_failed(store: Store, *, limit: int) -> list[dict[str, Any]]:
    """Failed notifications without personal data: no recipient, no parameters."""
    return [
        {
            "id": document["_id"],
            "kind": document["kind"],
            "attempts": document["attempts"],
            "last_error": document.get("last_error"),
            "created_at": document["created_at"].isoformat(),
        }
        for document in await repository.failed(store, limit=limit)
    ]


async def retry_failed(store: Store, ids: list[str] | None) -> list[str]:
    """Back to pending with fresh attempts; the relay of any API or worker sends them.
    `ids=None` retries every failed notification. Returns the ids put back."""
    if ids is not None:
        return await repository.put_back(store, ids, now=utcnow())
    retried: list[str] = []
    while True:
        page = [str(d["_id"]) for d in await repository.failed(store, limit=PAGE)]
        if not page:
            return retried
        done = await repository.put_back(store, page, now=utcnow())
        retried += done
        if not done:  # someone else is retrying the same ones
            return retried


def _failed(args: argparse.Namespace, run: ContextRunner) -> int:
    async def action(ctx: Context) -> list[dict[str, Any]]:
        return await list_failed(ctx.store, limit=args.limit)

    rows: list[dict[str, Any]] = run(action)
    print("id\tkind\tattempts\tlast_error\tcreated_at")
    for row in rows:
        print(
            f"{row['id']}\t{row['kind']}\t{row['attempts']}\t{row['last_error'] or '-'}\t"
            f"{row['created_at']}"
        )
    return 0


def _retry(args: argparse.Namespace, run: ContextRunner) -> int:
    if bool(args.ids) == bool(args.all):
        print("error: give notification ids, or --all", file=sys.stderr)
        return 2

    async def action(ctx: Context) -> list[str]:
        return await retry_failed(ctx.store, None if args.all else list(args.ids))

    retried: list[str] = run(action)
    for notification_id in retried:
        print(notification_id)
    missed = sorted(set(args.ids) - set(retried))
    for notification_id in missed:
        print(f"error: {notification_id} is not a failed notification", file=sys.stderr)
    return 1 if missed else 0


def register(commands: Any, run: ContextRunner) -> None:
    notifications = commands.add_parser(
        "notifications", help="notifications that could not be delivered"
    ).add_subparsers(dest="notifications_command", required=True)

    failed = notifications.add_parser("failed", help="list failed notifications (no phones)")
    failed.add_argument("--limit", type=int, default=100, help="list at most this many")
    failed.set_defaults(handler=partial(_failed, run=run))

    retry = notifications.add_parser("retry", help="put failed notifications back to pending")
    retry.add_argument("ids", nargs="*", metavar="ID")
    retry.add_argument("--all", action="store_true", help="every failed notification")
    retry.set_defaults(handler=partial(_retry, run=run))
