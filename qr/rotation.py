"""The operators' key commands: rotation, removal and listing (`khaibao keys ...`).

Publishing ahead. Scanners keep the published key set (`/.well-known/jwks.json`) for its
max-age, so a key that signed at once would make them refuse new codes until they fetched
it again. A rotated-in key is published at once but signs only from its `signs_from`,
`takeover_delay` later: by then every process's ring holds it, so the key set each serves
lists it, and every copy fetched before has expired. The state document names the key that
signs (`current_kid`) and the one waiting (`next_kid`); each process switches at
`signs_from` by its own clock, without a write or a reload (`qr.keys.KeyRing`).

Lifetimes. One key set signs personal codes (`qr_token_hours`), venue posters
(`venue_token_days`) and entry codes (at most `ENTRY_CODE_LONGEST`). A rotated key keeps
verifying, and stays in the published key set, until the last token it signed expires:
`publish_until` is at least its last signing moment + the longest of those lifetimes, and
at least the latest `exp` recorded for it in `qr_tokens`. So a venue poster printed before
a rotation works until its own expiry; removing a key (compromise) ends all of its tokens at
once, and the venue posters it signed must be printed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.clock import utcnow
from core.context import Context
from core.principals import Principal
from core.settings import Settings
from core.storage import Document, Operation, PreconditionFailed
from qr import repository
from qr.keys import (
    ENTRY_CODE_LONGEST,
    JWKS_MAX_AGE_SECONDS,
    Algorithm,
    forget_cached_keys,
    key_ring,
    key_signs_from,
    new_key_document,
)
from reports.audit import audited_change

# Beyond the caches: processes' clocks differ a little, and a request signs with the time
# it read a moment before.
TAKEOVER_MARGIN = timedelta(seconds=60)


class KeyCommandError(Exception):
    """An operator's key command cannot be done (unknown kid, already removed)."""


def takeover_delay(settings: Settings) -> timedelta:
    """From publishing a key to signing with it: every process's cached ring has it (the
    key set is served from that ring), then every key set fetched before has expired."""
    return timedelta(seconds=settings.qr_key_cache_seconds + JWKS_MAX_AGE_SECONDS) + TAKEOVER_MARGIN


def longest_token_lifetime(settings: Settings) -> timedelta:
    return max(
        timedelta(hours=settings.qr_token_hours),
        timedelta(days=settings.venue_token_days),
        ENTRY_CODE_LONGEST,
    )


@dataclass(frozen=True)
class Rotation:
    kid: str
    signs_from: datetime


async def _publish_until(ctx: Context, kid: str, last_signing: datetime) -> datetime:
    """Until when a key that signs up to `last_signing` must stay published."""
    floor = last_signing + longest_token_lifetime(ctx.settings) + TAKEOVER_MARGIN
    last = await repository.last_expiry_signed_by(ctx.store, kid)
    return max(floor, last) if last is not None else floor


async def _keys_and_state(ctx: Context) -> tuple[dict[str, Document], Document]:
    await key_ring(ctx, fresh=True)  # creates the first key if there is none
    documents = {str(doc["_id"]): doc for doc in await repository.signing_keys(ctx.store)}
    state = await repository.signing_state(ctx.store)
    if state is None:
        raise KeyCommandError("no signing state")
    return documents, state


def _signing_now(
    state: Document, documents: dict[str, Document], now: datetime
) -> tuple[str, str | None]:
    """The key that signs at `now`, and the one published ahead that signs later, if any."""
    current, upcoming = str(state["current_kid"]), state.get("next_kid")
    doc = documents.get(str(upcoming)) if upcoming is not None else None
    if doc is None or doc.get("removed_at") is not None:
        return current, None
    if key_signs_from(doc) <= now:
        return str(upcoming), None
    return current, str(upcoming)


