"""Prepare a freshly started server for a run, through the same doors operators and phones
use: staff accounts as `khaibao users create` makes them, checkpoints through the admin API,
and people who declared and fetched their QR code, whose tokens the clerks will scan.

A domain whose endpoint is not there yet is skipped with a warning, so the harness runs
with whatever the service offers today.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypeVar

import httpx

from accounts.service import create_staff
from core.principals import Role
from core.settings import Settings
from load.data import (
    INVALID_TOKEN_KINDS,
    SCANNED_PREFIX,
    Household,
    invalid_token,
    make_declaration,
    make_households,
    provinces,
    vietnam_today,
)
from load.fixtures import Clerk, Fixtures, SignedInCitizen
from runtime.context import build_context, close_context

log = logging.getLogger("load.seed")
T = TypeVar("T")

CHECKPOINT_KINDS = ("airport", "hospital", "market", "office")
CHECKPOINT_NAMES = (
    "Sân bay Nội Bài - Ga quốc nội",
    "Bệnh viện Bạch Mai - Cổng số 1",
    "Chợ Bến Thành",
    "Tòa nhà Bitexco",
    "Bến xe Mỹ Đình",
    "Sân bay Tân Sơn Nhất - Ga T1",
    "Bệnh viện Chợ Rẫy",
    "Chợ Đồng Xuân",
)


@dataclass(frozen=True)
class SeedPlan:
    checkpoints: int = 8
    scanned_households: int = 120
    seed: int = 2021
    concurrency: int = 16


class SeedError(RuntimeError):
    pass


async def _gather_limited(limit: int, jobs: list[Callable[[], Awaitable[T]]]) -> list[T]:
    gate = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return await asyncio.gather(*(run(job) for job in jobs))


SEND_ATTEMPTS = 6


async def _send(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
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


async def _create_staff(
    settings: Settings, accounts: list[tuple[str, Role, list[str]]], password: str
) -> None:
    """In-process, as `khaibao users create` does: argon2 hashing stays out of the run."""
    ctx = await build_context(settings)
    try:
        for username, role, checkpoints in accounts:
            await create_staff(
                ctx, username=username, password=password, role=role, checkpoints=checkpoints
            )
    finally:
        await close_context(ctx)


async def _staff_token(client: httpx.AsyncClient, username: str, password: str) -> str:
    answer = await _send(
        client, "POST", "/v1/auth/token", json={"username": username, "password": password}
    )
    if answer.status_code != 200:
        raise SeedError(f"staff sign-in failed: {answer.status_code} {answer.text[:200]}")
    return str(answer.json()["access_token"])


async def citizen_token(client: httpx.AsyncClient, household: Household) -> str:
    sent = await _send(client, "POST", "/v1/auth/otp", json={"phone": household.phone})
    if sent.status_code != 202:
        raise SeedError(f"OTP request failed: {sent.status_code} {sent.text[:200]}")
    answer = await _send(
        client, "POST", "/v1/auth/token", json={"phone": household.phone, "otp": household.code}
    )
    if answer.status_code != 200:
        raise SeedError(f"citizen sign-in failed: {answer.status_code} {answer.text[:200]}")
    return str(answer.json()["access_token"])


async def _create_checkpoints(
    client: httpx.AsyncClient, admin: str, count: int, rng: random.Random
) -> list[str]:
    _, _, wards = provinces()
    ids: list[str] = []
    for index in range(count):
        province = 1 if index % 2 == 0 else 79
        body = {
            "name": CHECKPOINT_NAMES[index % len(CHECKPOINT_NAMES)] + f" #{index + 1}",
            "province": province,
            "ward": rng.choice(wards[province]),
            "kind": CHECKPOINT_KINDS[index % len(CHECKPOINT_KINDS)],
        }
        answer = await _send(
            client,
            "POST",
            "/v1/checkpoints",
            json=body,
            headers={"Authorization": f"Bearer {admin}"},
        )
        if answer.status_code in (404, 405):
            log.warning("POST /v1/checkpoints is not there yet: no clerks in this run")
            return []
        if answer.status_code != 201:
            raise SeedError(f"checkpoint creation failed: {answer.status_code} {answer.text[:300]}")
        ids.append(str(answer.json()["id"]))
    return ids


@dataclass
class _Declared:
    citizen: SignedInCitizen
    tokens: list[str]


async def _declare_and_fetch_qr(
    client: httpx.AsyncClient, household: Household, rng: random.Random, today: date
) -> _Declared | None:
    """Sign in, declare for everyone in the household, fetch each person's QR token."""
    access = await citizen_token(client, household)
    headers = {"Authorization": f"Bearer {access}"}
    person_ids: list[str] = []
    tokens: list[str] = []
    for person in household.people:
        body = make_declaration(rng, person, today=today)
        key = str(uuid.uuid4())
        answer = await _send(
            client,
            "POST",
            "/v1/declarations",
            json=body,
            headers={**headers, "Idempotency-Key": key},
        )
        if answer.status_code in (404, 405):
            return None
        if answer.status_code not in (200, 201):
            raise SeedError(f"declaration failed: {answer.status_code} {answer.text[:300]}")
        person_id = str(answer.json()["person_id"])
        person_ids.append(person_id)
        qr = await _send(client, "GET", f"/v1/people/{person_id}/qr", headers=headers)
        if qr.status_code == 200:
            tokens.append(str(qr.json()["token"]))
    citizen = SignedInCitizen(phone=household.phone, access_token=access, person_ids=person_ids)
    return _Declared(citizen, tokens)


