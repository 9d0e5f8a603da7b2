"""Sign-in rules: one-time codes for citizens, passwords for staff, rotating refresh tokens."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta

from accounts import repository
from accounts.devices import TrustedDevice, issue_device_token, trusted_device
from accounts.errors import REFRESH_ENDED, CodeLocked, RefreshTokenReused, SignInLocked
from accounts.passwords import verify_password
from accounts.repository import PHONE_CONTEXT
from accounts.schemas import TokenResponse
from accounts.staff import create_staff, principal_of, sign_in_bucket, token_version
from accounts.tokens import issue_access_token
from core.clock import new_id, utcnow
from core.context import Context
from core.errors import InvalidCredentials, RateLimited
from core.logging import log_event
from core.principals import Principal
from core.ratelimit import Attempt
from core.storage import Document, DuplicateKey, Operation, PreconditionFailed
from notifications.outbox import new_notification
from reports.audit import actor_change

log = logging.getLogger(__name__)

__all__ = ["create_staff", "issue_tokens", "refresh", "request_otp", "sign_in_with_otp"]


def phone_hash(ctx: Context, phone: str) -> str:
    return ctx.cipher.lookup_hash(phone, context=PHONE_CONTEXT)


def _code_hash(ctx: Context, phone_key: str, code: str) -> str:
    return ctx.cipher.lookup_hash(f"{phone_key}:{code}", context="otp")


# Reads again after a lost compare-and-set on the phone's codes: each loss is another
# request's or guess's write, so this ends; the bound is only a guard.
_RACES = 16


def _live_codes(found: Document | None, now: datetime) -> list[Document]:
    """The phone's codes not yet expired, dead ones included (their owner is told so)."""
    if found is None or "codes" not in found:
        return []  # none, or one stored before phones held several: not judged
    moment = now.timestamp()
    return [dict(c) for c in found["codes"] if float(c["until"]) > moment]


async def request_otp(ctx: Context, phone: str, *, client_address: str, locale: str) -> int:
    """Store a fresh code (hashed) beside the phone's other live codes and queue it for
    delivery. Returns its lifetime in seconds.

    Counted per phone from this address first, so that one address past its own limit
    spends nothing of the phone's: the phone-wide limit, higher, is out of its reach and
    the owner can still ask for a code."""
    settings = ctx.settings
    key = phone_hash(ctx, phone)
    address_key = ctx.cipher.lookup_hash(client_address, context="address")
    await ctx.limiter.hit(
        f"otp:pa:{key}:{address_key}",
        limit=settings.otp_per_phone_per_address_per_hour,
        window_seconds=3600,
    )
    await ctx.limiter.hit(
        f"otp:a:{address_key}", limit=settings.otp_per_address_per_hour, window_seconds=3600
    )
    await ctx.limiter.hit(
        f"otp:p:{key}", limit=settings.otp_per_phone_per_hour, window_seconds=3600
    )
    now = utcnow()
    lifetime = timedelta(minutes=settings.otp_minutes)
    test_code = settings.test_otp_codes().get(phone)
    code = test_code or f"{secrets.randbelow(1_000_000):06d}"
    fresh = {
        "h": _code_hash(ctx, key, code),
        "until": (now + lifetime).timestamp(),
        "wrong": 0,
    }
    delivery: list[Operation] = []
    notification_id = None
    if test_code is None:
        notification_id, outbox_entry = new_notification(
            ctx.cipher,
            kind="otp",
            phone=phone,
            locale=locale,
            params={"code": code, "minutes": settings.otp_minutes},
            keep_days=1,
        )
        delivery.append(outbox_entry)
    # At most a phone's hourly codes are kept (the newest), even when the limiter, down,
    # lets more through.
    keep = max(0, settings.otp_per_phone_per_hour - 1)
    for _ in range(_RACES):
        found = await repository.otp(ctx.store, key)
        codes = _live_codes(found, now)[-keep:] if keep else []
        try:
            await ctx.store.write(
                [*repository.save_codes(key, found, [*codes, fresh], now=now), *delivery]
            )
        except (DuplicateKey, PreconditionFailed):
            continue
        break
    else:
        raise RateLimited(1)
    if notification_id:
        await ctx.dispatcher.dispatch([notification_id])
    log_event(log, "otp requested", notification_id=notification_id)
    return int(lifetime.total_seconds())


