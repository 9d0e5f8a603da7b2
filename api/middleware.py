"""One pure-ASGI middleware for what every request passes through: a request id, load
shedding (503 + Retry-After instead of queueing until phones time out: when too many
requests are in flight, or when the event loop has a standing queue), a body-size limit
(413 for a declared or streamed body over the path's limit), and Prometheus metrics per
route template."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.overload import LoopLag
from core.errors import AppError, Overloaded, PayloadTooLarge, RateLimited
from core.i18n import negotiate
from core.logging import request_id
from core.validation import ascii_digits
from web.problems import render

REQUESTS = Counter("khaibao_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "khaibao_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
IN_FLIGHT = Gauge(
    "khaibao_requests_in_flight", "Requests being served", multiprocess_mode="livesum"
)
SHED = Counter(
    "khaibao_requests_shed_total",
    "Requests refused because the process was full (in flight) or behind (loop lag)",
    ["reason"],
)

_EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_in_flight: int,
        body_limits: dict[str, int] | None = None,
        loop_lag: LoopLag | None = None,
    ) -> None:
        self.app = app
        self.loop_lag = loop_lag
        self.max_body_bytes = max_body_bytes
        self.body_limits = body_limits or {}
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get("x-request-id", "")
        rid = incoming if _SAFE_REQUEST_ID.match(incoming) else secrets.token_hex(8)
        token = request_id.set(rid)
        lang = negotiate(headers.get("accept-language"))
        path: str = scope["path"]
        started = time.perf_counter()
        status_holder = {"status": 500, "started": False}
        holds_slot = False

        def release_slot() -> None:
            nonlocal holds_slot
            if holds_slot:
                holds_slot = False
                self.in_flight -= 1
                IN_FLIGHT.dec()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                # Answered: the client may send its next request now, while what follows
                # the response (closing dependencies) finishes. It must find a free slot.
                release_slot()

        try:
            shed_for = None if path in _EXEMPT else self._overloaded()
            if shed_for is not None:
                SHED.labels(shed_for).inc()
                await self._refuse(Overloaded(retry_after=1), lang, scope, send_with_id)
                return
            refusal = None if path in _EXEMPT else await self._address_limit(scope)
            if refusal is not None:
                await self._refuse(refusal, lang, scope, send_with_id)
                return
            limit = self.body_limits.get(path, self.max_body_bytes)
            declared = headers.get("content-length")
            if declared is not None and (not ascii_digits(declared) or int(declared) > limit):
                await self._refuse(PayloadTooLarge(), lang, scope, send_with_id)
                return
            self.in_flight += 1
            IN_FLIGHT.inc()
            holds_slot = True
            try:
                await self.app(scope, _limited(receive, limit), send_with_id)
            finally:
                release_slot()
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            REQUESTS.labels(method, template, str(status_holder["status"])).inc()
            LATENCY.labels(method, template).observe(time.perf_counter() - started)
            request_id.reset(token)

    def _overloaded(self) -> str | None:
        """Why a new request must be refused now, if it must."""
        if self.in_flight >= self.max_in_flight:
            return "in_flight"
        if self.loop_lag is not None and self.loop_lag.overloaded:
            return "loop_lag"
        return None

    async def _address_limit(self, scope: Scope) -> RateLimited | None:
        """Floods from one address get 429. The address is hashed before it is counted."""
        app = scope.get("app")
        ctx = getattr(getattr(app, "state", None), "context", None)
        if ctx is None:
            return None
        client = scope.get("client")
        address = ctx.cipher.lookup_hash(client[0] if client else "-", context="address")
        try:
            await ctx.limiter.hit(
                f"req:{address[:32]}",
                limit=ctx.settings.requests_per_address_per_minute,
                window_seconds=60,
            )
        except RateLimited as refusal:
            return refusal
        return None

    async def _refuse(self, error: AppError, lang: str, scope: Scope, send: Send) -> None:
        response = render(error, lang)

        async def no_body() -> dict[str, Any]:
            return {"type": "http.disconnect"}

        await response(scope, no_body, send)


def _limited(receive: Receive, limit: int) -> Receive:
    """Count streamed body bytes; a body without Content-Length cannot slip past the limit.
    FastAPI re-raises an HTTPException from here, so it is rendered as problem+json."""
    seen = 0

    async def limited_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413)
        return message

    return limited_receive


__all__ = ["EdgeMiddleware"]
