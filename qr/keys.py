"""Signing keys: the in-process key ring, and creating a key.

The database is the source of truth; each process keeps a `KeyRing` (public keys, and the
current private key) for `qr_key_cache_seconds` so the scan path verifies without a read.
A token whose `kid` the ring does not know triggers one early reload (at most every
`_MIN_RELOAD_SECONDS`), so a key rotated by another process is picked up at once.

The state document names the key that signs (`current_kid`) and the one published ahead
(`next_kid`); each process switches at the latter's `signs_from` by its own clock, without
a write or a reload. Rotating and removing keys, the operators' commands, are in
`qr.rotation`; the scan path never runs them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from core.clock import utcnow
from core.context import Context
from core.storage import DuplicateKey
from qr import repository

Algorithm = Literal["ES256", "EdDSA"]
ALGORITHMS: tuple[Algorithm, ...] = ("ES256", "EdDSA")
PRIVATE_KEY_CONTEXT = "qr.signing_key"
_MIN_RELOAD_SECONDS = 2.0
# How long a client may keep the published key set (its Cache-Control max-age).
JWKS_MAX_AGE_SECONDS = 300
# The longest an entry code lives (36 h after an arrival day at most 7 days ahead, in
# entry/), with room; `qr.signing.sign_entry_token` never signs a longer one.
ENTRY_CODE_LONGEST = timedelta(days=14)

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_jwk(public_key: PublicKey) -> dict[str, str]:
    """The RFC 7517 members that define the key (no kid/alg/use yet)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        numbers = public_key.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big")),
        }
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64(raw)}


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638: SHA-256 over the required members, sorted, without whitespace."""
    required = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("crv", "kty", "x")
    canonical = json.dumps({name: jwk[name] for name in required}, separators=(",", ":"))
    return _b64(hashlib.sha256(canonical.encode()).digest())


def public_key_from_jwk(jwk: dict[str, Any]) -> PublicKey:
    if jwk["kty"] == "EC" and jwk["crv"] == "P-256":
        x = int.from_bytes(_unb64(jwk["x"]), "big")
        y = int.from_bytes(_unb64(jwk["y"]), "big")
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    if jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(_unb64(jwk["x"]))
    raise ValueError("unsupported key type")


def new_key_document(ctx: Context, algorithm: Algorithm, *, now: datetime) -> dict[str, Any]:
    private: PrivateKey = (
        ec.generate_private_key(ec.SECP256R1())
        if algorithm == "ES256"
        else ed25519.Ed25519PrivateKey.generate()
    )
    jwk = public_jwk(private.public_key())
    kid = thumbprint(jwk)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "_id": kid,
        "alg": algorithm,
        "public_jwk": {**jwk, "kid": kid, "alg": algorithm, "use": "sig"},
        "private_key_enc": ctx.cipher.encrypt(pem, context=PRIVATE_KEY_CONTEXT),
        "created_at": now,
        "signs_from": now,
        "retired_at": None,
        "publish_until": None,
        "removed_at": None,
    }


@dataclass(frozen=True)
class VerifyingKey:
    kid: str
    alg: Algorithm
    public_key: PublicKey
    jwk: dict[str, str]
    created_at: datetime
    signs_from: datetime
    retired_at: datetime | None
    publish_until: datetime | None
    removed: bool

    def usable(self, now: datetime) -> bool:
        """Verifies tokens now: not removed, and not retired past its publication."""
        if self.removed:
            return False
        return self.publish_until is None or self.publish_until > now


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: Algorithm
    private_key: PrivateKey


class KeyRing:
    """What one process knows about the keys, reloaded from the database when stale."""

    def __init__(self) -> None:
        self.keys: dict[str, VerifyingKey] = {}
        self.current: SigningKey | None = None  # signs until `next` takes over
        self.next: SigningKey | None = None  # published ahead, signs from `next_from`
        self.next_from: datetime | None = None
        self.loaded_at = float("-inf")
        self.lock = asyncio.Lock()

    def signing_key(self, now: datetime) -> SigningKey | None:
        """The key that signs at `now`: the waiting one once its time has come."""
        if self.next is not None and self.next_from is not None and now >= self.next_from:
            return self.next
        return self.current

    def published(self, now: datetime) -> list[VerifyingKey]:
        return [key for key in self.keys.values() if key.usable(now)]


def forget_cached_keys(ctx: Context) -> None:
    """Drop this process's cached keys (what the cache lifetime passing does)."""
    ctx.caches.forget(KeyRing)


