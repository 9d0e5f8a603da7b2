"""Verifying the three kinds of QR token (`qr.signing` signs them), all compact JWS with an
asymmetric key (one key set for all three): each kind has its own `typ` and `aud`, so a
verifier that checks both, online or offline, never takes one kind for another.

* Personal code (shown on the phone, scanned by staff): header `typ: kb-qr+jwt`, claims
  `iss`, `aud: khaibao-checkpoint`, `sub` (random, drawn anew for each code: it names no
  one and links no two codes; the code's record, by `jti`, says whose it is), `st` (status
  when issued), `iat`, `exp`, `jti`. Nothing else: no name, identity number, phone or
  symptoms. Codes signed before December 2026 carry a keyed hash of the person id as `sub`,
  the same on all of one person's codes; their records hold it, so they scan until they expire.
* Entry code (an arrival's, from a declaration anyone may send without signing in, scanned
  only at border checkpoints): header `typ: kb-entry+jwt`, claims as a personal code's but
  `aud: khaibao-border` (`sub` random too; before December 2026 a keyed hash of the entry
  declaration's id). It was once a personal code in all but its record, so anyone could
  mint a green one anonymously.
* Venue poster (scanned by citizens to check in): `KHAIBAO:1:` + JWS, like the NHS's
  `UKC19TRACING:1:`, so the app can tell our posters from any other QR code and the format
  can be versioned. Header `typ: kb-venue+jwt`, claims `iss`, `aud: khaibao-venue`, `vid`
  (checkpoint id), `kind`, `iat`, `exp`, `jti`.

Verification trusts nothing in the header but `kid`, and only as a key-store lookup:
algorithms come from an allow-list and must match the stored key's; `jku`, `jwk`, `x5u`,
`x5c` and friends are refused outright. Every failure maps to one stable reason code.
"""

from __future__ import annotations

import base64
import hmac
import re
import time
from datetime import datetime
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from core.context import Context
from qr.keys import ALGORITHMS, VerifyingKey, find_verifying_key

PERSON_AUDIENCE = "khaibao-checkpoint"
VENUE_AUDIENCE = "khaibao-venue"
ENTRY_AUDIENCE = "khaibao-border"
PERSON_TYPE = "kb-qr+jwt"
VENUE_TYPE = "kb-venue+jwt"
ENTRY_TYPE = "kb-entry+jwt"
# What each `typ` is, to tell a scanner which kind of code it was shown instead.
KINDS = {PERSON_TYPE: "person", VENUE_TYPE: "venue", ENTRY_TYPE: "entry"}
VENUE_PREFIX = "KHAIBAO:1:"
MAX_TOKEN_CHARS = 2048
STATUSES = frozenset({"green", "yellow", "red"})

