"""The server is SIGKILLed in the middle of a load run and started again on the same
database: every declaration a client was told about (201) is there, readable by its owner;
a client that heard nothing retries with the same Idempotency-Key and the retry is
answered without a second declaration. Nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.faults.servers import (
    PHONES,
    ApiServer,
    Load,
    read_rows,
    send,
    server_env,
    sign_in,
    snapshot,
    until,
)

LOAD_CITIZENS = 6


@pytest.mark.timeout(180)
async def test_sigkill_mid_load_loses_no_acknowledged_declaration(
    tmp_path: Path, servers: list[ApiServer]
) -> None:
    database = tmp_path / "data" / "khaibao.sqlite3"
    database.parent.mkdir()  # serve refuses a database in a directory that does not exist
    env = server_env(f"sqlite:///{database}")
    first = ApiServer(tmp_path, env)
    servers.append(first.start())
    phones = list(PHONES)[:LOAD_CITIZENS]
    async with httpx.AsyncClient(base_url=first.url, timeout=10) as client:
        citizens = {phone: await sign_in(client, phone) for phone in phones}

    load = Load(first.url, citizens)
    running = asyncio.create_task(load.run())
    # Kill it once it is busy: enough acknowledged, and requests certainly in flight.
    await until(lambda: len(load.told(201)) >= 40, within=60, what="40 acknowledged")
    first.kill()
    await until(lambda: bool(load.unknown()), within=10, what="a request cut off by the kill")
    load.stop.set()
    await running

    acknowledged = load.told(201)
    assert {a.status for a in load.attempts} <= {201, None}, "only 201s before the kill"

    second = ApiServer(tmp_path, env)
    servers.append(second.start())
    async with httpx.AsyncClient(base_url=second.url, timeout=10) as client:
        for attempt in acknowledged:  # the owner reads each one back
            got = await client.get(
                f"/v1/declarations/{attempt.declaration_id}", headers=citizens[attempt.phone]
            )
            assert got.status_code == 200, (attempt.declaration_id, got.text)
            assert got.json()["id"] == attempt.declaration_id
        cut_off = load.unknown()
        for attempt in cut_off:  # what a phone does when it heard nothing: send it again
            await send(client, attempt, citizens[attempt.phone])
            assert attempt.status == 201, attempt

    second.stop()
    state = snapshot(database)
    keys = {a.key for a in load.attempts if a.status == 201}
    assert len(keys) == len(acknowledged) + len(cut_off)
    # Exactly one declaration per key that was ever acknowledged: none lost, none doubled.
    assert state["declarations"] == len(keys)
    assert state["idempotency"] == len(keys)
    # The reports count each person once a day (their latest declaration): once each.
    assert (
        state["counted"]
        == state["people"]
        == len({a.phone for a in load.attempts if a.status == 201})
    )
    stored_ids = {row[0] for row in read_rows(database, "SELECT id FROM declarations")}
    assert {a.declaration_id for a in load.attempts if a.status == 201} == stored_ids
