"""Abuse limits over the real application: guessing one-time codes, flooding from one
address, oversized bodies on every POST route, and pathological JSON. Each refusal is a
4xx problem+json with a stable code, never a 500, and a refused request stores nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.app import BODY_LIMITS, create_app
from core.context import Context
from core.settings import Settings
from tests.conftest import TEST_PHONES, make_settings, sign_in_citizen
from tests.security.cast import (
    ID_NUMBERS,
    PHONE_A,
    declaration_body,
    idempotency_key,
)
from tests.security.routes import served_routes

PROBLEM = "application/problem+json"
PHONE = "+84900000005"
RIGHT_CODE = TEST_PHONES[PHONE]
STORED_COLLECTIONS = ("declarations", "people", "idempotency", "checkpoints", "scans", "checkins")


def client_at(app: FastAPI, address: str) -> httpx.AsyncClient:
    """A client whose requests come from `address`, as the edge sees it."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def assert_refusal(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code
    assert problem["status"] == status
    return problem


async def stored(ctx: Context) -> dict[str, int]:
    return {name: await ctx.store.count(name, {}) for name in STORED_COLLECTIONS}


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


class TestOneTimeCodeGuessing:
    async def test_wrong_codes_from_many_addresses_kill_the_code_and_then_the_right_one_is_refused(
        self, running: FastAPI
    ) -> None:
        ctx: Context = running.state.context
        limit = ctx.settings.otp_attempts_per_code
        async with client_at(running, "198.51.100.7") as phone_owner:
            assert (
                await phone_owner.post("/v1/auth/otp", json={"phone": PHONE})
            ).status_code == 202
        answers = []
        # Each guess from another address: the code counts them all.
        for attempt in range(limit):
            async with client_at(running, f"203.0.113.{attempt + 1}") as guesser:
                wrong = f"{(attempt * 7919) % 1_000_000:06d}"
                answers.append(
                    await guesser.post("/v1/auth/token", json={"phone": PHONE, "otp": wrong})
                )
        for early in answers[:-1]:
            assert_refusal(early, 401, "invalid_credentials")
        locked = assert_refusal(answers[-1], 429, "code_locked")
        assert locked["detail"].endswith("Request a new code.")
        async with client_at(running, "198.51.100.7") as phone_owner:
            right = await phone_owner.post(
                "/v1/auth/token", json={"phone": PHONE, "otp": RIGHT_CODE}
            )
            assert_refusal(right, 429, "code_locked")
            assert "access_token" not in right.text
            # What the lock says is what happens: a new code signs in.
            assert (
                await phone_owner.post("/v1/auth/otp", json={"phone": PHONE})
            ).status_code == 202
            again = await phone_owner.post(
                "/v1/auth/token", json={"phone": PHONE, "otp": RIGHT_CODE}
            )
        assert again.status_code == 200, again.text

    async def test_one_address_is_stopped_after_its_wrong_codes_however_many_it_asks_for(
        self, running: FastAPI
    ) -> None:
        """An attacker at one address, asking for a new code whenever it can, gets at most
        `otp_max_attempts` guesses an hour at one phone; then even the right code is
        refused from there."""
        ctx: Context = running.state.context
        settings = ctx.settings
        judged = 0
        refused: list[httpx.Response] = []
        async with client_at(running, "203.0.113.50") as attacker:
            for _ in range(settings.otp_per_phone_per_hour):
                await attacker.post("/v1/auth/otp", json={"phone": PHONE})
                for guess in range(settings.otp_max_attempts + 2):
                    answer = await attacker.post(
                        "/v1/auth/token", json={"phone": PHONE, "otp": f"{guess:06d}"}
                    )
                    if answer.status_code == 429:
                        refused.append(answer)
                        break
                    assert_refusal(answer, 401, "invalid_credentials")
                    judged += 1
            right = await attacker.post("/v1/auth/token", json={"phone": PHONE, "otp": RIGHT_CODE})
        # The guess that reaches the limit is judged and refused with the wait.
        assert judged + 1 == settings.otp_max_attempts
        for answer in [*refused, right]:
            assert_refusal(answer, 429, "rate_limited")
            assert 0 < int(answer.headers["retry-after"]) <= 3601

    async def test_many_addresses_get_no_more_than_codes_per_hour_times_guesses_per_code(
        self, running: FastAPI
    ) -> None:
        """Addresses without number, each asking for codes and guessing until refused:
        every guess at a phone's codes is counted on each of them, so the guesses judged
        in an hour stay under `otp_per_phone_per_hour × otp_attempts_per_code`."""
        ctx: Context = running.state.context
        settings = ctx.settings
        bound = settings.otp_per_phone_per_hour * settings.otp_attempts_per_code
        judged = 0
        addresses = bound // (settings.otp_max_attempts - 1) + settings.otp_per_phone_per_hour + 5
        for n in range(addresses):
            async with client_at(running, f"10.1.{n // 250}.{n % 250 + 1}") as attacker:
                await attacker.post("/v1/auth/otp", json={"phone": PHONE})
                for guess in range(settings.otp_max_attempts):
                    answer = await attacker.post(
                        "/v1/auth/token", json={"phone": PHONE, "otp": f"{n:03d}{guess:03d}"}
                    )
                    if answer.status_code != 401:
                        break
                    judged += 1
        assert 0 < judged <= bound
        # And the phone's codes are spent for the hour: asking is refused.
        async with client_at(running, "10.9.9.9") as late:
            asked = await late.post("/v1/auth/otp", json={"phone": PHONE})
        assert_refusal(asked, 429, "rate_limited")

    async def test_codes_still_lock_when_the_shared_rate_limiter_is_down(
        self, database_url: str
    ) -> None:
        """With Redis unreachable the request limits let traffic through (availability
        first), but wrong codes are counted on the code in the database and still kill it."""
        app = create_app(make_settings(database_url, redis_url="redis://127.0.0.1:1/0"))
        async with app.router.lifespan_context(app):
            ctx: Context = app.state.context
            async with client_at(app, "203.0.113.60") as attacker:
                assert (
                    await attacker.post("/v1/auth/otp", json={"phone": PHONE})
                ).status_code == 202
                for _ in range(ctx.settings.otp_attempts_per_code):
                    await attacker.post("/v1/auth/token", json={"phone": PHONE, "otp": "000000"})
                right = await attacker.post(
                    "/v1/auth/token", json={"phone": PHONE, "otp": RIGHT_CODE}
                )
        assert_refusal(right, 429, "code_locked")


