"""Signing in: citizens by phone and one-time code, staff by username and password, and
the guards around both (attempt counting, rate limits, production safety)."""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from accounts.service import phone_hash
from api.app import create_app
from core.context import Context
from core.settings import Settings
from tests.conftest import STAFF_PASSWORD, TEST_PHONES, make_settings, sign_in_staff

PHONE = "+84900000003"
CODE = TEST_PHONES[PHONE]


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code
    return problem


class TestCitizenSignIn:
    async def test_code_then_tokens_then_a_single_use_refresh(
        self, client: httpx.AsyncClient
    ) -> None:
        sent = await client.post("/v1/auth/otp", json={"phone": "0900 000 003"})
        assert sent.status_code == 202
        assert sent.json()["expires_in"] == 300

        signed_in = await client.post("/v1/auth/token", json={"phone": PHONE, "otp": CODE})
        assert signed_in.status_code == 200, signed_in.text
        tokens = signed_in.json()
        assert tokens["token_type"] == "bearer"
        assert tokens["expires_in"] == 15 * 60
        people = await client.get(
            "/v1/people", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert people.status_code == 200

        refreshed = await client.post(
            "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 200
        assert refreshed.json()["refresh_token"] != tokens["refresh_token"]

        newest = await client.post(
            "/v1/auth/refresh", json={"refresh_token": refreshed.json()["refresh_token"]}
        )
        assert newest.status_code == 200
        reused = await client.post(
            "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert_problem(reused, 401, "refresh_token_reused")

    async def test_a_code_works_once(self, client: httpx.AsyncClient) -> None:
        await client.post("/v1/auth/otp", json={"phone": PHONE})
        first = await client.post("/v1/auth/token", json={"phone": PHONE, "otp": CODE})
        assert first.status_code == 200
        again = await client.post("/v1/auth/token", json={"phone": PHONE, "otp": CODE})
        assert_problem(again, 401, "invalid_credentials")

    async def test_the_same_phone_is_the_same_account(self, client: httpx.AsyncClient) -> None:
        subjects = set()
        for _ in range(2):
            await client.post("/v1/auth/otp", json={"phone": PHONE})
            token = await client.post("/v1/auth/token", json={"phone": PHONE, "otp": CODE})
            access = token.json()["access_token"]
            subjects.add(jwt.decode(access, options={"verify_signature": False})["sub"])
        assert len(subjects) == 1

    async def test_without_a_requested_code_nothing_signs_in(
        self, client: httpx.AsyncClient
    ) -> None:
        answer = await client.post("/v1/auth/token", json={"phone": PHONE, "otp": CODE})
        assert_problem(answer, 401, "invalid_credentials")

    async def test_an_invalid_phone_is_named(self, client: httpx.AsyncClient) -> None:
        answer = await client.post("/v1/auth/otp", json={"phone": "+8412"})
        problem = assert_problem(answer, 422, "validation_failed")
        assert [e["field"] for e in problem["errors"]] == ["phone"]


class TestWrongCodes:
    async def test_wrong_codes_are_counted_on_the_code_and_then_stop_this_address(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        await client.post("/v1/auth/otp", json={"phone": PHONE})
        limit = ctx.settings.otp_max_attempts
        for attempt in range(1, limit):
            wrong = await client.post("/v1/auth/token", json={"phone": PHONE, "otp": "000000"})
            assert_problem(wrong, 401, "invalid_credentials")
            stored = await ctx.store.get("otps", phone_hash(ctx, PHONE))
            assert stored is not None
            assert [code["wrong"] for code in stored["codes"]] == [attempt]

        locking = await client.post("/v1/auth/token", json={"phone": PHONE, "otp": "000000"})
        assert_problem(locking, 429, "rate_limited")
        assert 0 < int(locking.headers["retry-after"]) <= 3601

        # Stopped here for the hour: not even the right code gets in from this address,
        # said with the wait in the caller's language.
        answers = {
            lang: await client.post(
                "/v1/auth/token",
                json={"phone": PHONE, "otp": CODE},
                headers={"Accept-Language": lang},
            )
            for lang in ("en", "vi")
        }
        for lang, right in answers.items():
            problem = assert_problem(right, 429, "rate_limited")
            wait = int(right.headers["retry-after"])
            assert problem["detail"] == said_wait(wait)[lang == "vi"], wait

    async def test_another_address_signs_in_with_the_same_code(
        self, app: FastAPI, ctx: Context
    ) -> None:
        """The owner's code outlives a stranger's wrong guesses: they stop the stranger."""
        async with at(app, "198.51.100.1") as owner:
            assert (await owner.post("/v1/auth/otp", json={"phone": PHONE})).status_code == 202
        async with at(app, "203.0.113.1") as stranger:
            for _ in range(ctx.settings.otp_max_attempts + 3):
                await stranger.post("/v1/auth/token", json={"phone": PHONE, "otp": "000000"})
        async with at(app, "198.51.100.1") as owner:
            signed_in = await owner.post("/v1/auth/token", json={"phone": PHONE, "otp": CODE})
        assert signed_in.status_code == 200, signed_in.text

    async def test_a_dead_code_says_request_a_new_one_and_a_new_one_signs_in(
        self, app: FastAPI, ctx: Context
    ) -> None:
        """A code dies after `otp_attempts_per_code` wrong codes from every address
        together; what its refusal says is what happens: the next code works at once."""
        async with at(app, "198.51.100.2") as owner:
            await owner.post("/v1/auth/otp", json={"phone": PHONE})
        for n in range(ctx.settings.otp_attempts_per_code):
            async with at(app, f"203.0.113.{n + 10}") as guesser:
                await guesser.post("/v1/auth/token", json={"phone": PHONE, "otp": "000000"})
        async with at(app, "198.51.100.2") as owner:
            answers = {
                lang: await owner.post(
                    "/v1/auth/token",
                    json={"phone": PHONE, "otp": CODE},
                    headers={"Accept-Language": lang},
                )
                for lang in ("en", "vi", "fr")
            }
            for dead in answers.values():
                assert "retry-after" not in dead.headers  # waiting does not revive it
            assert assert_problem(answers["en"], 429, "code_locked")["detail"] == (
                "This code is locked after too many wrong tries. Request a new code."
            )
            assert assert_problem(answers["vi"], 429, "code_locked")["detail"] == (
                "Mã này đã bị khóa do nhập sai quá nhiều lần. Vui lòng yêu cầu mã mới."
            )
            assert assert_problem(answers["fr"], 429, "code_locked")["detail"] == (
                "Ce code est bloqué après trop d'essais erronés. Demandez un nouveau code."
            )
            assert (await owner.post("/v1/auth/otp", json={"phone": PHONE})).status_code == 202
            signed_in = await owner.post("/v1/auth/token", json={"phone": PHONE, "otp": CODE})
        assert signed_in.status_code == 200, signed_in.text


def at(app: FastAPI, address: str) -> httpx.AsyncClient:
    """A client whose requests come from `address`, as the edge sees it."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture(params=["database", "redis"])
async def limited_client(request: pytest.FixtureRequest, database_url: str) -> Any:
    """The per-phone limit counted in the database (no Redis) and in the real Redis. A fresh
    secret per test keys the buckets apart, so runs do not share Redis counters."""
    overrides: dict[str, Any] = {"secret_key": secrets.token_urlsafe(32)}
    if request.param == "redis":
        overrides["redis_url"] = os.environ.get(
            "KHAIBAO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"
        )
    app = create_app(make_settings(database_url, **overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client, app.state.context


class TestRateLimits:
    async def test_codes_per_phone_are_limited(self, limited_client: Any) -> None:
        """From one address, per phone; the phone-wide limit is higher (see
        tests/security/test_abuse.py::TestAStrangerCannotLockTheOwnerOut)."""
        client, ctx = limited_client
        allowed = ctx.settings.otp_per_phone_per_address_per_hour
        for _ in range(allowed):
            assert (await client.post("/v1/auth/otp", json={"phone": PHONE})).status_code == 202
        refused = await client.post("/v1/auth/otp", json={"phone": PHONE})
        assert_problem(refused, 429, "rate_limited")
        assert 0 < int(refused.headers["retry-after"]) <= 3601
        # Another phone is not affected.
        other = await client.post("/v1/auth/otp", json={"phone": "+84900000004"})
        assert other.status_code == 202


def said_wait(seconds: int) -> tuple[str, str]:
    """What a generic 429 says for a wait, in English and Vietnamese: a moment under a
    minute, else whole minutes rounded up (a whole hour, or 90 minutes and more: hours)."""
    if seconds < 60:
        return "Wait a moment and try again.", "Vui lòng đợi một lát rồi thử lại."
    minutes = math.ceil(seconds / 60)
    if minutes == 60:
        return "Try again in 1 hour.", "Vui lòng thử lại sau 1 giờ."
    unit = "minute" if minutes == 1 else "minutes"
    return f"Try again in {minutes} {unit}.", f"Vui lòng thử lại sau {minutes} phút."


class TestTheWaitIsSaid:
    async def test_a_refused_code_request_says_how_long_in_the_callers_language(
        self, limited_client: Any
    ) -> None:
        client, ctx = limited_client
        for _ in range(ctx.settings.otp_per_phone_per_address_per_hour):
            assert (await client.post("/v1/auth/otp", json={"phone": PHONE})).status_code == 202
        answers = {
            lang: await client.post(
                "/v1/auth/otp", json={"phone": PHONE}, headers={"Accept-Language": lang}
            )
            for lang in ("en", "vi")
        }
        for lang, refused in answers.items():
            problem = assert_problem(refused, 429, "rate_limited")
            wait = int(refused.headers["retry-after"])
            assert problem["detail"] == said_wait(wait)[lang == "vi"], wait


class TestProductionSafety:
    def test_test_codes_refused_in_production(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("KHAIBAO_ENV", "production")
        monkeypatch.setenv("KHAIBAO_SECRET_KEY", secrets.token_urlsafe(48))
        monkeypatch.setenv("KHAIBAO_DATA_KEY", "cHJvZHVjdGlvbi1kYXRhLWtleS0zMi1ieXRlcy1vayE=")
        monkeypatch.setenv("KHAIBAO_NOTIFY_WEBHOOK_SECRET", secrets.token_urlsafe(32))
        monkeypatch.setenv("KHAIBAO_REDIS_URL", "redis://127.0.0.1:6379/0")
        monkeypatch.setenv("KHAIBAO_TEST_OTP", "+84900000001:123456")
        with pytest.raises(ValidationError, match="KHAIBAO_TEST_OTP must not be set in production"):
            Settings()

        monkeypatch.delenv("KHAIBAO_TEST_OTP")
        assert Settings().env == "production"

    def test_operator_commands_refuse_to_run(self, database_url: str) -> None:
        env = _clean_env(database_url)
        env.update(KHAIBAO_ENV="production", KHAIBAO_TEST_OTP="+84900000001:123456")
        started = khaibao(
            "users",
            "create",
            "--role",
            "admin",
            "--username",
            "root",
            stdin="a long enough password\n",
            env=env,
        )
        assert started.returncode != 0
        assert "KHAIBAO_TEST_OTP must not be set in production" in started.stderr


class TestStaffSignIn:
    async def test_password_sign_in(self, client: httpx.AsyncClient, ctx: Context) -> None:
        headers = await sign_in_staff(ctx, client, "analyst", username="an.analyst")
        assert headers["Authorization"].startswith("Bearer ")
        wrong = await client.post(
            "/v1/auth/token", json={"username": "an.analyst", "password": "not the password"}
        )
        assert_problem(wrong, 401, "invalid_credentials")
        unknown = await client.post(
            "/v1/auth/token", json={"username": "nobody", "password": STAFF_PASSWORD}
        )
        assert_problem(unknown, 401, "invalid_credentials")

    async def test_staff_cannot_use_citizen_endpoints(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        headers = await sign_in_staff(ctx, client, "health_officer")
        assert_problem(await client.get("/v1/people", headers=headers), 403, "forbidden")

    async def test_mixing_both_ways_is_invalid(self, client: httpx.AsyncClient) -> None:
        answer = await client.post(
            "/v1/auth/token",
            json={"phone": PHONE, "otp": CODE, "username": "u", "password": "p"},
        )
        assert_problem(answer, 422, "validation_failed")


def khaibao(*args: str, stdin: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the installed `khaibao` command as an operator would."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "khaibao"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def _clean_env(database_url: str) -> dict[str, str]:
    """The operator's environment: the test's database (either adapter), nothing else set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KHAIBAO_")}
    env["KHAIBAO_DATABASE_URL"] = database_url
    env["KHAIBAO_ENV"] = "test"
    return env


class TestUsersCreateCommand:
    async def test_created_user_signs_in_over_http(self, database_url: str) -> None:
        env = _clean_env(database_url)
        created = await asyncio.to_thread(
            khaibao,
            "users",
            "create",
            "--role",
            "analyst",
            "--username",
            "u",
            stdin=f"{STAFF_PASSWORD}\n",
            env=env,
        )
        assert created.returncode == 0, created.stderr
        assert created.stdout.strip().startswith("usr_")

        app = create_app(make_settings(env["KHAIBAO_DATABASE_URL"]))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                token = await client.post(
                    "/v1/auth/token", json={"username": "u", "password": STAFF_PASSWORD}
                )
                assert token.status_code == 200, token.text
                assert token.json()["role"] == "analyst"

    def test_a_short_password_is_refused(self, database_url: str) -> None:
        created = khaibao(
            "users",
            "create",
            "--role",
            "admin",
            "--username",
            "root",
            stdin="short\n",
            env=_clean_env(database_url),
        )
        assert created.returncode == 1
        assert "at least 10 characters" in created.stderr
