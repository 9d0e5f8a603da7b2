"""An admin on a flaky link registers a venue again: with an Idempotency-Key the retry gets
the first answer, so the venue has one id and one poster (tracing groups check-ins by
checkpoint: two would split them); without a key every request registers, as before."""

from __future__ import annotations

import asyncio

import httpx

from core.context import Context
from tests.checkpoints.helpers import ADMIN_CHECKPOINT, staff_headers


async def _register(
    client: httpx.AsyncClient, admin: dict[str, str], key: str | None, **fields: object
) -> httpx.Response:
    headers = admin if key is None else {**admin, "Idempotency-Key": key}
    return await client.post(
        "/v1/checkpoints", json={**ADMIN_CHECKPOINT, **fields}, headers=headers
    )


async def _checkpoints(ctx: Context) -> int:
    return await ctx.store.count("checkpoints", {})


class TestWithAKey:
    async def test_a_retry_gets_the_first_answer_and_registers_once(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        admin = await staff_headers(ctx, "admin")
        first = await _register(client, admin, "venue-1")
        again = await _register(client, admin, "venue-1")
        assert (first.status_code, again.status_code) == (201, 201), again.text
        assert again.json() == first.json()  # the same id and the same poster
        assert "Idempotent-Replayed" not in first.headers
        assert again.headers["Idempotent-Replayed"] == "true"
        assert await _checkpoints(ctx) == 1
        # The poster the retry handed out is the venue's own.
        poster = await client.get(
            f"/v1/checkpoints/{first.json()['id']}/qr", params={"format": "json"}, headers=admin
        )
        assert poster.json()["venue_token"] == again.json()["venue_token"]
        # A new key is a new venue.
        anew = await _register(client, admin, "venue-2")
        assert anew.status_code == 201
        assert anew.json()["id"] != first.json()["id"]
        assert await _checkpoints(ctx) == 2

    async def test_the_same_key_with_another_venue_is_409_and_registers_nothing(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        admin = await staff_headers(ctx, "admin")
        assert (await _register(client, admin, "venue-1")).status_code == 201
        reused = await _register(client, admin, "venue-1", name="Chợ Đồng Xuân", kind="market")
        assert reused.status_code == 409, reused.text
        assert reused.headers["content-type"] == "application/problem+json"
        assert reused.json()["code"] == "idempotency_key_reused"
        assert await _checkpoints(ctx) == 1

    async def test_a_key_is_the_admins_own(self, ctx: Context, client: httpx.AsyncClient) -> None:
        first = await _register(client, await staff_headers(ctx, "admin"), "venue-1")
        other = await _register(client, await staff_headers(ctx, "admin"), "venue-1")
        assert (first.status_code, other.status_code) == (201, 201)
        assert "Idempotent-Replayed" not in other.headers
        assert other.json()["id"] != first.json()["id"]

    async def test_retries_racing_their_first_request_register_one_venue(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        admin = await staff_headers(ctx, "admin")
        answers = await asyncio.gather(*(_register(client, admin, "venue-raced") for _ in range(4)))
        assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
        assert len({a.json()["id"] for a in answers}) == 1
        assert len({a.json()["venue_token"] for a in answers}) == 1
        assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 3
        assert await _checkpoints(ctx) == 1

    async def test_a_key_of_another_shape_is_422(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        admin = await staff_headers(ctx, "admin")
        refused = await _register(client, admin, "not a key!")
        assert refused.status_code == 422
        assert await _checkpoints(ctx) == 0


class TestWithoutAKey:
    async def test_every_request_registers_a_venue_as_before(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        admin = await staff_headers(ctx, "admin")
        answers = [await _register(client, admin, None) for _ in range(2)]
        assert [a.status_code for a in answers] == [201, 201]
        assert answers[0].json()["id"] != answers[1].json()["id"]
        assert not [a for a in answers if "Idempotent-Replayed" in a.headers]
        assert await _checkpoints(ctx) == 2
