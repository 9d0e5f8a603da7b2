"""Device tokens: a staff member's phone proves it signed in as a user name before, so that
whoever merely knows that user name cannot lock its owner out (OWASP, "Slow Down Online
Guessing Attacks with Device Cookies").

A device token is a JWT the service signs and only the service reads: signed with a key
derived from `KHAIBAO_SECRET_KEY` (never the access tokens' own key, so one is never taken
for the other), carrying a keyed hash of the user name (never the name itself), the account's token
version when it was issued, a random nonce and an expiry (`KHAIBAO_STAFF_DEVICE_TOKEN_DAYS`).
Nothing is stored: the wrong passwords tried with one are counted in a rate-limiter bucket
keyed by its nonce's hash. What bumps the token version (a password reset, disabling or
enabling the account, a new role or area) ends the account's device tokens with its
sessions: the sign-in, which reads the account anyway, compares the two versions.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from core.clock import utcnow
from core.context import Context
from core.principals import ALGORITHM, ISSUER

AUDIENCE = "khaibao-device"
TYPE = "device"
# What `TokenRequest` accepts; a token this service issued is about a third of it.
MAX_LENGTH = 1024


@dataclass(frozen=True)
class TrustedDevice:
    """A device token that verified for the user name being signed in to. It vouches only
    while the account's token version is still `version`."""

    bucket: str  # the rate limiter's bucket of this token's wrong passwords
    version: int  # the account's token version when the token was issued

    def vouches_for(self, token_version: int) -> bool:
        return self.version == token_version


def _key(ctx: Context) -> bytes:
    """Derived from the service's secret, apart from the access tokens' key: a device
    token presented as a Bearer token fails its signature check."""
    secret = ctx.settings.secret_key.get_secret_value().encode()
    return hmac.digest(secret, b"khaibao device tokens", "sha256")


def _username_hash(ctx: Context, username: str) -> str:
    return ctx.cipher.lookup_hash(username, context="device_token.username")


def issue_device_token(
    ctx: Context, username: str, version: int, *, now: datetime | None = None
) -> str:
    """A fresh device token for a user name just signed in to with its password, whose
    account is at token version `version`. `now` lets a test issue one that has already
    expired."""
    now = now or utcnow()
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "typ": TYPE,
        "sub": _username_hash(ctx, username),
        "ver": version,
        "jti": secrets.token_urlsafe(16),
        "iat": now,
        "exp": now + timedelta(days=ctx.settings.staff_device_token_days),
    }
    return jwt.encode(claims, _key(ctx), algorithm=ALGORITHM, headers={"typ": "JWT"})


def trusted_device(ctx: Context, token: str, username: str) -> TrustedDevice | None:
    """The device a token vouches for, if it verifies, has not expired and was issued for
    this user name; otherwise None, and the sign-in is judged as one without a device token
    (an old phone, a tampered token, a colleague's: never an error of its own). Whether the
    account is still at the token's version is for the caller, who reads the account."""
    if len(token) > MAX_LENGTH:
        return None
    try:
        claims = jwt.decode(
            token,
            _key(ctx),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "aud", "iss", "sub", "typ", "jti"]},
        )
    except (jwt.PyJWTError, ValueError, OverflowError):
        return None
    subject, nonce = claims.get("sub"), claims.get("jti")
    # Tokens issued before they carried a version stand for version 0: versions only grow,
    # so such a token matches only an account that has not changed since it was created.
    version = claims.get("ver", 0)
    if (
        claims.get("typ") != TYPE
        or not isinstance(subject, str)
        or not isinstance(nonce, str)
        or type(version) is not int
        or not hmac.compare_digest(subject, _username_hash(ctx, username))
    ):
        return None
    return TrustedDevice(f"pw:d:{hashlib.sha256(nonce.encode()).hexdigest()}", version)
