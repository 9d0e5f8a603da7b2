"""Revoking a person's live codes, and the list offline scanners sync from (checkpoint staff
only: tests/security/test_revocation_list_access.py)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from core.clock import utcnow
from core.context import Context
from qr.revocations import revoke_live_tokens
from tests.checkpoints.helpers import (
    change_status,
    create_person,
    person_token,
    unverified_parts,
)
from tests.conftest import sign_in_citizen, sign_in_staff


async def scanner(ctx: Context, client: httpx.AsyncClient) -> dict[str, str]:
    return await sign_in_staff(ctx, client, "checkpoint_staff", checkpoints=("cp_x",))


async def _revoke(ctx: Context, person_id: str) -> int:
    ops = await revoke_live_tokens(ctx.store, person_id, reason="status_worsened", now=utcnow())
    if ops:
        await ctx.store.write(ops)
    return len(ops)


class TestRevokeLiveTokens:
    async def test_every_live_code_of_the_person_is_revoked_and_listed(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        green = await person_token(client, citizen, person_id)
        await change_status(ctx, person_id, "yellow")
        yellow = await person_token(client, citizen, person_id)
        before = utcnow() - timedelta(seconds=1)

        assert await _revoke(ctx, person_id) > 0
        jtis = {unverified_parts(token)[1]["jti"] for token in (green, yellow)}
        for jti in jtis:
            record = await ctx.store.get("qr_tokens", jti)
            assert record is not None
            assert record["revoked_at"] is not None

        staff = await scanner(ctx, client)
        listed = await client.get(
            "/v1/revocations", params={"since": before.isoformat()}, headers=staff
        )
        assert listed.status_code == 200
        body = listed.json()
        assert {entry["jti"] for entry in body["revoked"]} == jtis
        assert set(body["revoked"][0]) == {"jti", "revoked_at"}  # ids only, nothing personal
        assert body["more"] is False

    async def test_nothing_left_to_revoke_the_second_time(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        await person_token(client, citizen, person_id)
        assert await _revoke(ctx, person_id) > 0
        assert await _revoke(ctx, person_id) == 0

    async def test_the_same_revocation_twice_in_one_batch_is_harmless(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        await person_token(client, citizen, person_id)
        now = utcnow()
        twice = [
            *await revoke_live_tokens(ctx.store, person_id, reason="a", now=now),
            *await revoke_live_tokens(ctx.store, person_id, reason="b", now=now),
        ]
        await ctx.store.write(twice)
        staff = await scanner(ctx, client)
        listed = await client.get("/v1/revocations", headers=staff)
        assert len(listed.json()["revoked"]) == 1

    async def test_a_revoked_code_is_replaced_on_the_next_fetch(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        first = await person_token(client, citizen, person_id)
        await _revoke(ctx, person_id)
        assert await person_token(client, citizen, person_id) != first


class TestRevocationList:
    async def test_since_filters_and_until_is_the_next_since(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        await person_token(client, citizen, person_id)
        await _revoke(ctx, person_id)
        staff = await scanner(ctx, client)
        everything = (await client.get("/v1/revocations", headers=staff)).json()
        assert len(everything["revoked"]) == 1
        later = (utcnow() + timedelta(minutes=1)).isoformat()
        assert (await client.get("/v1/revocations", params={"since": later}, headers=staff)).json()[
            "revoked"
        ] == []
        # `until` lags a little behind now, so the next sync overlaps instead of missing
        # a revocation that committed late: the entry comes again, which is harmless.
        until = everything["until"]
        again = (await client.get("/v1/revocations", params={"since": until}, headers=staff)).json()
        assert [e["jti"] for e in again["revoked"]] == [e["jti"] for e in everything["revoked"]]

    async def test_bad_since_is_a_422_problem(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        staff = await scanner(ctx, client)
        for since in ("yesterday", "2026-13-01T00:00:00Z", "2026-01-01T00:00:00", "1700000000"):
            response = await client.get("/v1/revocations", params={"since": since}, headers=staff)
            assert response.status_code == 422, since
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert problem["code"] == "validation_failed"
            assert problem["errors"][0]["field"].endswith("since")
            assert since not in response.text  # input is never echoed

    async def test_an_empty_list_for_a_scanner(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        staff = await scanner(ctx, client)
        response = await client.get(
            "/v1/revocations", params={"since": "2026-01-01T00:00:00Z"}, headers=staff
        )
        assert response.status_code == 200
        assert response.json()["revoked"] == []