class TestAStrangerCannotLockTheOwnerOut:
    """The reported attack: from one address, ask for codes and fail codes as often as the
    service lets you. The owner, at another address, still asks for a code and signs in
    with it, and hears what they hear in their own language."""

    async def test_the_owner_signs_in_after_a_stranger_did_all_they_could(
        self, running: FastAPI
    ) -> None:
        ctx: Context = running.state.context
        settings = ctx.settings
        async with client_at(running, "203.0.113.66") as stranger:
            asked = [
                await stranger.post("/v1/auth/otp", json={"phone": PHONE})
                for _ in range(settings.otp_per_phone_per_hour)
            ]
            failed = [
                await stranger.post("/v1/auth/token", json={"phone": PHONE, "otp": "000000"})
                for _ in range(settings.otp_attempts_per_code)
            ]
        sent = settings.otp_per_phone_per_address_per_hour
        assert [a.status_code for a in asked] == [202] * sent + [429] * (
            settings.otp_per_phone_per_hour - sent
        )
        assert {f.status_code for f in failed[settings.otp_max_attempts - 1 :]} == {429}

        async with client_at(running, "198.51.100.8") as owner:
            vi = {"Accept-Language": "vi"}
            own = await owner.post("/v1/auth/otp", json={"phone": PHONE}, headers=vi)
            typo = await owner.post(
                "/v1/auth/token", json={"phone": PHONE, "otp": "999999"}, headers=vi
            )
            signed_in = await owner.post(
                "/v1/auth/token", json={"phone": PHONE, "otp": RIGHT_CODE}, headers=vi
            )
        assert own.status_code == 202, own.text
        assert_refusal(typo, 401, "invalid_credentials")
        assert typo.json()["title"] == "Thông tin đăng nhập không đúng"
        assert signed_in.status_code == 200, signed_in.text
        assert "access_token" in signed_in.json()

    async def test_the_strangers_refusal_is_theirs_alone_and_says_the_wait_in_their_language(
        self, running: FastAPI
    ) -> None:
        ctx: Context = running.state.context
        async with client_at(running, "198.51.100.9") as owner:
            assert (await owner.post("/v1/auth/otp", json={"phone": PHONE})).status_code == 202
        async with client_at(running, "203.0.113.67") as stranger:
            for _ in range(ctx.settings.otp_max_attempts):
                await stranger.post("/v1/auth/token", json={"phone": PHONE, "otp": "000000"})
            refused = await stranger.post(
                "/v1/auth/token",
                json={"phone": PHONE, "otp": "000000"},
                headers={"Accept-Language": "fr"},
            )
        problem = assert_refusal(refused, 429, "rate_limited")
        assert problem["detail"].startswith("Réessayez")
        async with client_at(running, "198.51.100.9") as owner:
            signed_in = await owner.post("/v1/auth/token", json={"phone": PHONE, "otp": RIGHT_CODE})
        assert signed_in.status_code == 200, signed_in.text


