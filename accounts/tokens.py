"""Issuing access tokens at sign-in: short-lived JWTs (HS256, the service's own secret).

Verification, which every request needs, lives below the domains in `core.principals`.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import jwt

from core.clock import utcnow
from core.principals import ALGORITHM, AUDIENCE, ISSUER, Principal


def issue_access_token(principal: Principal, *, secret: str, minutes: int) -> str:
    now = utcnow()
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "typ": "access",
        "sub": principal.subject,
        "role": principal.role,
        "cps": sorted(principal.checkpoints),
        "ver": principal.version,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=minutes),
        "jti": secrets.token_urlsafe(12),
    }
    if principal.area is not None:
        claims["area"] = [principal.area.province, principal.area.ward]
    if principal.organisation is not None:
        claims["org"] = principal.organisation
    return jwt.encode(claims, secret, algorithm=ALGORITHM, headers={"typ": "JWT"})