async def sign_in_with_otp(
    ctx: Context, phone: str, code: str, *, client_address: str
) -> TokenResponse:
    """A phone may hold several live codes (its owner's, and those anyone else asked for,
    all sent to the owner's phone); a right one signs in and ends them all.

    Wrong codes are counted twice. Per phone from this address, in the shared limiter,
    before the code is judged (so guesses sent at once are bounded too): past
    `otp_max_attempts` in the hour, this address, and no other, is refused for this phone.
    And on each live code, in the database under a compare-and-set (so they hold without
    Redis, and however many addresses guess): a code dies after `otp_attempts_per_code`
    wrong codes, more than one address can send, so one stranger cannot kill the owner's
    code. Guessing is bounded by both: SECURITY.md has the odds."""
    settings = ctx.settings
    key = phone_hash(ctx, phone)
    offered = _code_hash(ctx, key, code)
    per_code = settings.otp_attempts_per_code
    guesses: Attempt | None = None
    for _ in range(_RACES):
        now = utcnow()
        found = await repository.otp(ctx.store, key)
        codes = _live_codes(found, now)
        if not codes:
            raise InvalidCredentials()  # nothing to guess: not counted
        if guesses is None:
            address_key = ctx.cipher.lookup_hash(client_address, context="address")
            guesses = await ctx.limiter.attempt(f"otp:g:{key}:{address_key}", window_seconds=3600)
            if guesses.count is not None and guesses.count > settings.otp_max_attempts:
                raise RateLimited(guesses.retry_after)
        # Alive first: a code sent again (a test number's) may match a dead one too.
        matching = [c for c in codes if hmac.compare_digest(offered, str(c["h"]))]
        right = min(matching, key=lambda c: int(c["wrong"]), default=None)
        if right is not None and int(right["wrong"]) >= per_code:
            raise CodeLocked()
        if right is not None:
            kept: list[Document] = []  # signed in: every code of the phone has done its work
        else:
            kept = [{**c, "wrong": int(c["wrong"]) + 1} for c in codes]
        try:
            await ctx.store.write(repository.save_codes(key, found, kept, now=now))
        except (DuplicateKey, PreconditionFailed):
            continue
        if right is not None:
            await ctx.limiter.forgive(guesses)
            account = await _account_for(ctx, phone, key)
            return await issue_tokens(ctx, Principal(account, "citizen"))
        if all(int(c["wrong"]) >= per_code for c in kept):
            raise CodeLocked()
        if guesses.count is not None and guesses.count >= settings.otp_max_attempts:
            raise RateLimited(guesses.retry_after)
        raise InvalidCredentials()
    raise RateLimited(1)


async def _account_for(ctx: Context, phone: str, key: str) -> str:
    existing = await repository.account_by_phone_hash(ctx.store, key)
    if existing is not None:
        return str(existing["_id"])
    account_id = repository.account_id_for(key)
    document = {
        "_id": account_id,
        "phone_hash": key,
        "phone_enc": ctx.cipher.encrypt(phone, context=PHONE_CONTEXT),
        "created_at": utcnow(),
    }
    try:
        await ctx.store.write([repository.insert_account(document)])
    except DuplicateKey:  # the same phone signed in twice at once: use the winner
        existing = await repository.account_by_phone_hash(ctx.store, key)
        if existing is None:
            raise
        return str(existing["_id"])
    return account_id


async def sign_in_with_password(
    ctx: Context,
    username: str,
    password: str,
    *,
    client_address: str,
    device_token: str | None = None,
) -> TokenResponse:
    """Wrong passwords are limited per user name (known or not, so a 429 tells nothing
    about the account) and per client address; or, with a device token that vouches for
    this device and user name, on that token alone, so that whoever locks the user name
    does not lock out its owner's phone. Each try is counted before the password is
    checked, and taken back when it is right: tries sent at once are bounded like tries
    sent one by one. The try that reaches a limit is answered 429 and audited; every later
    one is 429 until the window ends, the right password too. A right one returns a fresh
    device token. A device token vouches only while the account's token version is the one
    it was issued at: a password reset, disabling or enabling, a new role or area end it."""
    device = None if device_token is None else trusted_device(ctx, device_token, username)
    user: Document | None = None
    read = False
    if device is not None:
        # The one read of the account a sign-in makes, made before counting only when a
        # token verifies (a token without a signature costs a locked sign-in no read).
        user, read = await repository.staff_by_username(ctx.store, username), True
        if user is None or not device.vouches_for(token_version(user)):
            device = None
    if device is None:
        tries = await _count_by_name(ctx, username, client_address)
    else:
        tries = await _count_by_device(ctx, device)
    held = [
        (scope, attempt)
        for attempt, limit, scope in tries
        if attempt.count is not None and attempt.count > limit
    ]
    if held:
        raise _locked(held)
    if not read:
        user = await repository.staff_by_username(ctx.store, username)
    # argon2 takes tens of milliseconds of CPU by design: off the event loop, so a staff
    # sign-in does not stall every other request of the process.
    ok = await asyncio.to_thread(verify_password, password, user["password_hash"] if user else None)
    if user is None or not ok or user.get("disabled"):
        reached = [(scope, attempt) for attempt, limit, scope in tries if attempt.count == limit]
        if reached:
            await _audit_lockout(ctx, user, [scope for scope, _ in reached])
            raise _locked(reached)
        raise InvalidCredentials()
    for attempt, _, _ in tries:
        await ctx.limiter.forgive(attempt)
    fresh_device_token = issue_device_token(ctx, username, token_version(user))
    return await issue_tokens(ctx, principal_of(user), device_token=fresh_device_token)


