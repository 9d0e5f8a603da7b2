"""Optional scheduled refresh of the trust list from URLs an operator configures
(`KHAIBAO_TRUST_REFRESH_URLS`), ahead of any scan: scans themselves never fetch.

Each URL serves a trust bundle, the same shapes the admin endpoints take:

    {"dcc_signers": [{"certificate": "<base64 DER>", "country": "AT"}, ...],
     "shc_issuers": [{"iss": "https://...", "jwks": {...}, "crl": {...}, "country": "US"}],
     "dcc_revocations": [{"kid": "<kid>", "hash_type": "UCI", "hashes": ["<base64>"]}]}

A revocation list counts only for a signer trusted once the refresh commits (the bundle's
own, or one already trusted); a signer the refresh removes takes its lists with it.

Entries from a URL are marked with it as their `source`: a refresh adds and replaces them,
and removes those the URL no longer lists; entries an admin added are never touched. An
entry that does not check out is skipped (and logged); a URL that cannot be read leaves its
entries as they were. The version moves, and an audit entry is written, only when
something changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from pydantic import TypeAdapter, ValidationError

from certificates import repository
from certificates.dcc_revocation import entry_text, parse_hashes
from certificates.errors import InvalidTrustEntry
from certificates.schemas import DccRevocationsIn, DccSignerIn, ShcIssuerIn
from certificates.service import dcc_signer_fields, shc_issuer_fields
from certificates.trust import TrustEntryInvalid
from core.background import repeat
from core.clock import utcnow
from core.context import Context
from core.logging import log_event
from core.principals import Principal
from core.storage import Operation, PreconditionFailed
from notifications.broker import make_celery
from notifications.config import DeliverySettings
from reports.audit import audited_change

log = logging.getLogger(__name__)

MAX_BUNDLE_BYTES = 8 * 1024 * 1024
FETCH_TIMEOUT_SECONDS = 20.0
REFRESHER = Principal("system:trust-refresh", "admin")
REFRESH_TASK = "certificates.refresh_trust"
_signers = TypeAdapter(list[DccSignerIn])
_issuers = TypeAdapter(list[ShcIssuerIn])
_revocations = TypeAdapter(list[DccRevocationsIn])
# Fields that say when an entry was stored, not what it is.
_STAMPS = ("added_at", "source")

Fetch = Callable[[str], Awaitable[bytes]]
Enqueue = Callable[[], Awaitable[bool]]


@dataclass
class RefreshOutcome:
    version: int
    changed: int = 0
    skipped: int = 0
    failed_urls: list[str] = field(default_factory=list)


async def fetch_bundle(url: str) -> bytes:
    """GET the bundle, at most MAX_BUNDLE_BYTES, following no redirect to elsewhere."""
    async with (
        httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False) as client,
        client.stream("GET", url, headers={"Accept": "application/json"}) as response,
    ):
        response.raise_for_status()
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body.extend(chunk)
            if len(body) > MAX_BUNDLE_BYTES:
                raise ValueError("trust bundle too large")
        return bytes(body)


def urls_of(ctx: Context) -> list[str]:
    return [u.strip() for u in ctx.settings.trust_refresh_urls.split(",") if u.strip()]


async def refresh_trust(
    ctx: Context, *, urls: list[str] | None = None, fetch: Fetch = fetch_bundle
) -> RefreshOutcome:
    """One refresh from every configured URL (or from `urls`)."""
    outcome = RefreshOutcome(version=await repository.trust_version(ctx.store))
    for url in urls_of(ctx) if urls is None else urls:
        try:
            bundle = _bundle(await fetch(url))
        except (httpx.HTTPError, ValueError, ValidationError) as error:
            log_event(log, "trust refresh failed", url=url, error=type(error).__name__)
            outcome.failed_urls.append(url)
            continue
        await _apply(ctx, url, bundle, outcome)
    outcome.version = await repository.trust_version(ctx.store)
    return outcome


@dataclass
class _Bundle:
    signers: list[Any]
    issuers: list[Any]
    revocations: list[Any]


def _bundle(raw: bytes) -> _Bundle:
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("a trust bundle is an object")
    bundle = _Bundle(
        data.get("dcc_signers", []), data.get("shc_issuers", []), data.get("dcc_revocations", [])
    )
    if not all(isinstance(part, list) for part in vars(bundle).values()):
        raise ValueError("dcc_signers, shc_issuers and dcc_revocations are lists")
    return bundle


def _same(stored: dict[str, Any] | None, fields: dict[str, Any]) -> bool:
    if stored is None:
        return False
    return all(stored.get(k) == v for k, v in fields.items() if k not in _STAMPS)


@dataclass
class _Changes:
    """What one URL's refresh writes, in one batch, and what the audit entry lists."""

    url: str
    ops: list[Operation] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def add(self, op: Operation, name: str) -> None:
        self.ops.append(op)
        self.names.append(name)