# Headers that would let a token choose its own key or change how it is processed.
_FORBIDDEN_HEADERS = frozenset({"jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "crit", "b64"})
_COMPACT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
_KID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_SHORT_TEXT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Half the order of P-256. An ECDSA signature (r, s) has a twin (r, n - s) that verifies as
# well: we sign with s <= n/2 and refuse the other, so a code has one valid text only.
_P256_HALF_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551 // 2


class TokenRejected(Exception):
    """A token failed verification; `reason` is the stable code the scanner shows. With
    `wrong_type`, `shown` is the kind of code the token says it is ("person", "venue",
    "entry"), unverified, or None: only for the message, so staff know what they were shown."""

    def __init__(self, reason: str, *, shown: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.shown = shown


def low_s(token: str) -> str:
    """An ES256 token with its signature's s replaced by n - s when above n/2: the same
    signature to a verifier that accepts both, and the only one ours accepts."""
    head, segment = token.rsplit(".", 1)
    signature = _b64decode(segment)
    s = int.from_bytes(signature[32:])
    if s <= _P256_HALF_ORDER:
        return token
    low = (2 * _P256_HALF_ORDER + 1 - s).to_bytes(32)
    return f"{head}.{base64.urlsafe_b64encode(signature[:32] + low).rstrip(b'=').decode()}"


def unverified_header(token: str) -> dict[str, Any]:
    """The header, to pick the key. The token matched _COMPACT (base64url only), so this
    decodes one segment; `jwt.get_unverified_header` decoded all three, a tenth of a scan."""
    try:
        header = orjson.loads(_b64decode(token.split(".", 1)[0]))
    except ValueError:  # binascii.Error and orjson.JSONDecodeError both are
        raise TokenRejected("malformed") from None
    if not isinstance(header, dict):
        raise TokenRejected("malformed")
    return header


async def verify(
    ctx: Context,
    token: str,
    *,
    audience: str,
    typ: str,
    now: datetime,
    issued_copy: str | None = None,
) -> dict[str, Any]:
    """The verified claims, or TokenRejected with the reason code.

    `issued_copy` is the text of the token this service signed under the token's `jti`, as
    its record keeps it. When the two are the same text, the signature is not checked again:
    only a holder of our private key wrote those bytes, and the record is the same authority
    that says whether the token is revoked and whose it is. Every other check still runs:
    header, key (removed or retired), expiry, issuer, audience. A token that differs from its
    record in any character is verified in full and gets the reason it always got. Offline
    scanners, which have no record, verify the signature against the published keys."""
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenRejected("too_large")
    if not _COMPACT.match(token):
        raise TokenRejected("malformed")
    header = unverified_header(token)
    if _FORBIDDEN_HEADERS.intersection(header):
        raise TokenRejected("forbidden_header")
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise TokenRejected("unsupported_alg")
    if header.get("typ") != typ:
        shown = header.get("typ")
        raise TokenRejected(
            "wrong_type", shown=KINDS.get(shown) if isinstance(shown, str) else None
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not _KID.match(kid):
        raise TokenRejected("unknown_kid")
    key = await find_verifying_key(ctx, kid)
    if key is None:
        raise TokenRejected("unknown_kid")
    if key.removed:
        raise TokenRejected("key_revoked")
    if not key.usable(now):
        raise TokenRejected("unknown_kid")
    if key.alg != alg:
        raise TokenRejected("unsupported_alg")
    claims = decode_verified(
        token,
        key,
        audience=audience,
        issuer=ctx.settings.public_url,
        leeway=ctx.settings.scan_leeway_seconds,
        authentic=issued_copy is not None and hmac.compare_digest(issued_copy, token),
    )
    if not _SHORT_TEXT.match(claims["jti"]):  # a string: decode_verified checked
        raise TokenRejected("malformed")
    return claims


def decode_verified(
    token: str,
    key: VerifyingKey,
    *,
    audience: str,
    issuer: str,
    leeway: float,
    authentic: bool = False,
) -> dict[str, Any]:
    """The claims of a compact JWS (already matched against _COMPACT) signed by `key`, with
    the checks PyJWT's `jwt.decode` makes when `exp`, `iat`, `iss`, `aud` and `jti` are
    required and the audience is strict, in its order. Done here rather than by PyJWT on
    the scan path: PyJWT's generic decoding cost a scan ≈ 0.1 ms on top of the signature
    check itself (BENCHMARKS.md). tests/qr/test_token_verification.py holds it to PyJWT's
    verdict over thousands of altered tokens, with one rule PyJWT lacks: an ES256
    signature with a high s is refused (`bad_signature`). Everything after the signature check reads
    claims only a holder of our private key could have written. `authentic` skips the
    signature check for a token known to be one we signed (see `verify`)."""
    header_segment, payload_segment, signature_segment = token.split(".")
    try:
        payload = _b64decode(payload_segment)
        signature = _b64decode(signature_segment)
    except ValueError:
        raise TokenRejected("malformed") from None
    signing_input = f"{header_segment}.{payload_segment}".encode()
    if not authentic and not _signature_valid(key, signing_input, signature):
        raise TokenRejected("bad_signature")
    try:
        claims = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise TokenRejected("malformed") from None
    if not isinstance(claims, dict):
        raise TokenRejected("malformed")
    if any(claims.get(name) is None for name in ("exp", "iat", "iss", "aud", "jti")):
        raise TokenRejected("missing_claim")
    at = time.time()  # the wall clock, as PyJWT read it
    if _whole_seconds(claims["iat"]) > at + leeway:
        raise TokenRejected("not_yet_valid")
    if "nbf" in claims and _whole_seconds(claims["nbf"]) > at + leeway:
        raise TokenRejected("not_yet_valid")
    if _whole_seconds(claims["exp"]) <= at - leeway:
        raise TokenRejected("expired")
    if claims["iss"] != issuer:
        raise TokenRejected("wrong_issuer")
    if not claims["aud"]:
        raise TokenRejected("missing_claim")
    if claims["aud"] != audience:
        raise TokenRejected("wrong_audience")
    if not isinstance(claims.get("sub", ""), str) or not isinstance(claims["jti"], str):
        raise TokenRejected("malformed")
    return claims


_ES256 = ec.ECDSA(hashes.SHA256())


def _signature_valid(key: VerifyingKey, signing_input: bytes, signature: bytes) -> bool:
    public_key = key.public_key
    try:
        if key.alg == "ES256":
            # JWS carries r and s as 32 bytes each; cryptography wants them DER-encoded.
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                return False
            if public_key.curve.name != "secp256r1" or len(signature) != 64:
                return False
            r, s = int.from_bytes(signature[:32]), int.from_bytes(signature[32:])
            if s > _P256_HALF_ORDER:  # the twin of a signature we made, never one we made
                return False
            public_key.verify(encode_dss_signature(r, s), signing_input, _ES256)
        elif key.alg == "EdDSA" and isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, signing_input)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _whole_seconds(value: Any) -> int:
    """A time claim as PyJWT reads it (`int(value)`), or "malformed"."""
    try:
        return int(value)
    except (ValueError, TypeError, OverflowError):
        raise TokenRejected("malformed") from None


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def unverified_jti(token: str) -> str | None:
    """The `jti` a token claims, unverified, to find its record before checking it; None
    when the token has no readable one (verification then says why)."""
    if len(token) > MAX_TOKEN_CHARS or not _COMPACT.match(token):
        return None
    try:
        claims = orjson.loads(_b64decode(token.split(".", 2)[1]))
    except ValueError:
        return None
    jti = claims.get("jti") if isinstance(claims, dict) else None
    return jti if isinstance(jti, str) and _SHORT_TEXT.match(jti) else None


async def verify_person_token(
    ctx: Context, token: str, *, now: datetime, issued_copy: str | None = None
) -> dict[str, Any]:
    if token.startswith(VENUE_PREFIX):  # a poster's text, whole: say so, not "unreadable"
        raise TokenRejected("wrong_type", shown="venue")
    return _with_subject_and_status(
        await verify(
            ctx, token, audience=PERSON_AUDIENCE, typ=PERSON_TYPE, now=now, issued_copy=issued_copy
        )
    )


async def verify_entry_token(
    ctx: Context, token: str, *, now: datetime, issued_copy: str | None = None
) -> dict[str, Any]:
    """An entry code's claims. One signed before entry codes had a type of their own
    (`kb-qr+jwt`, `aud: khaibao-checkpoint`) is verified as a personal code, and the caller
    must accept it only if its record is an entry's (`qr.service.identify_entry`)."""
    if token.startswith(VENUE_PREFIX):  # a poster's text, whole: say so, not "unreadable"
        raise TokenRejected("wrong_type", shown="venue")
    if _unverified_typ(token) == PERSON_TYPE:
        # LEGACY: remove once every entry code signed before kb-entry+jwt was deployed has
        # expired: they live until 36 h after the arrival day, at most 7 days ahead
        # (entry.schemas.ARRIVAL_DAYS_AHEAD), so 10 days after that deployment.
        return await verify_person_token(ctx, token, now=now, issued_copy=issued_copy)
    return _with_subject_and_status(
        await verify(
            ctx, token, audience=ENTRY_AUDIENCE, typ=ENTRY_TYPE, now=now, issued_copy=issued_copy
        )
    )


def _unverified_typ(token: str) -> Any:
    if len(token) > MAX_TOKEN_CHARS or not _COMPACT.match(token):
        return None  # `verify` says why
    try:
        return unverified_header(token).get("typ")
    except TokenRejected:
        return None


def _with_subject_and_status(claims: dict[str, Any]) -> dict[str, Any]:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not _SHORT_TEXT.match(sub) or claims.get("st") not in STATUSES:
        raise TokenRejected("missing_claim")
    return claims


async def verify_venue_token(ctx: Context, token: str, *, now: datetime) -> dict[str, Any]:
    """Accepts the poster text with or without its `KHAIBAO:1:` prefix."""
    token = token.strip()
    if token.startswith(VENUE_PREFIX):
        token = token[len(VENUE_PREFIX) :]
    claims = await verify(ctx, token, audience=VENUE_AUDIENCE, typ=VENUE_TYPE, now=now)
    vid = claims.get("vid")
    if not isinstance(vid, str) or len(vid) > 64 or not isinstance(claims.get("kind"), str):
        raise TokenRejected("missing_claim")
    return claims