# A counted try, the limit it is held to, and the name of that limit in 429s and audits.
Tries = tuple[tuple[Attempt, int, str], ...]


async def _count_by_name(ctx: Context, username: str, client_address: str) -> Tries:
    """A sign-in without a (valid) device token: counted for the user name and the
    client address."""
    settings = ctx.settings
    window = 60 * settings.staff_sign_in_window_minutes
    # Keyed hashes: what was typed as a user name may be a password typed in the wrong field.
    address = ctx.cipher.lookup_hash(client_address, context="address")
    return (
        (await ctx.limiter.attempt(sign_in_bucket(ctx, username), window_seconds=window),
         settings.staff_sign_in_failures_per_account, "account"),
        (await ctx.limiter.attempt(f"pw:a:{address}", window_seconds=window),
         settings.staff_sign_in_failures_per_address, "address"),
    )  # fmt: skip


async def _count_by_device(ctx: Context, device: TrustedDevice) -> Tries:
    """A sign-in from a device that signed in as this user name before: counted for that
    device alone, with the user name's limit. Someone without the token cannot spend its
    tries, and its holder gets no more tries than the user name allows."""
    settings = ctx.settings
    window = 60 * settings.staff_sign_in_window_minutes
    attempt = await ctx.limiter.attempt(device.bucket, window_seconds=window)
    return ((attempt, settings.staff_sign_in_failures_per_account, "device"),)


def _locked(limits: list[tuple[str, Attempt]]) -> SignInLocked:
    """The 429 for the limits that hold: told until the last of them ends, and what lifts
    them (a password reset lifts only the user name's)."""
    wait = max(attempt.retry_after for _, attempt in limits)
    return SignInLocked(wait, [scope for scope, _ in limits])


async def _audit_lockout(ctx: Context, user: Document | None, scopes: list[str]) -> None:
    """The service locked a sign-in: which limits were reached, and the account's id when
    the user name is one (never what was typed, never the address)."""
    target = None if user is None else str(user["_id"])
    entry = actor_change(
        None, "system", "staff.sign_in.locked", {"limits": scopes}, now=utcnow(), target=target
    )
    await ctx.store.write([entry])


def _refresh_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_tokens(
    ctx: Context,
    principal: Principal,
    *,
    family: str | None = None,
    device_token: str | None = None,
) -> TokenResponse:
    """An access token and a refresh token, and the device token of a staff password
    sign-in. `family` ties the refresh token to the sign-in it descends from (a new
    sign-in starts a family)."""
    settings = ctx.settings
    refresh = secrets.token_urlsafe(32)
    document = {
        "_id": _refresh_hash(refresh),
        "family": family or new_id("rtf"),
        "subject": principal.subject,
        "role": principal.role,
        "checkpoints": sorted(principal.checkpoints),
        "used": False,
        "expires_at": utcnow() + timedelta(days=settings.refresh_token_days),
    }
    await ctx.store.write([repository.insert_refresh_token(document)])
    access = issue_access_token(
        principal,
        secret=settings.secret_key.get_secret_value(),
        minutes=settings.access_token_minutes,
    )
    return TokenResponse(
        access_token=access,
        refresh_token=refresh,
        expires_in=settings.access_token_minutes * 60,
        role=principal.role,
        device_token=device_token,
    )


async def refresh(ctx: Context, token: str) -> TokenResponse:
    """Refresh tokens are single use: each refresh returns a new one. A used one offered
    again means two holders (one of them a thief): every token of its family is revoked,
    so both must sign in again (OAuth 2.0 Security BCP, RFC 9700 section 4.14.2)."""
    key = _refresh_hash(token)
    stored = await repository.refresh_token(ctx.store, key)
    if stored is None or stored["expires_at"] <= utcnow():
        raise InvalidCredentials(REFRESH_ENDED)
    family = str(stored.get("family") or key)
    if stored["used"]:
        await _revoke_family(ctx, family)
        raise RefreshTokenReused()
    try:
        await ctx.store.write([repository.use_refresh_token(key)])
    except PreconditionFailed:  # used by a concurrent refresh: reuse all the same
        await _revoke_family(ctx, family)
        raise RefreshTokenReused() from None
    principal = Principal(stored["subject"], stored["role"], frozenset(stored["checkpoints"]))
    if principal.role != "citizen":
        user = await repository.staff_by_id(ctx.store, principal.subject)
        if user is None or user.get("disabled"):
            raise InvalidCredentials(REFRESH_ENDED)
        principal = principal_of(user)
    return await issue_tokens(ctx, principal, family=family)


async def _revoke_family(ctx: Context, family: str) -> None:
    await ctx.store.write([repository.revoke_refresh_family(family)])
    log_event(log, "refresh token reused; family revoked")
