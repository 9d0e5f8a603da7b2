"""What every request passes through before its route, one pure-ASGI middleware per job.
`install(app, ...)` adds them in this order, outermost first:

1. `AnswerHeaders`: what every answer carries: the request id (in the logs too, and in
   `X-Request-ID`), `X-Content-Type-Options: nosniff`, and `Cache-Control: no-store` on
   an answer to a signed-in request whose route set no caching policy of its own.
2. `HeadAsGet`: `HEAD` answered as an anonymous `GET` is, without the body (monitors, CDNs
   and phones' cache checks send it; FastAPI's routes answer it 405); signed in, a route
   that needs the credentials answers 405, so a HEAD never spends or logs anything.
3. `Metrics`: Prometheus counts and latency per route template, refusals included.
4. `LoadShedding`: 503 + Retry-After instead of queueing until phones time out, when too
   many requests are in flight or the event loop has a standing queue (`api.overload`).
5. `AddressLimit`: 429 for floods from one address, counted in process (`hit_soon`).
6. `BodyLimit`: 413 for a declared or streamed body over the path's limit.

Shedding comes before the address limit so that a full process refuses at once, and the
probes (`/healthz`, `/readyz`, `/metrics`) pass both. Each reads only the headers it needs.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from prometheus_client import Counter, Gauge, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.overload import LoopLag
from core.errors import AppError, Overloaded, PayloadTooLarge, RateLimited
from core.i18n import Text
from core.logging import request_id
from web.deps import negotiate
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

PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def install(
    app: FastAPI,
    *,
    max_body_bytes: int,
    max_in_flight: int,
    body_limits: dict[str, int] | None = None,
    loop_lag: LoopLag | None = None,
) -> None:
    """Add the edge's middlewares to `app`, in the order of the module doc."""
    # Starlette wraps each added middleware around the ones added before: innermost first.
    app.add_middleware(BodyLimit, max_body_bytes=max_body_bytes, body_limits=body_limits)
    app.add_middleware(AddressLimit)
    app.add_middleware(LoadShedding, max_in_flight=max_in_flight, loop_lag=loop_lag)
    app.add_middleware(Metrics)
    app.add_middleware(HeadAsGet)
    app.add_middleware(AnswerHeaders)


def header(scope: Scope, name: bytes) -> str | None:
    """One request header (`name` in lower case), without decoding the others."""
    raw = raw_header(scope, name)
    return None if raw is None else raw.decode("latin-1")


def raw_header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def refuse(error: AppError, scope: Scope, send: Send) -> None:
    """Answer `error` as problem+json in the caller's language, without reading the body."""
    response = render(error, negotiate(header(scope, b"accept-language")))

    async def no_body() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    await response(scope, no_body, send)


class HeadNeedsGet(AppError):
    """A signed-in `HEAD` on a route that answers only the signed-in: send `GET`."""

    status = 405
    code = "http_405"  # what the router's own 405 says, so clients need no new code
    title = Text("Request not accepted", "Yêu cầu không được chấp nhận")
    detail = Text(
        "HEAD is answered here only without credentials: send GET.",
        "Yêu cầu HEAD ở đây chỉ được trả lời khi không kèm thông tin đăng nhập: hãy gửi GET.",
    )


class HeadAsGet:
    """`HEAD` is served as the `GET` of the same URL, and the body is dropped: the same
    status and headers (`ETag`, `Cache-Control`, the `Content-Length` of the GET's body,
    compressed if the GET's would be), refusals included, but never as a signed-in caller.

    A signed-in GET can spend a quota (the daily exports) or write "read" entries into a
    citizen's access log (contact cards, organisations' statuses, the worklist): a HEAD
    must not, since nothing was sent. So the GET a HEAD becomes never carries the
    `Authorization` header (the service has no cookies or other credentials). Without
    one, a public route answers as its GET would, and a protected route refuses in its
    auth dependency, before the handler runs: to a caller who sent no credentials that
    401 is the GET's answer; to one who did it is replaced by `405` with `Allow: GET`
    (a 401 would tell a phone its session ended). The routes themselves tell which GETs
    are public, so no list has to be kept in step with them.

    FastAPI's routes list only the methods they were declared with, so without this a
    `HEAD` on any of them is 405. Outermost, so that everything below (the edge's limits,
    GZip, the routes) sees a plain GET; metrics therefore count a HEAD as a GET. The
    scope is copied, never changed: the server reads its own `method` to send no body.
    Every other request passes with one comparison."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") != "HEAD":
            await self.app(scope, receive, send)
            return
        send = _without_body(send)
        headers = scope["headers"]
        anonymous = [(key, value) for key, value in headers if key != b"authorization"]
        if len(anonymous) == len(headers):
            await self.app({**scope, "method": "GET"}, receive, send)
            return

        refused = False  # the GET answered 401: held back, replaced by a 405

        async def send_unless_refused(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start" and message["status"] == 401:
                refused = True
            elif not refused:
                await send(message)

        await self.app(
            {**scope, "method": "GET", "headers": anonymous}, receive, send_unless_refused
        )
        if refused:
            await refuse(HeadNeedsGet(headers={"Allow": "GET"}), scope, send)


def _without_body(send: Send) -> Send:
    """`send` with every body message emptied: the answer to a HEAD."""

    async def send_without_body(message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.body" or kind == "http.response.pathsend":
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await send(message)

    return send_without_body


# Sent on every answer: a browser never runs a JSON or problem+json body as a script or
# page because it guessed another type. A constant: nothing is built per request.
ALWAYS = ((b"x-content-type-options", b"nosniff"),)
# An answer to a signed-in request is the caller's own data (an export, a declaration, a
# staff read): no cache, shared or on the device, may keep it, unless its route chose a
# policy (a QR code's `private, no-cache` revalidated by `ETag`).
NO_STORE = (b"cache-control", b"no-store")


class AnswerHeaders:
    """The headers every answer carries, whoever produced it (a route, a refusal of the
    edge, a `HEAD`'s 405): the caller's X-Request-ID when it is safe to echo (a phone
    retrying keeps its id), otherwise a new one, also set for the logs; `ALWAYS`; and
    `NO_STORE` on an answer to a request with an `Authorization` header that says nothing
    of caching itself. Outermost, so it sees the request as sent (`HeadAsGet` drops the
    credentials below it) and every answer. The request's headers are read in one pass;
    the answer's are looked through only when signed in."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming: bytes | None = None
        signed_in = False
        for key, value in scope["headers"]:
            if key == b"authorization":
                signed_in = True
            elif key == b"x-request-id":
                incoming = value
        rid = incoming.decode("latin-1") if incoming is not None else None
        if rid is None or not _SAFE_REQUEST_ID.fullmatch(rid):
            rid = secrets.token_hex(8)
        added = ((b"x-request-id", rid.encode()), *ALWAYS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), *added]
                if signed_in:
                    for key, _ in headers:
                        if key == b"cache-control":
                            break
                    else:
                        headers.append(NO_STORE)
                message["headers"] = headers
            await send(message)

        token = request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            request_id.reset(token)


