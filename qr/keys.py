"""Signing keys: creation, rotation, removal, and the in-process key ring.

The database is the source of truth; each process keeps a `KeyRing` (public keys, and the
current private key) for `qr_key_cache_seconds` so the scan path verifies without a read.
A token whose `kid` the ring does not know triggers one early reload (at most every
`_MIN_RELOAD_SECONDS`), so a key rotated by another process is picked up at once.

Lifetimes. One key set signs both personal codes (`qr_token_hours`) and venue posters
(`venue_token_days`). A rotated key keeps verifying, and stays in the published key set,
until the last token it signed expires: `publish_until` is the latest `exp` recorded for it
in `qr_tokens`, and at least rotation time + `qr_token_hours` + the cache lifetime, since a
process may sign with its cached key for that long after the rotation. So a venue poster
printed before a rotation works until its own expiry; removing a key (compromise) ends all
of its tokens at once, and the venue posters it signed must be printed again.
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
from core.principals import Principal
from core.storage import DuplicateKey, Operation, PreconditionFailed
from qr import repository
from reports.audit import audited_change

Algorithm = Literal["ES256", "EdDSA"]
ALGORITHMS: tuple[Algorithm, ...] = ("ES256", "EdDSA")
PRIVATE_KEY_CONTEXT = "qr.signing_key"
_MIN_RELOAD_SECONDS = 2.0

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


class KeyCommandError(Exception):
    """An operator's key command cannot be done (unknown kid, already removed)."""


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
        self.current: SigningKey | None = None
        self.loaded_at = float("-inf")
        self.lock = asyncio.Lock()

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
    keys: dict[str, VerifyingKey] = {}
    current: SigningKey | None = None
    for doc in documents:
        kid = str(doc["_id"])
        jwk = {k: v for k, v in doc["public_jwk"].items() if isinstance(v, str)}
        keys[kid] = VerifyingKey(
            kid=kid,
            alg=doc["alg"],
            public_key=public_key_from_jwk(jwk),
            jwk=jwk,
            created_at=doc["created_at"],
            retired_at=doc.get("retired_at"),
            publish_until=doc.get("publish_until"),
            removed=doc.get("removed_at") is not None,
        )
        if state is not None and kid == state["current_kid"] and doc.get("private_key_enc"):
            current = _signing_key(ctx, doc, ring)
    ring.keys, ring.current, ring.loaded_at = keys, current, time.monotonic()


def _signing_key(ctx: Context, doc: dict[str, Any], ring: KeyRing) -> SigningKey:
    kid = str(doc["_id"])
    if ring.current is not None and ring.current.kid == kid:
        return ring.current  # decrypting and parsing the PEM once per key is enough
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


async def _publish_until(ctx: Context, kid: str, now: datetime) -> datetime:
    floor = now + timedelta(
        hours=ctx.settings.qr_token_hours, seconds=ctx.settings.qr_key_cache_seconds
    )
    last = await repository.last_expiry_signed_by(ctx.store, kid)
    return max(floor, last) if last is not None else floor


async def rotate(ctx: Context, algorithm: Algorithm | None = None, *, by: Principal) -> str:
    """Add a key and make it current; the previous one keeps verifying its tokens."""
    new_kid = await _replace_current(ctx, algorithm, remove_kid=None, by=by)
    assert new_kid is not None
    return new_kid


async def remove(ctx: Context, kid: str, *, by: Principal) -> str | None:
    """Emergency: the key is compromised, its tokens are refused from now on (within the
    cache lifetime in other processes). Removing the current key first rotates to a new
    one, in the same atomic write. Returns the new current kid if there is one."""
    documents = {str(doc["_id"]): doc for doc in await repository.signing_keys(ctx.store)}
    doc = documents.get(kid)
    if doc is None:
        raise KeyCommandError("no such key")
    if doc.get("removed_at") is not None:
        raise KeyCommandError("key already removed")
    return await _replace_current(ctx, None, remove_kid=kid, by=by)


async def list_keys(ctx: Context) -> list[dict[str, Any]]:
    """Every key with its state, for `khaibao keys list`."""
    ring = await key_ring(ctx, fresh=True)
    now = utcnow()
    out = []
    for key in ring.keys.values():
        if ring.current is not None and key.kid == ring.current.kid:
            state = "current"
        elif key.removed:
            state = "removed"
        elif key.usable(now):
            state = "published"
        else:
            state = "expired"
        out.append(
            {
                "kid": key.kid,
                "alg": key.alg,
                "state": state,
                "created_at": key.created_at,
                "retired_at": key.retired_at,
                "publish_until": key.publish_until,
            }
        )
    return out


async def _replace_current(
    ctx: Context, algorithm: Algorithm | None, *, remove_kid: str | None, by: Principal
) -> str | None:
    """Rotate (`remove_kid` None), or remove `remove_kid`, rotating first if it is current.
    Audited in the same batch (`qr.keys.rotate`, `qr.keys.remove`): key ids, never a key."""
    await key_ring(ctx, fresh=True)  # creates the first key if there is none
    for _ in range(3):
        state = await repository.signing_state(ctx.store)
        if state is None:
            raise KeyCommandError("no signing state")
        previous = str(state["current_kid"])
        now = utcnow()
        ops: list[Operation] = []
        new_kid: str | None = None
        if remove_kid is not None and remove_kid != previous:
            ops.append(repository.remove_key(remove_kid, now=now))
        else:
            key = new_key_document(ctx, algorithm or ctx.settings.qr_algorithm, now=now)
            new_kid = str(key["_id"])
            ending = (
                repository.remove_key(previous, now=now)
                if remove_kid is not None
                else repository.retire_key(
                    previous, now=now, publish_until=await _publish_until(ctx, previous, now)
                )
            )
            ops += [
                repository.insert_key(key),
                repository.make_current(new_kid, previous_kid=previous, now=now),
                ending,
            ]
        if remove_kid is None:
            ops.append(
                audited_change(
                    by, "qr.keys.rotate", {"previous": previous}, now=now, target=new_kid
                )
            )
        else:
            ops.append(
                audited_change(
                    by, "qr.keys.remove", {"new_current": new_kid}, now=now, target=remove_kid
                )
            )
        try:
            await ctx.store.write(ops)
        except PreconditionFailed:
            continue  # another operator rotated meanwhile: act on the new current key
        forget_cached_keys(ctx)
        return new_kid
    raise KeyCommandError("the key was rotated concurrently several times; try again")
