"""Staff accounts, as operators manage them with `khaibao users …`: create with a role and,
where the role has one, an area, checkpoints or an organisation; list; disable and enable;
reset a password; change a role or an area. Every change but a creation bumps the account's
token version, so its live access tokens stop working (see `accounts.sessions`). Each one is
written with its `audit_log` entry (who, `by`; which account, by id; what, without the
password), in one batch: no entry, no change."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass

from accounts import repository, sessions
from accounts.passwords import hash_password
from core.clock import new_id, utcnow
from core.context import Context
from core.errors import Conflict, NotFound
from core.i18n import Text
from core.principals import Area, Principal, Role
from core.storage import Document, DuplicateKey, PreconditionFailed
from reports.audit import audited_change

MIN_PASSWORD = 10
# Roles an area narrows (API.md, "Additions, December 2026"); the others see what their
# role allows nationwide, or (checkpoint staff) only their checkpoints.
AREA_ROLES: frozenset[Role] = frozenset({"health_officer", "responder"})
ORGANISATION_ID = re.compile(r"^org_[0-9A-HJKMNP-TV-Z]{26}$")
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class StaffError(ValueError):
    """An operator's request that cannot be done, in one sentence that says why."""


@dataclass(frozen=True)
class StaffAccount:
    """What `users list` shows: never the password hash."""

    id: str
    username: str
    role: Role
    area: Area | None
    checkpoints: tuple[str, ...]
    organisation: str | None
    disabled: bool


def area_of(document: Document) -> Area | None:
    area = document.get("area")
    if not area:
        return None
    return Area(int(area["province"]), None if area.get("ward") is None else int(area["ward"]))


def token_version(user: Document) -> int:
    """The account's token version: what every change to it bumps (`_change`)."""
    return int(user.get("token_version", 0))


def principal_of(user: Document) -> Principal:
    """The caller a staff account signs in as, with its current token version."""
    return Principal(
        str(user["_id"]),
        user["role"],
        frozenset(user.get("checkpoints", [])),
        area=area_of(user),
        organisation=user.get("organisation"),
        version=token_version(user),
    )


def _stored_area(area: Area | None) -> Document | None:
    return None if area is None else {"province": area.province, "ward": area.ward}


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise StaffError(f"The password must be at least {MIN_PASSWORD} characters.")


def _check_shape(role: Role, area: Area | None, organisation: str | None) -> None:
    if role == "citizen":
        raise StaffError("Citizens sign in by phone; give a staff role.")
    if area is not None and role not in AREA_ROLES:
        raise StaffError("Only health_officer and responder accounts can have an area.")
    if role == "organisation" and organisation is None:
        raise StaffError("An organisation account needs --organisation ID.")
    if organisation is not None:
        if role != "organisation":
            raise StaffError("Only organisation accounts belong to an organisation.")
        if not ORGANISATION_ID.fullmatch(organisation):
            raise StaffError("An organisation id looks like org_ followed by 26 characters.")


async def create_staff(
    ctx: Context,
    *,
    username: str,
    password: str,
    role: Role,
    checkpoints: Iterable[str] = (),
    area: Area | None = None,
    organisation: str | None = None,
    by: Principal,
) -> str:
    checkpoints = sorted(set(checkpoints))
    if not USERNAME.fullmatch(username):
        raise StaffError(
            "A username is 1 to 64 letters, digits, dots, dashes, underscores or @, "
            "starting with a letter or digit."
        )
    _check_shape(role, area, organisation)
    _check_password(password)
    user_id = new_id("usr")
    document: Document = {
        "_id": user_id,
        "username": username,
        "password_hash": await asyncio.to_thread(hash_password, password),
        "role": role,
        "checkpoints": checkpoints,
        "area": _stored_area(area),
        "organisation": organisation,
        "disabled": False,
        "token_version": 0,
        "created_at": utcnow(),
    }
    audit = audited_change(
        by, "staff.create", _audited_shape(document), now=document["created_at"], target=user_id
    )
    try:
        await ctx.store.write([repository.insert_staff(document), audit])
    except DuplicateKey:
        raise Conflict(
            Text(
                f"The username {username} is taken: choose another.",
                "Tên đăng nhập đã tồn tại: hãy chọn tên khác.",
            )
        ) from None
    return user_id