class Metrics:
    """Requests by method, route template and status, and latency by method and template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # prometheus_client's labels() takes a lock and builds a key on every call: the
        # children are looked up once per label set instead.
        self._counts: dict[tuple[str, str, int], Callable[[], None]] = {}
        self._latencies: dict[tuple[str, str], Callable[[float], None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            # path_format: the template as documented, without a convertor (`{id:declaration_id}`)
            template = getattr(scope.get("route"), "path_format", None) or "unmatched"
            method = scope["method"]
            count = self._counts.get((method, template, status))
            if count is None:
                count = REQUESTS.labels(method, template, str(status)).inc
                self._counts[(method, template, status)] = count
            observe = self._latencies.get((method, template))
            if observe is None:
                observe = LATENCY.labels(method, template).observe
                self._latencies[(method, template)] = observe
            count()
            observe(time.perf_counter() - started)


class LoadShedding:
    """At most `max_in_flight` requests at a time, and none while the loop is behind."""

    def __init__(
        self, app: ASGIApp, *, max_in_flight: int, loop_lag: LoopLag | None = None
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.loop_lag = loop_lag
        self.in_flight = 0

    def overloaded(self) -> str | None:
        """Why a new request must be refused now, if it must."""
        if self.in_flight >= self.max_in_flight:
            return "in_flight"
        if self.loop_lag is not None and self.loop_lag.overloaded:
            return "loop_lag"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBES:
            await self.app(scope, receive, send)
            return
        reason = self.overloaded()
        if reason is not None:
            SHED.labels(reason).inc()
            await refuse(Overloaded(retry_after=1), scope, send)
            return
        self.in_flight += 1
        IN_FLIGHT.inc()
        holds_slot = True

        def release() -> None:
            nonlocal holds_slot
            if holds_slot:
                holds_slot = False
                self.in_flight -= 1
                IN_FLIGHT.dec()

        async def send_and_release(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                # Answered: the client may send its next request now, while what follows
                # the response (closing dependencies) finishes. It must find a free slot.
                release()

        try:
            await self.app(scope, receive, send_and_release)
        finally:
            release()


class AddressLimit:
    """Floods from one address get 429. The address is counted under a keyed hash, in
    process, and shared with the other processes once a second (`RateLimiter.hit_soon`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # An address's keyed hash, computed once per address per limit window.
        self._buckets: dict[str, str] = {}
        self._window = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = getattr(getattr(scope.get("app"), "state", None), "context", None)
        if scope["type"] != "http" or scope["path"] in PROBES or ctx is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else "-"
        window = int(time.time() // 60)
        if window != self._window:
            self._window, self._buckets = window, {}
        bucket = self._buckets.get(address)
        if bucket is None:
            bucket = "req:" + ctx.cipher.lookup_hash(address, context="address")[:32]
            self._buckets[address] = bucket
        try:
            ctx.limiter.hit_soon(
                bucket, limit=ctx.settings.requests_per_address_per_minute, window_seconds=60
            )
        except RateLimited as refusal:
            await refuse(refusal, scope, send)
            return
        await self.app(scope, receive, send)


class BodyLimit:
    """413 for a body over the path's limit: declared (Content-Length) or streamed."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, body_limits: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_limits = body_limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.body_limits.get(scope["path"], self.max_body_bytes)
        declared = raw_header(scope, b"content-length")
        # bytes.isdigit() is true for ASCII 0-9 only (str.isdigit() also for "²", "٣").
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await refuse(PayloadTooLarge(), scope, send)
            return
        await self.app(scope, _limited(receive, limit), send)


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
