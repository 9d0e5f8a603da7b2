"""Redis is stopped in the middle of a load run, with the API (uvicorn) and a Celery
worker running as real processes: declarations keep being accepted, a confirmed case is
accepted too (its notifications wait in the outbox), nothing answers 5xx; once Redis is
back, every notification reaches the SMS gateway exactly once.

The SMS gateway is the notifications tests' stand-in (it crosses the border); Redis is a
redis-server of this test alone, on its own port, stopped and started by the test.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from accounts.service import create_staff
from core.principals import Role
from core.settings import Settings
from runtime.context import build_context, close_context
from tests.conftest import STAFF_PASSWORD, TEST_ADMIN
from tests.faults.servers import (
    PHONES,
    ApiServer,
    Attempt,
    Load,
    id_number_for,
    read_rows,
    send,
    server_env,
    sign_in,
    until,
)
from tests.notifications.conftest import FAST, SECRET, RedisServer, WorkerFactory
from tests.notifications.gateway import FakeSmsGateway
from tests.security.cast import declaration_body

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not installed"
)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


async def _seed_staff(database_url: str) -> None:
    """The officer and the admin, as `khaibao users create` makes them."""
    ctx = await build_context(Settings(env="test", database_url=database_url))
    try:
        roles: tuple[Role, ...] = ("health_officer", "admin")
        for role in roles:
            await create_staff(
                ctx,
                username=f"fault-{role}",
                password=STAFF_PASSWORD,
                role=role,
                checkpoints=(),
                by=TEST_ADMIN,
            )
    finally:
        await close_context(ctx)


async def _staff(client: httpx.AsyncClient, role: str) -> dict[str, str]:
    body = {"username": f"fault-{role}", "password": STAFF_PASSWORD}
    signed = await client.post("/v1/auth/token", json=body)
    assert signed.status_code == 200, signed.text
    return {"Authorization": f"Bearer {signed.json()['access_token']}"}


def _states(database: Path) -> list[tuple[Any, ...]]:
    return read_rows(
        database,
        "SELECT json_extract(doc, '$.kind'), json_extract(doc, '$.state') FROM notifications",
    )


@pytest.mark.timeout(240)
async def test_redis_outage_mid_load_loses_no_declaration_and_no_notification(
    tmp_path: Path,
    servers: list[ApiServer],
    private_redis: RedisServer,
    gateway: FakeSmsGateway,
    workers: WorkerFactory,
) -> None:
    database = tmp_path / "data" / "khaibao.sqlite3"
    database.parent.mkdir()
    database_url = f"sqlite:///{database}"
    env = server_env(
        database_url,
        KHAIBAO_REDIS_URL=private_redis.url,
        KHAIBAO_NOTIFY_PROVIDER="webhook",
        KHAIBAO_NOTIFY_WEBHOOK_URL=gateway.url,
        KHAIBAO_NOTIFY_WEBHOOK_SECRET=SECRET,
        KHAIBAO_NOTIFY_NAMESPACE=f"fault-{uuid.uuid4().hex[:10]}",
        **FAST,
    )
    await _seed_staff(database_url)
    api = ApiServer(tmp_path, env)
    servers.append(api.start())
    workers.start({**env, "KHAIBAO_LOG_LEVEL": "INFO"})

    phones = list(PHONES)
    load_phones, case_phone, contact_phone = phones[:4], phones[4], phones[5]
    async with httpx.AsyncClient(base_url=api.url, timeout=15) as client:
        citizens = {phone: await sign_in(client, phone) for phone in phones[:6]}
        officer, admin = await _staff(client, "health_officer"), await _staff(client, "admin")
        venue = await client.post(
            "/v1/checkpoints",
            json={"name": "Chợ Đồng Xuân", "province": 1, "ward": 70, "kind": "market"},
            headers=admin,
        )
        assert venue.status_code == 201, venue.text
        people = {}
        for phone in (case_phone, contact_phone):  # the case and a contact, at the venue
            declared = Attempt(
                phone, f"setup-{phone[1:]}", declaration_body(phone, id_number_for(phone))
            )
            await send(client, declared, citizens[phone])
            assert declared.status == 201
            person = (await client.get("/v1/people", headers=citizens[phone])).json()
            people[phone] = person["items"][0]["person_id"]
            visit = await client.post(
                "/v1/checkins",
                json={"venue_token": venue.json()["venue_token"], "person_id": people[phone]},
                headers=citizens[phone],
            )
            assert visit.status_code == 201, visit.text

        load = Load(api.url, {phone: citizens[phone] for phone in load_phones})
        running = asyncio.create_task(load.run())
        await until(lambda: len(load.told(201)) >= 10, within=60, what="load under way")

        private_redis.stop()
        before_outage = len(load.attempts)
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["code"] == "broker_unavailable"
        case = await client.post(
            "/v1/cases", json={"person_id": people[case_phone]}, headers=officer
        )
        assert case.status_code == 201, case.text
        assert case.json()["notified"] == 1
        await until(
            lambda: len(load.told(201)) >= before_outage + 20, within=60, what="load in outage"
        )
        assert gateway.received == []  # nothing could be handed over yet
        assert {state for _, state in _states(database)} <= {"pending", "queued"}

        private_redis.start()  # same port, empty: whatever was queued before is gone
        after_outage = len(load.attempts)
        await until(lambda: len(load.told(201)) >= after_outage + 10, within=60, what="load after")
        load.stop.set()
        await running

    def delivered() -> bool:
        states = _states(database)
        return bool(states) and {state for _, state in states} == {"delivered"}

    await until(delivered, within=90, what="notifications delivered after the outage")
    assert {a.status for a in load.attempts} == {201}, "every declaration was accepted"
    assert len(load.attempts) > after_outage > before_outage
    sent = {r.body["to"]: r.body["kind"] for r in gateway.received}
    assert sent == {case_phone: "status_change", contact_phone: "exposure"}
    assert sorted(gateway.sent.values()) == [1, 1]  # one SMS each
    stored = read_rows(database, "SELECT count(*) FROM declarations")[0][0]
    assert stored == len(load.attempts) + 2
