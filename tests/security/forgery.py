"""What a forger works with: JWTs assembled by hand (any header, any claims, any bytes as
the signature or the HS256 key), an attacker's own EC key, and the `Kit` of genuine
tokens and published keys the forgeries start from."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from qr.keys import public_jwk, thumbprint
from qr.tokens import low_s


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def compact(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header))}.{b64(json.dumps(claims))}.{b64(signature)}"


def hs256(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """HS256 by hand, so any bytes can be the key (PyJWT refuses PEM-looking secrets)."""
    signing_input = f"{b64(json.dumps(header))}.{b64(json.dumps(claims))}"
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def attacker_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, thumbprint(public_jwk(key.public_key()))


@dataclass
class Kit:
    """What a forger has: genuine tokens to start from and everything published."""

    secret: str
    access: str
    qr: str
    venue: str
    jwks: str
    public_pem: bytes
    kid: str
    signer: Any  # the service's current private key, for "only this one part is wrong"
    alg: str

    def access_claims(self, **changes: Any) -> dict[str, Any]:
        claims = {**unb64(self.access.split(".")[1]), **changes}
        return {k: v for k, v in claims.items() if v is not None}

    def qr_claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {**unb64(self.qr.split(".")[1]), "iat": now, "exp": now + 600, **changes}
        return {k: v for k, v in claims.items() if v is not None}

    def venue_claims(self, **changes: Any) -> dict[str, Any]:
        claims = {**unb64(self.venue.removeprefix("KHAIBAO:1:").split(".")[1]), **changes}
        return {k: v for k, v in claims.items() if v is not None}

    def with_service_key(self, claims: dict[str, Any], **header: Any) -> str:
        headers = {"kid": self.kid, "typ": "kb-qr+jwt", **header}
        token = jwt.encode(claims, self.signer, algorithm=self.alg, headers=headers)
        return low_s(token) if self.alg == "ES256" else token  # as the service signs
