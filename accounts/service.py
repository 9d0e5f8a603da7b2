"""Sign-in rules: one-time codes for citizens, passwords for staff, rotating refresh tokens."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

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
from core.errors import InvalidCredentials
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


async def request_otp(ctx: Context, phone: str, *, client_address: str, locale: str) -> int:
    """Store a fresh code (hashed) and queue it for delivery. Returns its lifetime in seconds."""
    settings = ctx.settings
    key = phone_hash(ctx, phone)
    address_key = ctx.cipher.lookup_hash(client_address, context="address")
    await ctx.limiter.hit(
        f"otp:p:{key}", limit=settings.otp_per_phone_per_hour, window_seconds=3600
    )
    await ctx.limiter.hit(
        f"otp:a:{address_key}", limit=settings.otp_per_address_per_hour, window_seconds=3600
    )
    now = utcnow()
    lifetime = timedelta(minutes=settings.otp_minutes)
    test_code = settings.test_otp_codes().get(phone)
    code = test_code or f"{secrets.randbelow(1_000_000):06d}"
    ops: list[Operation] = [
        repository.put_otp(key, _code_hash(ctx, key, code), now=now, expires_at=now + lifetime)
    ]
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
        ops.append(outbox_entry)
    await ctx.store.write(ops)
    if notification_id:
        await ctx.dispatcher.dispatch([notification_id])
    log_event(log, "otp requested", notification_id=notification_id)
    return int(lifetime.total_seconds())


async def sign_in_with_otp(ctx: Context, phone: str, code: str) -> TokenResponse:
    key = phone_hash(ctx, phone)
    offered = _code_hash(ctx, key, code)
    limit = ctx.settings.otp_max_attempts
    # A guess is answered only once it has claimed attempt n+1 by a compare-and-set on the
    # count n it read (the right code marks the code used under the same condition). A
    # guess that loses the race reads the count again: guesses sent at once are judged one
    # attempt each, never more than `limit` in all. Each lost race is another guess's
    # claim (or a new code), so this ends; the bound is only a guard.
    for _ in range(limit + 2):
        stored = await repository.otp(ctx.store, key)
        if stored is None or stored["used"] or stored["expires_at"] <= utcnow():
            raise InvalidCredentials()
        attempts = int(stored["attempts"])
        if attempts >= limit:
            raise CodeLocked()
        right = hmac.compare_digest(offered, stored["code_hash"])
        # Counted in the database, not in Redis: brute force is stopped even without Redis.
        claim = (
            repository.use_otp(key, offered, attempts)
            if right
            else repository.count_otp_attempt(key, stored["code_hash"], attempts)
        )
        try:
            await ctx.store.write([claim])
        except PreconditionFailed:
            continue
        if not right:
            if attempts + 1 >= limit:
                raise CodeLocked()
            raise InvalidCredentials()
        account = await _account_for(ctx, phone, key)
        return await issue_tokens(ctx, Principal(account, "citizen"))
    raise CodeLocked()


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
