"""How the seeding speaks to the service: a request sent again the way the apps do, a
bounded number of requests at once, and the sign-ins (staff by password, citizens by the
fixed code of a test number)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from load.data import Household

T = TypeVar("T")


class SeedError(RuntimeError):
    pass


async def gather_limited(limit: int, jobs: list[Callable[[], Awaitable[T]]]) -> list[T]:
    gate = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return await asyncio.gather(*(run(job) for job in jobs))


SEND_ATTEMPTS = 6


async def send(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request, sent again after a transport error (a keep-alive connection the server
    closed as it was reused, on a machine too busy to keep up) or a 503 that says when to
    come back (the server shedding load), as the apps do. Declarations carry an
    Idempotency-Key, so sending one again is safe."""
    for attempt in range(SEND_ATTEMPTS):
        last = attempt == SEND_ATTEMPTS - 1
        try:
            answer = await client.request(method, url, **kwargs)
        except httpx.TransportError:
            if last:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))
            continue
        if answer.status_code != 503 or "retry-after" not in answer.headers or last:
            return answer
        await asyncio.sleep(float(answer.headers["retry-after"]))
    raise AssertionError("unreachable")


async def staff_token(client: httpx.AsyncClient, username: str, password: str) -> str:
    answer = await send(
        client, "POST", "/v1/auth/token", json={"username": username, "password": password}
    )
    if answer.status_code != 200:
        raise SeedError(f"staff sign-in failed: {answer.status_code} {answer.text[:200]}")
    return str(answer.json()["access_token"])


async def citizen_token(client: httpx.AsyncClient, household: Household) -> str:
    return await phone_token(client, household.phone, household.code)


async def phone_token(client: httpx.AsyncClient, phone: str, code: str) -> str:
    """A citizen's access token: a test number signs in with its fixed code."""
    sent = await send(client, "POST", "/v1/auth/otp", json={"phone": phone})
    if sent.status_code != 202:
        raise SeedError(f"OTP request failed: {sent.status_code} {sent.text[:200]}")
    answer = await send(client, "POST", "/v1/auth/token", json={"phone": phone, "otp": code})
    if answer.status_code != 200:
        raise SeedError(f"citizen sign-in failed: {answer.status_code} {answer.text[:200]}")
    return str(answer.json()["access_token"])


__all__ = [
    "SeedError",
    "citizen_token",
    "gather_limited",
    "phone_token",
    "send",
    "staff_token",
]
