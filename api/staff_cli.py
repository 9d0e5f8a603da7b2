"""`khaibao users …`: staff accounts, as an operator manages them.

Here, in the app's assembly, because an account names things other domains own: the
checkpoints a checkpoint_staff account serves must exist, and an area must be a province or
one of its wards in the 2025 divisions. Passwords are read from standard input, never from
arguments (which other users of the machine can see). Each change is audited as made by
`cli:<OS user>` (`core.principals.shell_operator`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from accounts import staff
from api.cli import CommandError
from checkpoints import repository as checkpoints_repository
from core.context import Context
from core.principals import ROLES, Area, shell_operator
from declarations.fields import province_exists, province_of_ward
from rights import repository as rights_repository
from runtime.context import run_with_context

STAFF_ROLES = [role for role in ROLES if role != "citizen"]


def check_area(province: int | None, ward: int | None) -> Area | None:
    """An area from the operator's codes, checked against the 2025 divisions."""
    if province is None:
        if ward is not None:
            raise CommandError("--ward needs --province: name the province the ward belongs to.")
        return None
    if not province_exists(province):
        raise CommandError(f"There is no province with code {province} in the 2025 divisions.")
    if ward is not None and province_of_ward(ward) != province:
        raise CommandError(f"Ward {ward} is not a ward of province {province}.")
    return Area(province, ward)


def _password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CommandError('Give the password on standard input: echo "$PW" | khaibao users …')
    return password


def _create(args: argparse.Namespace) -> int:
    if args.checkpoint and args.role != "checkpoint_staff":
        raise CommandError("Only checkpoint_staff accounts serve checkpoints: drop --checkpoint.")
    area = check_area(args.province, args.ward)
    password = _password()

    async def create(ctx: Context) -> str:
        for checkpoint_id in args.checkpoint or []:
            if await checkpoints_repository.checkpoint(ctx.store, checkpoint_id) is None:
                raise CommandError(
                    f"There is no checkpoint {checkpoint_id}: see `khaibao checkpoints list`."
                )
        organisation = args.organisation
        if organisation and await rights_repository.organisation(ctx.store, organisation) is None:
            raise CommandError(
                f"There is no organisation {organisation}: an admin registers it first "
                "(POST /v1/organisations)."
            )
        return await staff.create_staff(
            ctx,
            username=args.username,
            password=password,
            role=args.role,
            checkpoints=args.checkpoint or [],
            area=area,
            organisation=args.organisation,
            by=shell_operator(),
        )

    print(run_with_context(create))
    return 0


def _area_text(area: Area | None) -> str:
    if area is None:
        return "whole country"
    return f"province {area.province}" + ("" if area.ward is None else f" ward {area.ward}")


def _list(args: argparse.Namespace) -> int:
    accounts = run_with_context(staff.list_staff)
    # The id last: it is what the audit log names (`khaibao audit --user`).
    print("username\trole\tarea\tcheckpoints\torganisation\tstate\tid")
    for account in accounts:
        print(
            account.username,
            account.role,
            _area_text(account.area),
            ",".join(account.checkpoints) or "-",
            account.organisation or "-",
            "disabled" if account.disabled else "active",
            account.id,
            sep="\t",
        )
    return 0


def _disable(args: argparse.Namespace) -> int:
    async def disable(ctx: Context) -> None:
        await staff.set_disabled(ctx, args.username, True, by=shell_operator())

    run_with_context(disable)
    print(f"disabled {args.username}: its sessions have ended")
    return 0


def _enable(args: argparse.Namespace) -> int:
    async def enable(ctx: Context) -> None:
        await staff.set_disabled(ctx, args.username, False, by=shell_operator())

    run_with_context(enable)
    print(f"enabled {args.username}")
    return 0


def _reset_password(args: argparse.Namespace) -> int:
    password = _password()

    async def reset(ctx: Context) -> None:
        await staff.reset_password(ctx, args.username, password, by=shell_operator())

    run_with_context(reset)
    print(f"new password set for {args.username}: its sessions have ended")
    return 0


def _update(args: argparse.Namespace) -> int:
    if args.whole_country and args.province is not None:
        raise CommandError("Give --province or --whole-country, not both.")
    if args.role is None and args.province is None and not args.whole_country:
        raise CommandError("Nothing to change: give --role, --province or --whole-country.")
    area = check_area(args.province, args.ward)

    async def update(ctx: Context) -> None:
        await staff.update_staff(
            ctx,
            args.username,
            role=args.role,
            area=area,
            whole_country=args.whole_country,
            by=shell_operator(),
        )

    run_with_context(update)
    print(f"updated {args.username}: it signs in again to get the change")
    return 0


def _area_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--province", type=int, help="province code: the account's area")
    parser.add_argument("--ward", type=int, help="ward code inside --province: a smaller area")


def register(subparsers: Any) -> None:
    users = subparsers.add_parser("users", help="staff accounts").add_subparsers(
        dest="users_command", required=True
    )
    create = users.add_parser(
        "create",
        help="create a staff account; password on stdin",
        description="Create a staff account and print its id. The password is read from "
        "standard input, never from an argument (other users of the machine see those): "
        'echo "$PW" | khaibao users create --role analyst --username an.nguyen. '
        f"Roles: {', '.join(STAFF_ROLES)}.",
    )
    create.add_argument(
        "--role",
        required=True,
        choices=STAFF_ROLES,
        metavar="ROLE",
        help=f"what the account may do: {', '.join(STAFF_ROLES)}",
    )
    create.add_argument("--username", required=True, help="the name it signs in with")
    create.add_argument("--checkpoint", action="append", help="checkpoint id (repeatable)")
    create.add_argument("--organisation", help="organisation id (role organisation)")
    _area_options(create)
    create.set_defaults(handler=_create)

    listing = users.add_parser("list", help="list staff accounts (never their passwords)")
    listing.set_defaults(handler=_list)

    disable = users.add_parser("disable", help="disable an account: its tokens stop at once")
    disable.add_argument("--username", required=True)
    disable.set_defaults(handler=_disable)

    enable = users.add_parser("enable", help="enable a disabled account again")
    enable.add_argument("--username", required=True)
    enable.set_defaults(handler=_enable)

    reset = users.add_parser(
        "reset-password",
        help="set a new password (stdin); ends sessions",
        description='Set a new password, read from standard input (echo "$PW" | khaibao '
        "users reset-password --username NAME), and end the account's sessions.",
    )
    reset.add_argument("--username", required=True)
    reset.set_defaults(handler=_reset_password)

    update = users.add_parser("update", help="change an account's role or area; ends sessions")
    update.add_argument("--username", required=True)
    update.add_argument("--role", choices=STAFF_ROLES)
    _area_options(update)
    update.add_argument("--whole-country", action="store_true", help="remove the area")
    update.set_defaults(handler=_update)
