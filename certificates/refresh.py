"""Optional scheduled refresh of the trust list from URLs an operator configures
(`KHAIBAO_TRUST_REFRESH_URLS`), ahead of any scan: scans themselves never fetch.

Each URL serves a trust bundle, the same shapes the admin endpoints take:

    {"dcc_signers": [{"certificate": "<base64 DER>", "country": "AT"}, ...],
     "shc_issuers": [{"iss": "https://...", "jwks": {...}, "crl": {...}, "country": "US"}]}

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
from typing import Any

import httpx
from pydantic import TypeAdapter, ValidationError

from certificates import repository
from certificates.errors import InvalidTrustEntry
from certificates.schemas import DccSignerIn, ShcIssuerIn
from certificates.service import dcc_signer_fields, shc_issuer_fields
from core.background import repeat
from core.clock import utcnow
from core.context import Context
from core.logging import log_event
from core.principals import Principal
from core.storage import Operation
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


def _bundle(raw: bytes) -> tuple[list[Any], list[Any]]:
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("a trust bundle is an object")
    signers, issuers = data.get("dcc_signers", []), data.get("shc_issuers", [])
    if not isinstance(signers, list) or not isinstance(issuers, list):
        raise ValueError("dcc_signers and shc_issuers are lists")
    return signers, issuers


def _same(stored: dict[str, Any] | None, fields: dict[str, Any]) -> bool:
    if stored is None:
        return False
    return all(stored.get(k) == v for k, v in fields.items() if k not in _STAMPS)


async def _apply(
    ctx: Context, url: str, bundle: tuple[list[Any], list[Any]], outcome: RefreshOutcome
) -> None:
    now = utcnow()
    ops: list[Operation] = []
    changes: list[str] = []
    signers, issuers = bundle
    stored_signers = {d["_id"]: d for d in await repository.dcc_signers(ctx.store)}
    stored_issuers = {d["_id"]: d for d in await repository.shc_issuers(ctx.store)}
    seen_kids: set[str] = set()
    for raw in signers:
        try:
            (entry,) = _signers.validate_python([raw])
            kid, fields = dcc_signer_fields(entry.certificate, entry.country, now=now)
        except (ValidationError, InvalidTrustEntry):
            outcome.skipped += 1
            continue
        seen_kids.add(kid)
        previous = stored_signers.get(kid)
        if previous is not None and previous.get("source") != url:
            continue  # an admin's entry (or another URL's) stays as it is
        if not _same(previous, fields):
            ops.append(repository.put_dcc_signer(kid, {**fields, "source": url}))
            changes.append(f"dcc:{kid}")
    seen_iss: set[str] = set()
    for raw in issuers:
        try:
            (issuer,) = _issuers.validate_python([raw])
            fields = shc_issuer_fields(issuer, now=now)
        except (ValidationError, InvalidTrustEntry):
            outcome.skipped += 1
            continue
        seen_iss.add(issuer.iss)
        previous = stored_issuers.get(issuer.iss)
        if previous is not None and previous.get("source") != url:
            continue
        if not _same(previous, fields):
            ops.append(repository.put_shc_issuer(issuer.iss, {**fields, "source": url}))
            changes.append(f"shc:{issuer.iss}")
    for kid, document in stored_signers.items():
        if document.get("source") == url and kid not in seen_kids:
            ops.append(repository.delete_dcc_signer(kid))
            changes.append(f"-dcc:{kid}")
    for iss, document in stored_issuers.items():
        if document.get("source") == url and iss not in seen_iss:
            ops.append(repository.delete_shc_issuer(iss))
            changes.append(f"-shc:{iss}")
    if not ops:
        return
    audit = audited_change(REFRESHER, "trust.refresh", {"url": url, "changes": changes}, now=now)
    await ctx.store.write([*ops, audit, repository.bump_trust_version(now)])
    outcome.changed += len(changes)


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
