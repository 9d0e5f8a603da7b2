"""Personal codes: issue, or hand back the one already live, and the public key set."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from core.clock import utcnow
from core.context import Context
from core.errors import NotFound
from core.principals import Principal
from core.storage import Document, PreconditionFailed
from people.repository import get_person, person_held
from qr import repository
from qr.keys import key_ring
from qr.signing import sign_person_token
from qr.tokens import (
    KINDS,
    TokenRejected,
    unverified_jti,
    verify_entry_token,
    verify_person_token,
)

# A live code is handed out again while more than this share of its lifetime is left, so
# the phone shows one stable code (and its revalidation is a 304) instead of a new one per call.
REUSE_WHILE_LEFT = 0.25


@dataclass(frozen=True)
class PersonCode:
    token: str
    jti: str
    status: str
    expires_at: datetime
    fresh_until: datetime  # when a later request would get a new code


async def person_code(ctx: Context, caller: Principal, person_id: str) -> PersonCode:
    """The caller's person's code: the live one while the status is unchanged and enough
    lifetime is left, else a new one, recorded so it can be revoked."""
    person = await get_person(ctx.store, person_id)
    if person is None or person.get("account_id") != caller.subject:
        raise NotFound()
    now = utcnow()
    lifetime = timedelta(hours=ctx.settings.qr_token_hours)
    margin = lifetime * REUSE_WHILE_LEFT
    status = str(person["status"])
    live = await repository.newest_live_token(ctx.store, person_id, valid_after=now + margin)
    if live is not None and live["status"] == status:
        key = (await key_ring(ctx)).keys.get(str(live["kid"]))
        if key is not None and key.usable(now):
            return PersonCode(
                live["token"], str(live["_id"]), status, live["exp"], live["exp"] - margin
            )
    issued, record = await sign_person_token(ctx, person_id, status, now=now)
    try:
        # The code's record names the person: only while their erasure has not begun.
        await ctx.store.write([record, person_held(person_id)])
    except PreconditionFailed:
        raise NotFound() from None
    return PersonCode(issued.token, issued.jti, status, issued.exp, issued.exp - margin)


async def published_keys(ctx: Context) -> list[dict[str, Any]]:
    """The key published ahead of signing if there is one, the current key and every earlier
    one whose tokens may still be live: the latest to sign first."""
    ring = await key_ring(ctx)
    keys = sorted(ring.published(utcnow()), key=lambda k: k.signs_from, reverse=True)
    return [dict(key.jwk) for key in keys]


@dataclass(frozen=True)
class Identified:
    person_id: str
    revoked: bool


async def identify(ctx: Context, token: str, *, now: datetime) -> Identified:
    """Whose code this is: one primary-key read of the token record by the `jti` the token
    claims, which names the person (the token's random `sub` must be the record's) and says
    whether the token was revoked; then the token checked with cached keys. A token that
    is, character for character, the one the record keeps was signed here, so its
    signature is not checked again (`qr.tokens.verify`): that check was a third to a half
    of a scan's own work (BENCHMARKS.md). Raises TokenRejected."""
    record = await _identified_record(ctx, token, "person", verify_person_token, now=now)
    return Identified(str(record["person_id"]), record.get("revoked_at") is not None)


async def identify_entry(ctx: Context, token: str, *, now: datetime) -> Identified:
    """The entry declaration an arrival's code belongs to (`Identified.person_id` holds its
    id), checked as a personal code is but for its own type and audience. A code of the
    type entry codes had before (a personal code's) counts only if its record is an entry's,
    so no personal code gets through a border scan. Raises TokenRejected."""
    record = await _identified_record(ctx, token, "entry", verify_entry_token, now=now)
    return Identified(str(record["entry_id"]), record.get("revoked_at") is not None)


class _Verifier(Protocol):
    async def __call__(
        self, ctx: Context, token: str, *, now: datetime, issued_copy: str | None = None
    ) -> dict[str, Any]: ...


async def _identified_record(
    ctx: Context, token: str, kind: str, verifier: _Verifier, *, now: datetime
) -> Document:
    jti = unverified_jti(token)
    record = await repository.token(ctx.store, jti) if jti is not None else None
    issued_copy = record.get("token") if record is not None else None
    claims = await verifier(
        ctx, token, now=now, issued_copy=issued_copy if isinstance(issued_copy, str) else None
    )
    if record is None or record.get("sub") != claims["sub"]:
        raise TokenRejected("unknown_token")
    shown = record.get("kind")
    if shown != kind:
        # Ours, of another kind: a personal code passes as an entry code of the old type
        # (`verify_entry_token`) until its record says which it is.
        raise TokenRejected("wrong_type", shown=shown if shown in KINDS.values() else None)
    return record