async def rotate(
    ctx: Context,
    algorithm: Algorithm | None = None,
    *,
    by: Principal,
    now: datetime | None = None,
) -> Rotation:
    """Publish a new key now; it signs from `Rotation.signs_from`, `takeover_delay` later,
    and the key signing until then keeps verifying its tokens. A rotation already waiting
    is an error: the operator removes the waiting key to start again. Audited in the same
    batch (`qr.keys.rotate`): key ids, never a key."""
    for _ in range(3):
        documents, state = await _keys_and_state(ctx)
        at = now or utcnow()
        signing, upcoming = _signing_now(state, documents, at)
        if upcoming is not None:
            when = key_signs_from(documents[upcoming]).strftime("%Y-%m-%dT%H:%M:%SZ")
            raise KeyCommandError(
                f"key {upcoming} is already published and signs from {when}; "
                "rotate after that, or remove it to start again"
            )
        key = new_key_document(ctx, algorithm or ctx.settings.qr_algorithm, now=at)
        key["signs_from"] = at + takeover_delay(ctx.settings)
        new_kid = str(key["_id"])
        ops: list[Operation] = [
            repository.insert_key(key),
            repository.set_signing(state, current_kid=signing, next_kid=new_kid, now=at),
            repository.retire_key(
                signing,
                now=key["signs_from"],
                publish_until=await _publish_until(ctx, signing, key["signs_from"]),
            ),
            audited_change(by, "qr.keys.rotate", {"previous": signing}, now=at, target=new_kid),
        ]
        if await _written(ctx, ops):
            return Rotation(new_kid, key["signs_from"])
    raise KeyCommandError("the key was rotated concurrently several times; try again")


async def remove(
    ctx: Context, kid: str, *, by: Principal, now: datetime | None = None
) -> str | None:
    """Emergency: the key is compromised, its tokens are refused from now on (within the
    cache lifetime in other processes). Removing the key that signs makes the key published
    ahead sign at once, or a new one if none waits (scanners that have not fetched it yet
    refuse new codes until they do: a compromised key must stop first), in the same atomic
    write; removing the key published ahead cancels that rotation. Returns the kid of a key
    that newly signs, if there is one. Audited in the same batch (`qr.keys.remove`)."""
    for _ in range(3):
        documents, state = await _keys_and_state(ctx)
        doc = documents.get(kid)
        if doc is None:
            raise KeyCommandError("no such key")
        if doc.get("removed_at") is not None:
            raise KeyCommandError("key already removed")
        at = now or utcnow()
        signing, upcoming = _signing_now(state, documents, at)
        ops: list[Operation] = [repository.remove_key(kid, now=at)]
        new_kid: str | None = None
        if kid == upcoming:
            ops += [
                repository.set_signing(state, current_kid=signing, next_kid=None, now=at),
                repository.unretire_key(signing),
            ]
        elif kid == signing and upcoming is not None:
            new_kid = upcoming
            ops += [
                repository.set_signing(state, current_kid=upcoming, next_kid=None, now=at),
                repository.signs_from(upcoming, at),
            ]
        elif kid == signing:
            key = new_key_document(ctx, ctx.settings.qr_algorithm, now=at)
            new_kid = str(key["_id"])
            ops += [
                repository.insert_key(key),
                repository.set_signing(state, current_kid=new_kid, next_kid=None, now=at),
            ]
        elif kid == state["current_kid"]:  # signed until a rotation took over: say so
            ops.append(repository.set_signing(state, current_kid=signing, next_kid=None, now=at))
        ops.append(
            audited_change(by, "qr.keys.remove", {"new_current": new_kid}, now=at, target=kid)
        )
        if await _written(ctx, ops):
            return new_kid
    raise KeyCommandError("the key was rotated concurrently several times; try again")


async def _written(ctx: Context, ops: list[Operation]) -> bool:
    try:
        await ctx.store.write(ops)
    except PreconditionFailed:
        return False  # another operator changed the keys meanwhile: act on what they left
    forget_cached_keys(ctx)
    return True


async def list_keys(ctx: Context) -> list[dict[str, Any]]:
    """Every key with its state, for `khaibao keys list`: `current` (signs now), `next`
    (published, signs from its `signs_from`), `published`, `expired` or `removed`."""
    ring = await key_ring(ctx, fresh=True)
    now = utcnow()
    signer = ring.signing_key(now)
    out = []
    for key in ring.keys.values():
        if signer is not None and key.kid == signer.kid:
            state = "current"
        elif ring.next is not None and key.kid == ring.next.kid:
            state = "next"
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
                "signs_from": key.signs_from,
            }
        )
    return out
