"""The application factory: one store, one Redis client and one context per process."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api import docs, health, middleware
from api.domains import HOT_ROUTERS, ROUTERS
from api.overload import LoopLag
from certificates.refresh import start_refresh
from core.background import repeat
from core.clock import utcnow
from core.context import Context
from core.errors import (
    MalformedBody,
    Overloaded,
    PayloadTooLarge,
    RateLimited,
    UnsupportedContentEncoding,
    UnsupportedMediaType,
    ValidationFailed,
)
from core.logging import configure_logging
from core.settings import Settings, get_settings
from monitoring.jobs import start_daily_jobs
from notifications.delivery import start_delivery
from publicmap.service import refresh_forever as refresh_public_map_forever
from runtime.context import build_context, close_context
from web import caching, lean, openapi, problems

log = logging.getLogger(__name__)

PURGE_EVERY_SECONDS = 600
# Paths allowed a larger body than KHAIBAO_MAX_BODY_BYTES: a phone's offline queue, and an
# EU revocation list (10,000 hashes of 24 characters).
BODY_LIMITS = {"/v1/declarations/batch": 1024 * 1024, "/v1/trust/dcc-revocations": 512 * 1024}
# What any route may answer before its own code runs, so the OpenAPI document shows it: the
# edge's refusals (413, 429, 503) and request parsing's (400 not JSON, 415 not sent as JSON
# or compressed, 422 as problem+json).
EDGE_RESPONSES = problems.responses(
    MalformedBody,
    ValidationFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    UnsupportedContentEncoding,
    RateLimited,
    Overloaded,
)


async def _purge_expired_forever(ctx: Context) -> None:
    """Retention on SQLite: expired declarations, codes and tokens are deleted. MongoDB's
    TTL indexes do it there (`Store.expires_by_itself`), so this loop does not run."""

    async def purge() -> None:
        removed = await ctx.store.purge_expired(utcnow())
        if removed:
            log.info("expired documents deleted", extra={"fields": {"count": removed}})

    await repeat(purge, seconds=PURGE_EVERY_SECONDS, what="retention purge", log=log)


def _freeze_startup_objects() -> None:
    """Take what start-up built (modules, schemas, routes, the ward list: ≈ 125,000 objects
    that live as long as the process) out of the cycle collector's sight.

    Under load, the objects of in-flight requests keep surviving young collections, and
    every few thousand requests that triggers a full collection, which walked all of
    start-up's objects: a 90 ms stall of the event loop, in which requests at half the
    maximum rate piled past the in-flight cap and got 503 (BENCHMARKS.md, "Collector
    pauses"). Frozen, a full collection walks only what came later (≈ 6 ms)."""
    gc.collect()
    gc.freeze()


async def _stop(tasks: list[asyncio.Task[Any]], *, seconds: float = 5.0) -> None:
    """Cancel the background jobs and wait for them, but not forever: a cancellation that a
    database driver's call swallows (seen with the MongoDB driver while its operation was
    being cancelled) must not hold the process's shutdown, nor a failed start-up, open."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=seconds)
    for task in pending:
        log.warning("background job did not stop", extra={"fields": {"job": task.get_name()}})


def create_app(
    settings: Settings | None = None, *, extra_routers: Sequence[APIRouter] = ()
) -> FastAPI:
    """The app; `extra_routers` (the bench's no-ops) are tried right after the hot routes."""
    settings = settings or get_settings()
    loop_lag = LoopLag(settings.shed_loop_lag_ms / 1000) if settings.shed_loop_lag_ms else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = await build_context(settings)
        app.state.context = ctx
        if settings.freeze_at_start:
            _freeze_startup_objects()
        delivery = await start_delivery(ctx)  # the outbox relay; in-process sends if no Redis
        background = [asyncio.create_task(refresh_public_map_forever(ctx))]
        if not ctx.store.expires_by_itself:
            background.append(asyncio.create_task(_purge_expired_forever(ctx)))
        daily_jobs = start_daily_jobs(ctx)  # only without Redis: else `khaibao scheduler`
        if daily_jobs is not None:
            background.append(daily_jobs)
        trust_refresh = start_refresh(ctx)  # only when KHAIBAO_TRUST_REFRESH_URLS is set
        if trust_refresh is not None:
            background.append(trust_refresh)
        if loop_lag is not None:
            background.append(asyncio.create_task(loop_lag.probe_forever()))
        try:
            yield
        finally:
            await delivery.stop()
            await _stop(background)
            try:
                await close_context(ctx)
            finally:
                gc.unfreeze()  # even if closing failed: nothing of this app stays frozen

    app = FastAPI(
        title="Khaibao",
        version="1.0.0",
        summary="Health declarations, signed QR codes, checkpoint scans and contact tracing.",
        lifespan=lifespan,
        # /docs is served from the package (api/docs.py); FastAPI's pages load a CDN.
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=openapi.operation_id,
        # Metrics are Prometheus (api/middleware.py) and logs our own JSON lines: FastAPI's
        # OpenTelemetry would otherwise look up three providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    openapi.install(app)
    problems.install(app)
    app.add_middleware(GZipMiddleware, minimum_size=caching.GZIP_MINIMUM_BYTES)
    middleware.install(
        app,
        max_body_bytes=settings.max_body_bytes,
        max_in_flight=settings.max_in_flight,
        body_limits=BODY_LIMITS,
        loop_lag=loop_lag,
    )
    if settings.trusted_proxy_list:
        # Outermost, so the edge's per-address limit counts the client the proxy names.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxy_list)
    first_hot = len(app.routes)
    for router in HOT_ROUTERS:  # first: FastAPI tries routes in this order
        app.include_router(router, responses=EDGE_RESPONSES)
    hot = app.routes[first_hot:]
    for router in extra_routers:
        app.include_router(router)
    app.include_router(health.router, responses=problems.responses(PayloadTooLarge))
    app.include_router(docs.router)
    for router in ROUTERS:
        app.include_router(router, responses=EDGE_RESPONSES)
    lean.check_inclusions(hot)
    lean.serve_directly(app, hot)
    return app


def app_from_environment(*, extra_routers: Sequence[APIRouter] = ()) -> FastAPI:
    """Entry point for `uvicorn --factory` in every worker process."""
    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings, extra_routers=extra_routers)
