"""Who is calling: roles, the signed-in principal, and the strict check of an access token.

Access tokens are issued by `accounts` (sign-in) and verified here, below every domain, so
the HTTP kit (`web.deps`) can admit a caller without importing the accounts domain. They are
only ever verified by this service, so a symmetric key is right; the QR tokens that third
parties verify are asymmetric (see `qr.keys`).
"""

from __future__ import annotations

import getpass
import time
from dataclasses import dataclass, field
from typing import Literal

import jwt

from core.errors import Unauthenticated
from core.i18n import Text

Role = Literal[
    "citizen",
    "checkpoint_staff",
    "health_officer",
    "analyst",
    "admin",
    "responder",
    "organisation",
]
ROLES: tuple[Role, ...] = (
    "citizen",
    "checkpoint_staff",
    "health_officer",
    "analyst",
    "admin",
    "responder",
    "organisation",
)
AUDIENCE = "khaibao-api"
ISSUER = "khaibao"
ALGORITHM = "HS256"


@dataclass(frozen=True)
class Area:
    """Where a staff account works: a province, or one ward of it (GSO codes)."""

    province: int
    ward: int | None = None

    def contains(self, province: int | None, ward: int | None = None) -> bool:
        """Whether a place lies inside this area. A place known only by its province is
        inside a province-wide area, never inside a ward's."""
        if province != self.province:
            return False
        return self.ward is None or ward == self.ward


@dataclass(frozen=True)
class Principal:
    """The signed-in caller: an account id, a role, and for staff the checkpoints they serve,
    the area they work in (None: the whole country), their organisation, and the account's
    token version when the token was issued (a newer one on the account revokes it)."""

    subject: str
    role: Role
    checkpoints: frozenset[str] = field(default_factory=frozenset)
    area: Area | None = None
    organisation: str | None = None
    version: int = 0

    def covers(self, province: int | None, ward: int | None = None) -> bool:
        """Whether this caller may see and act on a place: always without an area."""
        return self.area is None or self.area.contains(province, ward)


# Who `shell_operator` names, before the OS user: how the audit's readers tell the shell.
SHELL_OPERATOR = "cli:"


def shell_operator() -> Principal:
    """Who a `khaibao` command run at the server's shell acts as, in `created_by` fields
    and the audit log: an admin named `cli:` and the OS user that ran it (whoever can run
    the command holds the database's keys, so holds every power of an admin)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name (a container's numeric uid)
        user = "unknown"
    return Principal(f"{SHELL_OPERATOR}{user}", "admin")


_EXPIRED = Text("Your session has expired. Sign in again.", "Phiên đăng nhập đã hết hạn.")


class VerifiedTokens:
    """Access tokens that passed every check, until they expire: a phone sends the same
    access token with every request for its whole life, and PyJWT's checks are a tenth of a
    request's CPU. Kept in the context's caches (`ctx.caches.of(VerifiedTokens)`), keyed by
    the whole token and the secret, at most `MAX` of them (the oldest goes first)."""

    MAX = 20_000

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], tuple[Principal, float]] = {}

    def get(self, token: str, secret: str) -> Principal | None:
        found = self._tokens.get((token, secret))
        if found is None:
            return None
        principal, expires = found
        if time.time() < expires:
            return principal
        del self._tokens[(token, secret)]
        return None

    def keep(self, token: str, secret: str, principal: Principal, expires: float) -> None:
        if len(self._tokens) >= self.MAX:
            self._tokens.pop(next(iter(self._tokens)))
        self._tokens[(token, secret)] = (principal, expires)


def verify_access_token(
    token: str, *, secret: str, verified: VerifiedTokens | None = None
) -> Principal:
    """Every failure is the same 401: no hint which check failed. With `verified`, a token
    that passed before is not checked again until it expires."""
    if len(token) > 4096:
        raise Unauthenticated()
    if verified is not None and (cached := verified.get(token, secret)) is not None:
        return cached
    try:
        decoded = jwt.api_jwt.decode_complete(
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
    header, claims = decoded["header"], decoded["payload"]
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
    principal = Principal(
        claims["sub"],
        role,
        frozenset(checkpoints),
        area=_area_claim(claims.get("area")),
        organisation=_optional_str(claims.get("org")),
        version=_version_claim(claims.get("ver", 0)),
    )
    if verified is not None:
        verified.keep(token, secret, principal, expires)
    return principal


def _area_claim(value: object) -> Area | None:
    if value is None:
        return None
    if (
        isinstance(value, list)
        and len(value) == 2
        and _is_code(value[0])
        and (value[1] is None or _is_code(value[1]))
    ):
        return Area(value[0], value[1])
    raise Unauthenticated()


def _is_code(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 1_000_000


def _optional_str(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise Unauthenticated()


def _version_claim(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise Unauthenticated()
