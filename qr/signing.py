"""Signing the three kinds of QR token (their formats: `qr.tokens`), with the key the
ring says signs now, and the record each is written with. Never on the scan path, which
only verifies (`qr.tokens.verify`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from core.context import Context
from core.storage import Insert
from qr import repository
from qr.keys import ENTRY_CODE_LONGEST, key_ring
from qr.tokens import (
    ENTRY_AUDIENCE,
    ENTRY_TYPE,
    PERSON_AUDIENCE,
    PERSON_TYPE,
    VENUE_AUDIENCE,
    VENUE_PREFIX,
    VENUE_TYPE,
    low_s,
)

# A token record outlives its token a little, so a scan inside the leeway still finds it.
_RECORD_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    kid: str
    status: str | None
    iat: datetime
    exp: datetime


def fresh_subject() -> str:
    """A code's `sub`: 128 random bits, drawn anew for every code, so two codes of one
    person share nothing that says so. It was a keyed hash of the person id, the same on
    every code they were ever issued: whoever saw two (a venue, a scanner's operator, a
    photograph) could link their visits and see them turn red. Who the code is for is in
    its record, found by `jti`; offline scanners require a `sub`, so there is one."""
    return secrets.token_urlsafe(16)


def _record(issued: IssuedToken, **fields: Any) -> Insert:
    return repository.insert_token(
        {
            "_id": issued.jti,
            "kid": issued.kid,
            "iat": issued.iat,
            "exp": issued.exp,
            "revoked_at": None,
            "token": issued.token,
            "expires_at": issued.exp + _RECORD_GRACE,
            **fields,
        }
    )


async def _sign(
    ctx: Context,
    claims: dict[str, Any],
    *,
    typ: str,
    now: datetime,
    lifetime: timedelta,
    fresh_keys: bool = False,
) -> IssuedToken:
    ring = await key_ring(ctx, fresh=fresh_keys)
    signer = ring.signing_key(now)
    assert signer is not None  # key_ring creates the first key when there is none
    iat = now.replace(microsecond=0)
    exp = iat + lifetime
    jti = secrets.token_urlsafe(16)
    payload = {
        "iss": ctx.settings.public_url,
        **claims,
        "iat": int(iat.timestamp()),
        "exp": int(exp.timestamp()),
        "jti": jti,
    }
    token = jwt.encode(
        payload, signer.private_key, algorithm=signer.alg, headers={"kid": signer.kid, "typ": typ}
    )
    if signer.alg == "ES256":
        token = low_s(token)
    status = claims.get("st")
    return IssuedToken(token=token, jti=jti, kid=signer.kid, status=status, iat=iat, exp=exp)


async def sign_person_token(
    ctx: Context, person_id: str, status: str, *, now: datetime
) -> tuple[IssuedToken, Insert]:
    """A personal code and the record to write with it (the scan finds the person by it)."""
    sub = fresh_subject()
    issued = await _sign(
        ctx,
        {"aud": PERSON_AUDIENCE, "sub": sub, "st": status},
        typ=PERSON_TYPE,
        now=now,
        lifetime=timedelta(hours=ctx.settings.qr_token_hours),
    )
    return issued, _record(issued, kind="person", person_id=person_id, sub=sub, status=status)


async def sign_entry_token(
    ctx: Context, entry_id: str, status: str, *, now: datetime, expires: datetime
) -> tuple[IssuedToken, Insert]:
    """An arrival's code: signed with the same keys as a personal code, but its own type and
    audience, so no checkpoint scanner, online or offline, takes it for a personal code; its
    record names the entry declaration. It lives until `expires` (after the arrival day)."""
    sub = fresh_subject()
    issued = await _sign(
        ctx,
        {"aud": ENTRY_AUDIENCE, "sub": sub, "st": status},
        typ=ENTRY_TYPE,
        now=now,
        # Capped, so the key's publication, which counts on it, outlives every entry code.
        lifetime=min(expires - now.replace(microsecond=0), ENTRY_CODE_LONGEST),
    )
    record = _record(
        issued, kind="entry", person_id=None, entry_id=entry_id, sub=sub, status=status
    )
    return issued, record


async def sign_venue_token(
    ctx: Context, checkpoint_id: str, kind: str, *, now: datetime
) -> tuple[IssuedToken, Insert]:
    """A venue poster's token. Signed with freshly read keys, not the cached ones: a poster
    lives for months, so it must never carry a key that was rotated away a moment ago."""
    issued = await _sign(
        ctx,
        {"aud": VENUE_AUDIENCE, "vid": checkpoint_id, "kind": kind},
        typ=VENUE_TYPE,
        now=now,
        lifetime=timedelta(days=ctx.settings.venue_token_days),
        fresh_keys=True,
    )
    poster = IssuedToken(
        token=VENUE_PREFIX + issued.token,
        jti=issued.jti,
        kid=issued.kid,
        status=None,
        iat=issued.iat,
        exp=issued.exp,
    )
    return poster, _record(issued, kind="venue", person_id=None, checkpoint_id=checkpoint_id)