async def key_ring(ctx: Context, *, fresh: bool = False) -> KeyRing:
    """The cached ring, reloaded once older than `qr_key_cache_seconds` (or if `fresh`).
    The first use in a deployment with no key creates one."""
    ring = ctx.caches.of(KeyRing)
    age = time.monotonic() - ring.loaded_at
    if not fresh and age < ctx.settings.qr_key_cache_seconds and ring.current is not None:
        return ring
    async with ring.lock:
        if fresh or time.monotonic() - ring.loaded_at >= ctx.settings.qr_key_cache_seconds:
            await _load(ctx, ring)
        if ring.current is None:
            await _create_first_key(ctx)
            await _load(ctx, ring)
    return ring


async def find_verifying_key(ctx: Context, kid: str) -> VerifyingKey | None:
    """A key by kid; an unknown kid reloads the ring once (a rotation elsewhere), throttled
    so a flood of made-up kids costs at most one read every couple of seconds."""
    ring = await key_ring(ctx)
    key = ring.keys.get(kid)
    if key is None and time.monotonic() - ring.loaded_at >= _MIN_RELOAD_SECONDS:
        async with ring.lock:
            if time.monotonic() - ring.loaded_at >= _MIN_RELOAD_SECONDS:
                await _load(ctx, ring)
        key = ring.keys.get(kid)
    return key


async def _load(ctx: Context, ring: KeyRing) -> None:
    documents = await repository.signing_keys(ctx.store)
    state = await repository.signing_state(ctx.store)
    current_kid = state["current_kid"] if state is not None else None
    next_kid = state.get("next_kid") if state is not None else None
    keys: dict[str, VerifyingKey] = {}
    current: SigningKey | None = None
    upcoming: SigningKey | None = None
    for doc in documents:
        kid = str(doc["_id"])
        jwk = {k: v for k, v in doc["public_jwk"].items() if isinstance(v, str)}
        keys[kid] = VerifyingKey(
            kid=kid,
            alg=doc["alg"],
            public_key=public_key_from_jwk(jwk),
            jwk=jwk,
            created_at=doc["created_at"],
            signs_from=key_signs_from(doc),
            retired_at=doc.get("retired_at"),
            publish_until=doc.get("publish_until"),
            removed=doc.get("removed_at") is not None,
        )
        if kid == current_kid and doc.get("private_key_enc"):
            current = _signing_key(ctx, doc, ring)
        elif kid == next_kid and doc.get("private_key_enc"):
            upcoming = _signing_key(ctx, doc, ring)
    ring.keys, ring.current, ring.next = keys, current, upcoming
    ring.next_from = keys[upcoming.kid].signs_from if upcoming is not None else None
    ring.loaded_at = time.monotonic()


def key_signs_from(doc: dict[str, Any]) -> datetime:
    """Keys made before publishing ahead signed from their creation."""
    signs_from: datetime = doc.get("signs_from") or doc["created_at"]
    return signs_from


def _signing_key(ctx: Context, doc: dict[str, Any], ring: KeyRing) -> SigningKey:
    kid = str(doc["_id"])
    for known in (ring.current, ring.next):
        if known is not None and known.kid == kid:
            return known  # decrypting and parsing the PEM once per key is enough
    pem = ctx.cipher.decrypt(doc["private_key_enc"], context=PRIVATE_KEY_CONTEXT)
    private = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError("unexpected private key type")
    return SigningKey(kid=kid, alg=doc["alg"], private_key=private)


async def _create_first_key(ctx: Context) -> None:
    now = utcnow()
    key = new_key_document(ctx, ctx.settings.qr_algorithm, now=now)
    # Another process may have created the first key a moment ago: then use theirs.
    with contextlib.suppress(DuplicateKey):
        await ctx.store.write(repository.insert_first_key(key, now=now))


# -- operators' commands --------------------------------------------------------------------