async def _apply(ctx: Context, url: str, bundle: _Bundle, outcome: RefreshOutcome) -> None:
    now = utcnow()
    changes = _Changes(url)
    trusted_kids = await _signer_changes(ctx, bundle.signers, changes, outcome, now=now)
    await _issuer_changes(ctx, bundle.issuers, changes, outcome, now=now)
    await _revocation_changes(ctx, bundle.revocations, trusted_kids, changes, outcome, now=now)
    if not changes.ops:
        return
    audit = audited_change(
        REFRESHER, "trust.refresh", {"url": url, "changes": changes.names}, now=now
    )
    try:
        await ctx.store.write([*changes.ops, audit, repository.bump_trust_version(now)])
    except PreconditionFailed:  # an admin untrusted a signer meanwhile: next time
        log_event(log, "trust refresh raced an admin", url=url)
        outcome.failed_urls.append(url)
        return
    outcome.changed += len(changes.names)


async def _signer_changes(
    ctx: Context, signers: list[Any], changes: _Changes, outcome: RefreshOutcome, *, now: datetime
) -> dict[str, bool]:
    """Adds, replaces and removes this URL's signers. Returns every kid trusted once the
    batch commits, True where this batch writes it (False: trusted already, untouched)."""
    stored = {d["_id"]: d for d in await repository.dcc_signers(ctx.store)}
    trusted = dict.fromkeys(stored, False)
    seen: set[str] = set()
    for raw in signers:
        try:
            (entry,) = _signers.validate_python([raw])
            kid, fields = dcc_signer_fields(entry.certificate, entry.country, now=now)
        except (ValidationError, InvalidTrustEntry):
            outcome.skipped += 1
            continue
        seen.add(kid)
        previous = stored.get(kid)
        if previous is not None and previous.get("source") != changes.url:
            continue  # an admin's entry (or another URL's) stays as it is
        if not _same(previous, fields):
            changes.add(
                repository.put_dcc_signer(kid, {**fields, "source": changes.url}), f"dcc:{kid}"
            )
            trusted[kid] = True
    for kid, document in stored.items():
        if document.get("source") == changes.url and kid not in seen:
            changes.add(repository.delete_dcc_signer(kid), f"-dcc:{kid}")
            del trusted[kid]  # its revocation lists go too (`_revocation_changes`)
    return trusted


async def _issuer_changes(
    ctx: Context, issuers: list[Any], changes: _Changes, outcome: RefreshOutcome, *, now: datetime
) -> None:
    stored = {d["_id"]: d for d in await repository.shc_issuers(ctx.store)}
    seen: set[str] = set()
    for raw in issuers:
        try:
            (issuer,) = _issuers.validate_python([raw])
            fields = shc_issuer_fields(issuer, now=now)
        except (ValidationError, InvalidTrustEntry):
            outcome.skipped += 1
            continue
        seen.add(issuer.iss)
        previous = stored.get(issuer.iss)
        if previous is not None and previous.get("source") != changes.url:
            continue
        if not _same(previous, fields):
            fields = {**fields, "source": changes.url}
            changes.add(repository.put_shc_issuer(issuer.iss, fields), f"shc:{issuer.iss}")
    for iss, document in stored.items():
        if document.get("source") == changes.url and iss not in seen:
            changes.add(repository.delete_shc_issuer(iss), f"-shc:{iss}")


