"""The staff a run signs in as: accounts made by `khaibao users create` (the CLI, run as a
subprocess, with the settings of the server the run started) or given by the operator of a
deployed service, and what their access tokens say they serve."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from load.seed_http import SeedError

Role = str
StaffAccount = tuple[str, Role, list[str]]  # username, role, checkpoint ids
# The ward the load's health officer serves (Hà Nội, Hoàn Kiếm), and its episodes' address.
OFFICER_AREA = (1, 70)


@dataclass(frozen=True)
class Login:
    username: str
    password: str

    @classmethod
    def parse(cls, text: str) -> Login:
        """`username:password` (the password may hold colons)."""
        username, colon, password = text.strip().partition(":")
        if not colon or not username or not password:
            raise SeedError("an account is given as username:password")
        return cls(username, password)


@dataclass(frozen=True)
class GivenStaff:
    """Accounts an operator made on a deployed service (`khaibao users create` there):
    the admin, optionally an analyst, and checkpoint staff whose checkpoints are read from
    their access tokens. Nothing is created on the target but checkpoints and data."""

    admin: Login
    analyst: Login | None = None
    clerks: tuple[Login, ...] = ()
    border_clerks: tuple[Login, ...] = ()
    officer: Login | None = None  # a health officer bound to one ward


def create_staff_with_cli(env: dict[str, str], accounts: list[StaffAccount], password: str) -> None:
    """`khaibao users create` for each account, with the server's settings (its database),
    the password on standard input as an operator gives it. Argon2 hashing stays out of the
    measured run. A health officer serves OFFICER_AREA."""
    for username, role, checkpoints in accounts:
        options = ["--role", role, "--username", username]
        for checkpoint_id in checkpoints:
            options += ["--checkpoint", checkpoint_id]
        if role == "health_officer":
            options += ["--province", str(OFFICER_AREA[0]), "--ward", str(OFFICER_AREA[1])]
        _users_create(env, options, password)


def create_officer_with_cli(
    env: dict[str, str], username: str, password: str, *, province: int, ward: int | None
) -> None:
    """A health officer bound to a province, or to one ward of it."""
    options = ["--role", "health_officer", "--username", username, "--province", str(province)]
    if ward is not None:
        options += ["--ward", str(ward)]
    _users_create(env, options, password)


def _users_create(env: dict[str, str], options: list[str], password: str) -> None:
    command = [sys.executable, "-m", "api.cli", "users", "create", *options]
    done = subprocess.run(  # noqa: S603 (our own interpreter, fixed arguments)
        command,
        input=password + "\n",
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        username = options[options.index("--username") + 1]
        raise SeedError(f"khaibao users create {username}: {done.stderr.strip()[-300:]}")


def token_checkpoints(access_token: str) -> list[str]:
    """The checkpoints a staff member serves, as their access token says (`cps`). Read, not
    verified: the service verifies it on every request."""
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError) as exc:
        raise SeedError("a staff access token that is not a JWT") from exc
    return [str(c) for c in claims.get("cps", [])]


def token_area(access_token: str) -> tuple[int, int | None] | None:
    """The (province, ward) an officer's token binds them to: ward None for a whole
    province, None for the whole country. Read, not verified, as `token_checkpoints`."""
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError) as exc:
        raise SeedError("a staff access token that is not a JWT") from exc
    area = claims.get("area")
    if isinstance(area, list) and len(area) == 2:
        return int(area[0]), None if area[1] is None else int(area[1])
    return None


StaffMaker = Callable[[list[StaffAccount], str], None]


def staff_maker(env: dict[str, str]) -> StaffMaker:
    """Staff made by the CLI with the settings of the server this run started."""
    return lambda accounts, password: create_staff_with_cli(env, accounts, password)


__all__ = [
    "OFFICER_AREA",
    "GivenStaff",
    "Login",
    "StaffAccount",
    "StaffMaker",
    "create_officer_with_cli",
    "create_staff_with_cli",
    "staff_maker",
    "token_area",
    "token_checkpoints",
]
