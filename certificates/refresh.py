"""Optional scheduled refresh of the trust list from URLs an operator configures
(`KHAIBAO_TRUST_REFRESH_URLS`), ahead of any scan: scans themselves never fetch.

Each URL serves a trust bundle, the same shapes the admin endpoints take:

    {"dcc_cscas": [{"certificate": "<base64 DER>", "country": "AT"}, ...],
     "dcc_signers": [{"certificate": "<base64 DER>", "country": "AT"}, ...],
     "shc_issuers": [{"iss": "https://...", "jwks": {...}, "crl": {...}, "country": "US"}],
     "dcc_revocations": [{"kid": "<kid>", "hash_type": "UCI", "hashes": ["<base64>"]}]}

A signer is checked against the CSCAs trusted once the refresh commits (those stored that
it keeps, and the bundle's): in a country with one, a signer none of them issued is skipped
(certificates/csca.py). A CSCA the refresh removes takes the signers it vouched for with it,
whoever added them. A revocation list counts only for a signer trusted once the refresh
commits (the bundle's own, or one already trusted); a signer the refresh removes takes its
lists with it.

Entries from a URL are marked with it as their `source`: a refresh adds and replaces them,
and removes those the URL no longer lists; entries an admin added are never touched. An
entry that does not check out is skipped (and logged); a URL that cannot be read leaves its
entries as they were. What an admin removes meanwhile (a CSCA, a signer) rolls the refresh
back until the next run. The version moves, and an audit entry is written, only when
something changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import ValidationError

from certificates import repository
from certificates.refresh_changes import (
    Changes,
    RefreshOutcome,
    csca_changes,
    issuer_changes,
    revocation_changes,
    signer_changes,
)
from core.background import repeat
from core.clock import utcnow
from core.context import Context
from core.logging import log_event
from core.principals import Principal
from core.storage import PreconditionFailed
from notifications.broker import make_celery
from notifications.config import DeliverySettings
from reports.audit import audited_change

log = logging.getLogger(__name__)

MAX_BUNDLE_BYTES = 8 * 1024 * 1024
FETCH_TIMEOUT_SECONDS = 20.0
REFRESHER = Principal("system:trust-refresh", "admin")
REFRESH_TASK = "certificates.refresh_trust"

Fetch = Callable[[str], Awaitable[bytes]]
Enqueue = Callable[[], Awaitable[bool]]


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
    cscas: list[Any]
    signers: list[Any]
    issuers: list[Any]
    revocations: list[Any]


def _bundle(raw: bytes) -> _Bundle:
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("a trust bundle is an object")
    bundle = _Bundle(
        data.get("dcc_cscas", []),
        data.get("dcc_signers", []),
        data.get("shc_issuers", []),
        data.get("dcc_revocations", []),
    )
    if not all(isinstance(part, list) for part in vars(bundle).values()):
        raise ValueError("dcc_cscas, dcc_signers, shc_issuers and dcc_revocations are lists")
    return bundle


async def _apply(ctx: Context, url: str, bundle: _Bundle, outcome: RefreshOutcome) -> None:
    now = utcnow()
    changes = Changes(url)
    kept = await csca_changes(ctx, bundle.cscas, changes, outcome, now=now)
    trusted_kids = await signer_changes(ctx, bundle.signers, kept, changes, outcome, now=now)
    await issuer_changes(ctx, bundle.issuers, changes, outcome, now=now)
    await revocation_changes(ctx, bundle.revocations, trusted_kids, changes, outcome, now=now)
    if not changes.ops:
        return
    audit = audited_change(
        REFRESHER, "trust.refresh", {"url": url, "changes": changes.names}, now=now
    )
    try:
        await ctx.store.write([*changes.ops, audit, repository.bump_trust_version(now)])
    except PreconditionFailed:  # an admin untrusted a signer or a CSCA meanwhile: next time
        log_event(log, "trust refresh raced an admin", url=url)
        outcome.failed_urls.append(url)
        return
    outcome.changed += len(changes.names)


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