async def _revocation_changes(
    ctx: Context,
    lists: list[Any],
    trusted_kids: dict[str, bool],
    changes: _Changes,
    outcome: RefreshOutcome,
    *,
    now: datetime,
) -> None:
    """This URL's revocation lists, each for a signer trusted once the batch commits (one
    already trusted is held by a precondition, so an admin untrusting it meanwhile rolls
    the batch back instead of leaving an orphan list)."""
    stored = {d["_id"]: d for d in await repository.dcc_revocations(ctx.store)}
    seen: set[str] = set()
    held: set[str] = set()
    for raw in lists:
        try:
            (entry,) = _revocations.validate_python([raw])
            hashes = sorted(entry_text(h) for h in parse_hashes(entry.hashes))
        except (ValidationError, TrustEntryInvalid):
            outcome.skipped += 1
            continue
        if entry.kid not in trusted_kids:
            outcome.skipped += 1  # a list for a signer nobody trusts revokes nothing
            continue
        list_id = repository.revocations_id(entry.kid, entry.hash_type)
        seen.add(list_id)
        previous = stored.get(list_id)
        if previous is not None and previous.get("source") != changes.url:
            continue  # an admin's list stays as it is
        if previous is not None and previous.get("hashes") == hashes:
            continue
        fields = {"hashes": hashes, "count": len(hashes), "changed_at": now, "source": changes.url}
        put = repository.put_dcc_revocations(entry.kid, entry.hash_type, fields)
        changes.add(put, f"rev:{list_id}")
        if not trusted_kids[entry.kid] and entry.kid not in held:
            held.add(entry.kid)
            changes.ops.append(repository.dcc_signer_held(entry.kid))
    for list_id, document in stored.items():
        # Dropped by the bundle, or the signer is (as when an admin untrusts it).
        ours = document.get("source") == changes.url and list_id not in seen
        if ours or document["kid"] not in trusted_kids:
            kid, hash_type = document["kid"], document["hash_type"]
            changes.add(repository.delete_dcc_revocations(kid, [hash_type]), f"-rev:{list_id}")


def celery_enqueue(ctx: Context) -> Enqueue | None:
    """With a broker (`KHAIBAO_REDIS_URL`), a publisher of the refresh task for the worker;
    without one, None: the API process refreshes itself."""
    if not ctx.settings.redis_url:
        return None
    delivery = DeliverySettings()
    celery = make_celery(ctx.settings, delivery)

    async def enqueue() -> bool:
        try:
            await asyncio.to_thread(celery.send_task, REFRESH_TASK, queue=delivery.queue)
        except Exception as error:  # the broker is down: refresh here instead
            log_event(log, "trust refresh not queued", error=type(error).__name__)
            return False
        return True

    return enqueue


async def refresh_forever(ctx: Context, *, enqueue: Enqueue | None = None) -> None:
    """The schedule: every `trust_refresh_minutes`, hand the refresh to Celery when a broker
    takes it (`enqueue` returns True), otherwise run it here."""

    async def once() -> None:
        if enqueue is None or not await enqueue():
            outcome = await refresh_trust(ctx)
            log_event(
                log,
                "trust refreshed",
                version=outcome.version,
                changed=outcome.changed,
                skipped=outcome.skipped,
                failed=len(outcome.failed_urls),
            )

    await repeat(
        once, seconds=ctx.settings.trust_refresh_minutes * 60, what="trust refresh", log=log
    )


def start_refresh(ctx: Context) -> asyncio.Task[None] | None:
    """The background schedule when URLs are configured, else nothing."""
    if not urls_of(ctx):
        return None
    return asyncio.create_task(refresh_forever(ctx, enqueue=celery_enqueue(ctx)))


async def stop_refresh(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