class TestFloods:
    async def test_one_address_flooding_declarations_gets_429_and_nothing_more_is_stored(
        self, database_url: str, fresh_minute: None
    ) -> None:
        app = create_app(make_settings(database_url, requests_per_address_per_minute=12))
        async with app.router.lifespan_context(app):
            ctx: Context = app.state.context
            async with client_at(app, "198.51.100.20") as phone:
                citizen = await sign_in_citizen(phone, PHONE_A)
            body = declaration_body(PHONE_A, ID_NUMBERS[PHONE_A])
            answers = []
            async with client_at(app, "203.0.113.99") as flooder:
                for _ in range(20):
                    answers.append(
                        await flooder.post(
                            "/v1/declarations",
                            json=body,
                            headers={**citizen, "Idempotency-Key": idempotency_key()},
                        )
                    )
                health = await flooder.get("/healthz")
            async with client_at(app, "203.0.113.100") as neighbour:
                theirs = await neighbour.get("/v1/people", headers=citizen)
            declarations = await ctx.store.count("declarations", {})
        codes = [a.status_code for a in answers]
        assert codes[:12] == [201] * 12
        assert set(codes[12:]) == {429}
        for refused in answers[12:]:
            assert_refusal(refused, 429, "rate_limited")
            assert int(refused.headers["retry-after"]) >= 1
        assert declarations == 12  # a 429 stores nothing
        assert health.status_code == 200  # probes are never limited
        assert theirs.status_code == 200  # another address is not affected

    async def test_sign_in_floods_from_one_address_are_limited_per_address(
        self, database_url: str
    ) -> None:
        settings = make_settings(database_url, otp_per_address_per_hour=3)
        app = create_app(settings)
        async with app.router.lifespan_context(app), client_at(app, "203.0.113.77") as flooder:
            answers = [
                await flooder.post("/v1/auth/otp", json={"phone": f"+8490000000{n}"})
                for n in range(1, 6)
            ]
        assert [a.status_code for a in answers[:3]] == [202] * 3
        for refused in answers[3:]:
            assert_refusal(refused, 429, "rate_limited")


def _post_routes(settings: Settings) -> list[str]:
    return sorted(path for method, path in served_routes(create_app(settings)) if method == "POST")


class TestOversizedBodies:
    async def test_every_post_route_refuses_a_body_over_its_limit(
        self, running: FastAPI, settings: Settings
    ) -> None:
        ctx: Context = running.state.context
        before = await stored(ctx)
        routes = _post_routes(settings)
        assert "/v1/declarations" in routes  # the list really is the app's
        async with client_at(running, "198.51.100.30") as client:
            citizen = await sign_in_citizen(client, PHONE_A)
            for template in routes:
                path = template.replace("{checkpoint_id}", "cp_anything")
                limit = BODY_LIMITS.get(path, settings.max_body_bytes)
                big = b'{"x": "' + b"a" * (limit + 1) + b'"}'
                declared = await client.post(
                    path, content=big, headers={**citizen, "Content-Type": "application/json"}
                )
                assert_refusal(declared, 413, "payload_too_large")

                async def chunks(size: int = limit) -> AsyncIterator[bytes]:
                    sent = 0
                    while sent <= size:
                        yield b" " * 8192
                        sent += 8192

                streamed = await client.post(
                    path,
                    content=chunks(),
                    headers={**citizen, "Content-Type": "application/json"},
                )
                assert_refusal(streamed, 413, "payload_too_large")
        assert await stored(ctx) == before

    async def test_a_body_just_under_the_limit_is_read_and_judged(self, running: FastAPI) -> None:
        """The limit is the limit: a large but allowed body reaches validation (422)."""
        ctx: Context = running.state.context
        async with client_at(running, "198.51.100.31") as client:
            citizen = await sign_in_citizen(client, PHONE_A)
            body = declaration_body(PHONE_A, ID_NUMBERS[PHONE_A])
            body["person"]["full_name"] = "A" * (ctx.settings.max_body_bytes - 2000)
            response = await client.post(
                "/v1/declarations",
                json=body,
                headers={**citizen, "Idempotency-Key": idempotency_key()},
            )
        assert_refusal(response, 422, "validation_failed")


