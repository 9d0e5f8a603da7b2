"""`khaibao keys …`: the operators' signing-key commands.

* `keys rotate [--algorithm ES256|EdDSA]` publishes a new key at once and says when it
  starts signing: once every cached copy of the key set has it (`qr.rotation.takeover_delay`,
  about 6 minutes). The previous key signs until then and stays published until the last
  token it signed expires.
* `keys list` prints every key with its state (current, next, published, expired,
  removed), then created, retired, published-until and signs-from times.
* `keys remove KID` is for a compromised key: its tokens are refused from then on
  (other processes within `KHAIBAO_QR_KEY_CACHE_SECONDS`); removing the current key
  makes the key waiting to sign, or else a new one, sign at once; removing the waiting
  key cancels its rotation.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from functools import partial
from typing import Any

from core.context import Context, ContextRunner
from core.principals import shell_operator
from qr import keys, rotation


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"


def _rotate(args: argparse.Namespace, run: ContextRunner) -> int:
    async def action(ctx: Context) -> rotation.Rotation:
        return await rotation.rotate(ctx, args.algorithm, by=shell_operator())

    try:
        rotated = run(action)
    except rotation.KeyCommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"{rotated.kid} published now; it signs from {_when(rotated.signs_from)}, "
        "once every cached copy of the key set has it"
    )
    return 0


def _list(args: argparse.Namespace, run: ContextRunner) -> int:
    async def action(ctx: Context) -> list[dict[str, Any]]:
        return await rotation.list_keys(ctx)

    print("kid\talg\tstate\tcreated\tretired\tpublished_until\tsigns_from")
    for key in run(action):
        print(
            key["kid"],
            key["alg"],
            key["state"],
            _when(key["created_at"]),
            _when(key["retired_at"]),
            _when(key["publish_until"]),
            _when(key["signs_from"]),
            sep="\t",
        )
    return 0


def _remove(args: argparse.Namespace, run: ContextRunner) -> int:
    async def action(ctx: Context) -> str | None:
        return await rotation.remove(ctx, args.kid, by=shell_operator())

    try:
        new_kid = run(action)
    except rotation.KeyCommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"removed {args.kid}" + (f"; new current key {new_kid}" if new_kid else ""))
    return 0


def register(subparsers: Any, run: ContextRunner) -> None:
    parser = subparsers.add_parser("keys", help="QR signing keys")
    commands = parser.add_subparsers(dest="keys_command", required=True)
    rotate = commands.add_parser(
        "rotate", help="publish a new key now; it signs once every cached key set has it"
    )
    rotate.add_argument(
        "--algorithm",
        choices=keys.ALGORITHMS,
        default=None,
        help="the new key's algorithm (default: KHAIBAO_QR_ALGORITHM, ES256 unless set)",
    )
    rotate.set_defaults(handler=partial(_rotate, run=run))
    listing = commands.add_parser(
        "list",
        help="list keys and their state: current, next, published, expired or removed",
    )
    listing.set_defaults(handler=partial(_list, run=run))
    remove = commands.add_parser(
        "remove",
        help="remove a compromised key: its tokens fail",
        description="Remove a compromised key. This cannot be undone: every QR code it "
        "signed, venue posters included, is refused from then on. Removing the current key "
        "makes the key waiting to sign (or a new one) sign at once.",
    )
    remove.add_argument("kid", help="the key's id, the first column of `khaibao keys list`")
    remove.set_defaults(handler=partial(_remove, run=run))
