"""Access tokens: short-lived JWTs (HS256, the service's own secret), checked strictly.

Access tokens are only ever verified by this service, so a symmetric key is right here;
the QR tokens that third parties verify are asymmetric (see `qr.keys`).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

import jwt

from core.clock import utcnow
from core.errors import Text, Unauthenticated

Role = Literal["citizen", "checkpoint_staff", "health_officer", "analyst", "admin"]
ROLES: tuple[Role, ...] = ("citizen", "checkpoint_staff", "health_officer", "analyst", "admin")
AUDIENCE = "khaibao-api"
ISSUER = "khaibao"
ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    """The signed-in caller: an account id, a role, and for staff the checkpoints they serve."""

    subject: str
    role: Role
    checkpoints: frozenset[str] = field(default_factory=frozenset)


_EXPIRED = Text("Your session has expired. Sign in again.", "Phiên đăng nhập đã hết hạn.")


def issue_access_token(principal: Principal, *, secret: str, minutes: int) -> str:
    now = utcnow()
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "typ": "access",
        "sub": principal.subject,
        "role": principal.role,
        "cps": sorted(principal.checkpoints),
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=minutes),
        "jti": secrets.token_urlsafe(12),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM, headers={"typ": "JWT"})


# Verified tokens, per process, until they expire: a phone sends the same access token with
# every request for its whole life, and PyJWT's checks are a tenth of a request's CPU. Only
# tokens that passed every check are cached, keyed by the whole token and the secret.
_VERIFIED: dict[tuple[str, str], tuple[Principal, float]] = {}
_VERIFIED_MAX = 20_000


def verify_access_token(token: str, *, secret: str) -> Principal:
    """Every failure is the same 401: no hint which check failed."""
    if len(token) > 4096:
        raise Unauthenticated()
    cached = _VERIFIED.get((token, secret))
    if cached is not None:
        principal, expires = cached
        if time.time() < expires:
            return principal
        del _VERIFIED[(token, secret)]
    try:
        verified = jwt.api_jwt.decode_complete(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=10,
            options={"require": ["exp", "iat", "aud", "iss", "sub", "typ"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated(_EXPIRED) from None
    except jwt.PyJWTError:
        raise Unauthenticated() from None
    header, claims = verified["header"], verified["payload"]
    if any(name in header for name in ("jku", "jwk", "x5u", "x5c", "crit")):
        raise Unauthenticated()
    role = claims.get("role")
    checkpoints = claims.get("cps", [])
    if (
        claims.get("typ") != "access"
        or role not in ROLES
        or not isinstance(claims["sub"], str)
        or not isinstance(checkpoints, list)
        or not all(isinstance(c, str) for c in checkpoints)
    ):
        raise Unauthenticated()
    try:
        expires = float(claims["exp"])
    except (OverflowError, TypeError, ValueError):
        raise Unauthenticated() from None
    principal = Principal(claims["sub"], role, frozenset(checkpoints))
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.pop(next(iter(_VERIFIED)))
    _VERIFIED[(token, secret)] = (principal, expires)
    return principal