NESTED_BODIES = {
    # (path, body): every one fits the path's body limit.
    "100k_closed_arrays_in_the_batch": (
        "/v1/declarations/batch",
        b"[" * 100_000 + b"]" * 100_000,
    ),
    "60k_open_arrays": ("/v1/declarations", b"[" * 60_000),
    "30k_closed_arrays": ("/v1/declarations", b"[" * 30_000 + b"]" * 30_000),
    "10k_nested_objects": ("/v1/declarations", b'{"a":' * 10_000 + b"1" + b"}" * 10_000),
    "nested_inside_a_field": (
        "/v1/declarations",
        b'{"person": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
    ),
    "nested_inside_a_batch_item": (
        "/v1/declarations/batch",
        b'{"items": [{"idempotency_key": "k1", "declaration": {"person": '
        + b"[" * 200_000
        + b"]" * 200_000
        + b"}}]}",
    ),
    "moderately_nested_inside_a_batch_item": (
        "/v1/declarations/batch",
        b'{"items": [{"idempotency_key": "k1", "declaration": {"person": '
        + b'{"a":' * 900
        + b"1"
        + b"}" * 900
        + b"}}]}",
    ),
    "nested_sign_in": ("/v1/auth/token", b'{"phone": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"),
    "nested_scan_token": (
        "/v1/checkpoints/cp_x/scans",
        b'{"token": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
    ),
}


class TestPathologicalJson:
    @pytest.mark.parametrize("name", sorted(NESTED_BODIES))
    async def test_deep_nesting_is_refused_with_a_4xx(self, running: FastAPI, name: str) -> None:
        ctx: Context = running.state.context
        path, body = NESTED_BODIES[name]
        assert len(body) <= BODY_LIMITS.get(path, ctx.settings.max_body_bytes)
        before = await stored(ctx)
        async with client_at(running, "198.51.100.40") as client:
            citizen = await sign_in_citizen(client, PHONE_A)
            response = await client.post(
                path,
                content=body,
                headers={
                    **citizen,
                    "Content-Type": "application/json",
                    "Idempotency-Key": idempotency_key(),
                },
            )
        if response.status_code == 200 and path == "/v1/declarations/batch":
            [item] = response.json()["results"]  # the batch answers each item on its own
            assert 400 <= item["status_code"] < 500
            assert item["error"]["code"]
        else:
            assert 400 <= response.status_code < 500, response.text[:300]
            assert response.headers["content-type"] == PROBLEM
            assert response.json()["code"] in ("malformed_body", "validation_failed")
        assert await stored(ctx) == before

    @pytest.mark.parametrize(
        "body",
        [
            b"\xff\xfe\x00{",
            b'{"phone": "\xed\xa0\x80"}',  # a lone surrogate, in UTF-8
            b'{"phone": "+84900000001", "phone": {"$gt": ""}}',
            b"NaN",
            b'{"phone": 1e999999}',
            b'{"phone": "' + b"\\u0000" * 1000 + b'"}',
        ],
    )
    async def test_malformed_or_hostile_json_is_a_4xx(self, running: FastAPI, body: bytes) -> None:
        async with client_at(running, "198.51.100.41") as client:
            response = await client.post(
                "/v1/auth/otp", content=body, headers={"Content-Type": "application/json"}
            )
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["code"] in ("malformed_body", "validation_failed")