async def seed(
    base_url: str, settings: Settings, plan: SeedPlan, *, today: date | None = None
) -> Fixtures:
    today = today or vietnam_today()
    rng = random.Random(f"{plan.seed}:seed")
    password = secrets.token_urlsafe(18)
    suffix = secrets.token_hex(3)
    admin_name, analyst_name = f"load-admin-{suffix}", f"load-analyst-{suffix}"
    await _create_staff(
        settings, [(admin_name, "admin", []), (analyst_name, "analyst", [])], password
    )

    limits = httpx.Limits(max_connections=plan.concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0, limits=limits) as client:
        admin = await _staff_token(client, admin_name, password)
        analyst = await _staff_token(client, analyst_name, password)

        checkpoint_ids = await _create_checkpoints(client, admin, plan.checkpoints, rng)
        clerk_accounts: list[tuple[str, Role, list[str]]] = [
            (f"load-clerk-{suffix}-{i}", "checkpoint_staff", [cp])
            for i, cp in enumerate(checkpoint_ids)
        ]
        await _create_staff(settings, clerk_accounts, password)
        clerks = [
            Clerk(checkpoint_id=cps[0], access_token=await _staff_token(client, name, password))
            for name, _, cps in clerk_accounts
        ]

        households = make_households(SCANNED_PREFIX, plan.scanned_households, seed=plan.seed)

        def job(household: Household) -> Callable[[], Awaitable[_Declared | None]]:
            local = random.Random(f"{plan.seed}:{household.phone}")
            return lambda: _declare_and_fetch_qr(client, household, local, today)

        declared = await _gather_limited(plan.concurrency, [job(h) for h in households])

    found = [d for d in declared if d is not None]
    if not found:
        log.warning("POST /v1/declarations is not there yet: no QR tokens to scan")
    valid = [token for d in found for token in d.tokens]
    invalid = (
        [
            invalid_token(rng, rng.choice(valid), INVALID_TOKEN_KINDS[i % len(INVALID_TOKEN_KINDS)])
            for i in range(max(8, len(valid) // 4))
        ]
        if valid
        else []
    )
    return Fixtures(
        base_url=base_url,
        admin_token=admin,
        analyst_token=analyst,
        clerks=clerks,
        valid_tokens=valid,
        invalid_tokens=invalid,
        citizens=[d.citizen for d in found],
        report_from=(today - timedelta(days=7)).isoformat(),
        report_to=(today + timedelta(days=1)).isoformat(),
    )


def seed_sync(base_url: str, settings: Settings, plan: SeedPlan) -> Fixtures:
    return asyncio.run(seed(base_url, settings, plan))


__all__ = ["SeedError", "SeedPlan", "citizen_token", "seed", "seed_sync"]
