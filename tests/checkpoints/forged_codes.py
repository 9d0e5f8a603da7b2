"""Every way a personal code can be forged, altered or misused, each with the reason code
a scan must deny it with (`REJECTIONS`); `Forge` starts from one person's genuine code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from core.clock import utcnow
from core.context import Context
from qr import tokens
from qr.keys import key_ring, public_jwk, thumbprint
from qr.revocations import revoke_live_tokens


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def compact(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header))}.{b64(json.dumps(claims))}.{b64(signature)}"


class Forge:
    """Builds hostile and broken variants of a genuine code for one person."""

    def __init__(self, ctx: Context, genuine: str, person_id: str) -> None:
        self.ctx = ctx
        self.genuine = genuine
        self.person_id = person_id
        head, body, _ = genuine.split(".")
        self.header = json.loads(base64.urlsafe_b64decode(head + "=="))
        self.claims = json.loads(base64.urlsafe_b64decode(body + "=="))

    def claims_with(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {**self.claims, "iat": now, "exp": now + 3600, **changes}
        return {k: v for k, v in claims.items() if v is not None}

    async def signed(self, claims: dict[str, Any], **header: Any) -> str:
        """Signed with the service's real current key: only the named part is wrong."""
        signer = (await key_ring(self.ctx)).current
        assert signer is not None
        headers = {"kid": signer.kid, "typ": "kb-qr+jwt", **header}
        token = jwt.encode(claims, signer.private_key, algorithm=signer.alg, headers=headers)
        return tokens.low_s(token) if signer.alg == "ES256" else token


Case = Callable[[Forge], Awaitable[str]]


async def alg_none(f: Forge) -> str:
    return compact({**f.header, "alg": "none"}, f.claims_with())


async def hs256_with_public_key_as_secret(f: Forge) -> str:
    ring = await key_ring(f.ctx)
    pem = ring.keys[f.header["kid"]].public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header, claims = {**f.header, "alg": "HS256"}, f.claims_with()
    signing_input = f"{b64(json.dumps(header))}.{b64(json.dumps(claims))}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def _attacker_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, thumbprint(public_jwk(key.public_key()))


async def unknown_kid(f: Forge) -> str:
    key, kid = _attacker_key()
    return jwt.encode(f.claims_with(), key, "ES256", headers={"kid": kid, "typ": "kb-qr+jwt"})


async def kid_path_traversal(f: Forge) -> str:
    key, _ = _attacker_key()
    headers = {"kid": "../../etc/passwd", "typ": "kb-qr+jwt"}
    return jwt.encode(f.claims_with(), key, "ES256", headers=headers)


async def kid_sql_injection(f: Forge) -> str:
    return await f.signed(f.claims_with(), kid="' OR 1=1 --")


async def attacker_key_with_real_kid(f: Forge) -> str:
    key, _ = _attacker_key()
    headers = {"kid": f.header["kid"], "typ": "kb-qr+jwt"}
    return jwt.encode(f.claims_with(), key, "ES256", headers=headers)


async def jku_header(f: Forge) -> str:
    return await f.signed(f.claims_with(), jku="https://attacker.example/jwks.json")


async def x5u_header(f: Forge) -> str:
    return await f.signed(f.claims_with(), x5u="https://attacker.example/cert.pem")


async def embedded_jwk_header(f: Forge) -> str:
    key, kid = _attacker_key()
    headers = {"kid": kid, "typ": "kb-qr+jwt", "jwk": public_jwk(key.public_key())}
    return jwt.encode(f.claims_with(), key, "ES256", headers=headers)


async def x5c_header(f: Forge) -> str:
    return await f.signed(f.claims_with(), x5c=["MIIB"])


async def eddsa_alg_on_es256_key(f: Forge) -> str:
    header = {**f.header, "alg": "EdDSA"}
    return compact(header, f.claims_with(), b"\x00" * 64)


async def wrong_audience(f: Forge) -> str:
    return await f.signed(f.claims_with(aud="khaibao-venue"))


async def audience_list(f: Forge) -> str:
    return await f.signed(f.claims_with(aud=["khaibao-checkpoint", "other"]))


async def wrong_issuer(f: Forge) -> str:
    return await f.signed(f.claims_with(iss="https://evil.example"))