async def list_staff(ctx: Context) -> list[StaffAccount]:
    return [
        StaffAccount(
            id=str(user["_id"]),
            username=user["username"],
            role=user["role"],
            area=area_of(user),
            checkpoints=tuple(user.get("checkpoints", [])),
            organisation=user.get("organisation"),
            disabled=bool(user.get("disabled")),
        )
        for user in await repository.all_staff(ctx.store)
    ]


async def _user(ctx: Context, username: str) -> Document:
    user = await repository.staff_by_username(ctx.store, username)
    if user is None:
        raise NotFound(
            Text(f"There is no staff account {username}.", "Không có tài khoản nhân viên này.")
        )
    return user


def _audited_shape(fields: Document) -> Document:
    """What the audit entry of a change records: the account's shape, never a password."""
    return {k: v for k, v in fields.items() if k in _AUDITED_FIELDS}


_AUDITED_FIELDS = frozenset({"role", "area", "checkpoints", "organisation", "disabled"})


async def _change(
    ctx: Context, user: Document, fields: Document, action: str, by: Principal
) -> None:
    user_id = str(user["_id"])
    audit = audited_change(by, action, _audited_shape(fields), now=utcnow(), target=user_id)
    try:
        await ctx.store.write([repository.update_staff(user_id, fields), audit])
    except PreconditionFailed:  # removed meanwhile
        raise NotFound() from None
    # This process stops honouring the old tokens now; other processes within
    # KHAIBAO_STAFF_CHECK_SECONDS.
    sessions.forget(ctx, user_id)


def sign_in_bucket(ctx: Context, username: str) -> str:
    """The rate limiter's bucket of wrong passwords for a user name (`accounts.service`):
    a keyed hash, since what was typed as a user name may be a password."""
    name = ctx.cipher.lookup_hash(username, context="ratelimit.staff_sign_in")
    return f"pw:u:{name}"


async def lift_lockout(ctx: Context, username: str) -> None:
    """Forget the user name's wrong passwords: the user name's lock-out (429 sign_in_locked)
    tells the locked-out to ask an administrator, and this is what the administrator's
    reset or enabling does. The per-address count stays: it guards against one machine
    trying many names, which a reset of one of them does not answer (so the address's
    lock-out does not send anyone to an administrator)."""
    window = 60 * ctx.settings.staff_sign_in_window_minutes
    await ctx.limiter.clear(sign_in_bucket(ctx, username), window_seconds=window)


async def set_disabled(ctx: Context, username: str, disabled: bool, *, by: Principal) -> None:
    user = await _user(ctx, username)
    action = "staff.disable" if disabled else "staff.enable"
    await _change(ctx, user, {"disabled": disabled}, action, by)
    if not disabled:
        await lift_lockout(ctx, username)


async def reset_password(ctx: Context, username: str, password: str, *, by: Principal) -> None:
    """A new password ends every session of the account: whoever knew the old one is out.
    It also lifts the user name's sign-in lock-out, as that 429 promises (not the address's)."""
    _check_password(password)
    user = await _user(ctx, username)
    password_hash = await asyncio.to_thread(hash_password, password)
    await _change(ctx, user, {"password_hash": password_hash}, "staff.reset_password", by)
    await lift_lockout(ctx, username)


async def update_staff(
    ctx: Context,
    username: str,
    *,
    role: Role | None = None,
    area: Area | None = None,
    whole_country: bool = False,
    by: Principal,
) -> None:
    """A new role or area; the account signs in again to get it."""
    user = await _user(ctx, username)
    new_role: Role = role or user["role"]
    new_area = None if whole_country else (area or area_of(user))
    checkpoints = user.get("checkpoints", []) if new_role == "checkpoint_staff" else []
    organisation = user.get("organisation") if new_role == "organisation" else None
    if new_area is not None and new_role not in AREA_ROLES and area is None:
        new_area = None  # the old role's area does not carry over to a role without one
    _check_shape(new_role, new_area, organisation)
    fields: Document = {
        "role": new_role,
        "area": None
        if new_area is None
        else {"province": new_area.province, "ward": new_area.ward},
        "checkpoints": checkpoints,
        "organisation": organisation,
    }
    await _change(ctx, user, fields, "staff.update", by)
