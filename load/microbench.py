"""In-process measurements of two hot-path choices, each against the code it replaced,
measured in the same run (best of five rounds; compare the ratio, not the microseconds):

* QR verification: `qr.tokens.decode_verified` against `jwt.decode` with the same checks.
* Routing: a request through the app with the flat route table (`api.routing`) against the
  same app walking FastAPI's router tree; the request is refused at authentication (401)
  after routing, so what differs is finding the route.

    python -m load.microbench
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.types import Message

from api.app import create_app
from api.routing import FlatDispatch
from core.settings import Settings
from load.inprocess import http_scope
from qr.keys import VerifyingKey
from qr.tokens import decode_verified

ROUNDS = 5
REPEAT = {"verify": 2000, "request": 1000}


def best_of(run: Callable[[], None], repeat: int) -> float:
    """Microseconds per call, best round."""
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(repeat):
            run()
        best = min(best, (time.perf_counter() - started) / repeat * 1e6)
    return best


def qr_verification() -> tuple[float, float]:
    private = ec.generate_private_key(ec.SECP256R1())
    key = VerifyingKey(
        kid="k" * 16,
        alg="ES256",
        public_key=private.public_key(),
        jwk={},
        created_at=datetime.now(UTC),
        retired_at=None,
        publish_until=None,
        removed=False,
    )
    now = int(time.time())
    claims = {"iss": "i", "aud": "a", "sub": "s", "st": "green", "iat": now, "exp": now + 600}
    token = jwt.encode({**claims, "jti": "j"}, private, algorithm="ES256")
    required = ["exp", "iat", "iss", "aud", "jti"]

    def pyjwt() -> None:
        jwt.decode(
            token,
            key.public_key,
            algorithms=["ES256"],
            audience="a",
            issuer="i",
            leeway=30,
            options={"require": required, "strict_aud": True},
        )

    def direct() -> None:
        decode_verified(token, key, audience="a", issuer="i", leeway=30)

    return best_of(pyjwt, REPEAT["verify"]), best_of(direct, REPEAT["verify"])


async def best_of_async(run: Callable[[], Awaitable[None]], repeat: int) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(repeat):
            await run()
        best = min(best, (time.perf_counter() - started) / repeat * 1e6)
    return best


async def routing() -> tuple[float, float]:
    body = orjson.dumps({"token": "x"})

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 401, message["status"]

    with tempfile.TemporaryDirectory() as data:
        settings = Settings(
            env="test",
            database_url=f"sqlite:///{data}/khaibao.sqlite3",
            redis_url=None,
            requests_per_address_per_minute=10**9,
        )
        app = create_app(settings)
        dispatch = app.router.middleware_stack
        assert isinstance(dispatch, FlatDispatch)

        async def scan_request() -> None:
            path = "/v1/checkpoints/chk_0123456789/scans"
            headers = [(b"content-type", b"application/json")]
            await app(http_scope("POST", path, "", headers, client_port=1), receive, send)

        async with app.router.lifespan_context(app):
            dispatch.enabled = False
            tree = await best_of_async(scan_request, REPEAT["request"])
            dispatch.enabled = True
            flat = await best_of_async(scan_request, REPEAT["request"])
        return tree, flat


def main() -> None:
    rows = [("QR verification (ES256)", "PyJWT", *qr_verification(), "direct")]
    rows.append(
        ("scan request refused at sign-in", "router tree", *asyncio.run(routing()), "flat table")
    )
    print("| what | before | µs | after | µs | after / before |")
    print("|---|---|---:|---|---:|---:|")
    for what, before_name, before, after, after_name in rows:
        print(
            f"| {what} | {before_name} | {before:.0f} | {after_name} | {after:.0f} "
            f"| {after / before:.2f} |"
        )


if __name__ == "__main__":
    main()
