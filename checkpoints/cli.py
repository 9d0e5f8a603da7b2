"""`khaibao checkpoints create|list`: what an admin does over HTTP, from the operator's shell,
so that setting up a checkpoint and its staff needs no token (`users create --checkpoint`
takes the id this prints)."""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any, get_args

from pydantic import ValidationError

from checkpoints import repository, service
from checkpoints.schemas import Kind, NewCheckpoint
from core.context import Context, ContextRunner
from core.principals import shell_operator


class CheckpointCommandError(ValueError):
    """One sentence an operator can act on."""


def _new_checkpoint(args: argparse.Namespace) -> NewCheckpoint:
    try:
        return NewCheckpoint(name=args.name, province=args.province, ward=args.ward, kind=args.kind)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or "checkpoint"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise CheckpointCommandError(f"--{field}: {message}.") from None


def _create(args: argparse.Namespace, run: ContextRunner) -> int:
    body = _new_checkpoint(args)

    async def create(ctx: Context) -> service.Registered:
        return await service.create_checkpoint(ctx, shell_operator(), body)

    print(run(create).checkpoint.id)
    return 0


def _list(args: argparse.Namespace, run: ContextRunner) -> int:
    async def listing(ctx: Context) -> list[dict[str, Any]]:
        return await repository.checkpoints(ctx.store, province=args.province, limit=args.limit)

    print("id\tkind\tprovince\tward\tname")
    for checkpoint in run(listing):
        print(
            checkpoint["_id"],
            checkpoint["kind"],
            checkpoint["province"],
            checkpoint["ward"],
            checkpoint["name"],
            sep="\t",
        )
    return 0


def register(subparsers: Any, run: ContextRunner) -> None:
    parser = subparsers.add_parser("checkpoints", help="checkpoints (venues and scan points)")
    commands = parser.add_subparsers(dest="checkpoints_command", required=True)
    create = commands.add_parser("create", help="register a checkpoint; prints its id")
    create.add_argument("--name", required=True, help="what staff and visitors call it")
    create.add_argument("--province", type=int, required=True, help="province code")
    create.add_argument("--ward", type=int, required=True, help="ward code in that province")
    create.add_argument("--kind", required=True, choices=get_args(Kind))
    create.set_defaults(handler=partial(_create, run=run))
    listing = commands.add_parser("list", help="list checkpoints, oldest first")
    listing.add_argument("--province", type=int, help="only this province")
    listing.add_argument("--limit", type=int, default=500, help="list at most this many")
    listing.set_defaults(handler=partial(_list, run=run))
