"""An admin registers an organisation again over a flaky link: with an Idempotency-Key the
retry gets the first answer and citizens see the organisation once; without a key every
request registers, as before."""

from __future__ import annotations

import asyncio

import httpx

from core.context import Context
from tests.checkpoints.helpers import staff_headers

_URL = "/v1/organisations"


async def _register(
    client: httpx.AsyncClient, admin: dict[str, str], key: str | None, name: str = "Công ty An"
) -> httpx.Response:
    headers = admin if key is None else {**admin, "Idempotency-Key": key}
    return await client.post(_URL, json={"name": name}, headers=headers)


async def _organisations(ctx: Context) -> int:
    return await ctx.store.count("organisations", {})


class TestWithAKey:
    async def test_a_retry_gets_the_first_answer_and_registers_once(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        admin = await staff_headers(ctx, "admin")
        first = await _register(client, admin, "org-1")
        again = await _register(client, admin, "org-1")
        assert (first.status_code, again.status_code) == (201, 201), again.text
        assert again.json() == first.json()
        assert "Idempotent-Replayed" not in first.headers
        assert again.headers["Idempotent-Replayed"] == "true"
        assert await _organisations(ctx) == 1

    async def test_the_same_key_with_another_name_is_409_and_registers_nothing(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        admin = await staff_headers(ctx, "admin")
        assert (await _register(client, admin, "org-1")).status_code == 201
        reused = await _register(client, admin, "org-1", name="Trường Tiểu học Bình Minh")
        assert reused.status_code == 409, reused.text
        assert reused.headers["content-type"] == "application/problem+json"
        assert reused.json()["code"] == "idempotency_key_reused"
        assert await _organisations(ctx) == 1

    async def test_retries_racing_their_first_request_register_one_organisation(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        admin = await staff_headers(ctx, "admin")
        answers = await asyncio.gather(*(_register(client, admin, "org-raced") for _ in range(4)))
        assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
        assert len({a.json()["id"] for a in answers}) == 1
        assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 3
        assert await _organisations(ctx) == 1


class TestWithoutAKey:
    async def test_every_request_registers_as_before(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        admin = await staff_headers(ctx, "admin")
        answers = [await _register(client, admin, None) for _ in range(2)]
        assert [a.status_code for a in answers] == [201, 201]
        assert answers[0].json()["id"] != answers[1].json()["id"]
        assert not [a for a in answers if "Idempotent-Replayed" in a.headers]
        assert await _organisations(ctx) == 2