async def wrong_type(f: Forge) -> str:
    return await f.signed(f.claims_with(), typ="kb-venue+jwt")


async def expired(f: Forge) -> str:
    now = int(time.time())
    return await f.signed(f.claims_with(iat=now - 26 * 3600, exp=now - 2 * 3600))


async def not_before_in_future(f: Forge) -> str:
    return await f.signed(f.claims_with(nbf=int(time.time()) + 3600))


async def issued_in_future(f: Forge) -> str:
    now = int(time.time())
    return await f.signed(f.claims_with(iat=now + 3600, exp=now + 7200))


async def missing_jti(f: Forge) -> str:
    return await f.signed(f.claims_with(jti=None))


async def missing_exp(f: Forge) -> str:
    return await f.signed(f.claims_with(exp=None))


async def unrecorded_jti(f: Forge) -> str:
    return await f.signed(f.claims_with(jti="never-issued-0000000000"))


async def someone_elses_subject(f: Forge) -> str:
    """Signed with our key under the code's `jti`, but not the subject it was issued with."""
    return await f.signed(f.claims_with(sub=secrets.token_urlsafe(16)))


async def tampered_payload(f: Forge) -> str:
    head, _, signature = f.genuine.split(".")
    claims = {**f.claims, "exp": f.claims["exp"] + 30 * 24 * 3600}
    return f"{head}.{b64(json.dumps(claims))}.{signature}"


async def tampered_status(f: Forge) -> str:
    head, _, signature = f.genuine.split(".")
    return f"{head}.{b64(json.dumps({**f.claims, 'st': 'green', 'sub': 'x' * 22}))}.{signature}"


async def stripped_signature(f: Forge) -> str:
    head, body, _ = f.genuine.split(".")
    return f"{head}.{body}."


async def truncated_signature(f: Forge) -> str:
    return f.genuine[:-10]


async def two_segments(f: Forge) -> str:
    return ".".join(f.genuine.split(".")[:2])


async def header_not_json(f: Forge) -> str:
    _, body, signature = f.genuine.split(".")
    return f"{b64('not json')}.{body}.{signature}"


async def header_is_a_list(f: Forge) -> str:
    _, body, signature = f.genuine.split(".")
    return f"{b64('[1, 2]')}.{body}.{signature}"


async def oversized(f: Forge) -> str:
    return f.genuine + "A" * 2048


async def garbage(f: Forge) -> str:
    return "HC1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH"


async def revoked(f: Forge) -> str:
    ops = await revoke_live_tokens(f.ctx.store, f.person_id, reason="test", now=utcnow())
    await f.ctx.store.write(ops)
    return f.genuine


REJECTIONS: list[tuple[Case, str]] = [
    (alg_none, "unsupported_alg"),
    (hs256_with_public_key_as_secret, "unsupported_alg"),
    (eddsa_alg_on_es256_key, "unsupported_alg"),
    (unknown_kid, "unknown_kid"),
    (kid_path_traversal, "unknown_kid"),
    (kid_sql_injection, "unknown_kid"),
    (attacker_key_with_real_kid, "bad_signature"),
    (jku_header, "forbidden_header"),
    (x5u_header, "forbidden_header"),
    (embedded_jwk_header, "forbidden_header"),
    (x5c_header, "forbidden_header"),
    (wrong_audience, "wrong_audience"),
    (audience_list, "wrong_audience"),
    (wrong_issuer, "wrong_issuer"),
    (wrong_type, "wrong_type"),
    (expired, "expired"),
    (not_before_in_future, "not_yet_valid"),
    (issued_in_future, "not_yet_valid"),
    (missing_jti, "missing_claim"),
    (missing_exp, "missing_claim"),
    (unrecorded_jti, "unknown_token"),
    (someone_elses_subject, "unknown_token"),
    (tampered_payload, "bad_signature"),
    (tampered_status, "bad_signature"),
    (stripped_signature, "bad_signature"),
    (truncated_signature, "bad_signature"),
    (two_segments, "malformed"),
    (header_not_json, "malformed"),
    (header_is_a_list, "malformed"),
    (oversized, "too_large"),
    (garbage, "malformed"),
    (revoked, "revoked"),
]
