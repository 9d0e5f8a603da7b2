"""Wrong staff passwords: limited per user name and per client address, counted in the
shared rate limiter (the SQLite side file, the main store, or Redis). A reviewer sent 60
wrong passwords for an analyst in ten seconds and got 60 × 401, and the right password
still worked: now the try that reaches the limit and every later one are 429
`sign_in_locked` with Retry-After until the window ends, the right password too, and an
unknown user name is answered the same way."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from accounts import staff
from api.app import create_app
from core.context import Context
from tests.conftest import STAFF_PASSWORD, TEST_ADMIN, make_settings

# Each test counts wrong passwords in one window (tests/accounts/conftest.py).
pytestmark = pytest.mark.usefixtures("fresh_sign_in_window")

WRONG = "not the password at all"


async def sign_in(
    client: httpx.AsyncClient, username: str, password: str, *, lang: str = "en"
) -> httpx.Response:
    return await client.post(
        "/v1/auth/token",
        json={"username": username, "password": password},
        headers={"Accept-Language": lang},
    )


def locked(answer: httpx.Response, window_minutes: int = 15) -> dict[str, Any]:
    assert answer.status_code == 429, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert 0 < int(answer.headers["retry-after"]) <= 60 * window_minutes + 1
    problem: dict[str, Any] = answer.json()
    assert problem["code"] == "sign_in_locked"
    return problem


@pytest.fixture(params=["database", "redis"])
async def limited(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[Any]:
    """Counted without Redis (side file or main store) and in the real Redis; a fresh secret
    keys the buckets apart, so runs do not share Redis counters."""
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


class TestWrongPasswordsLockTheUserName:
    async def test_the_fifth_wrong_password_locks_and_then_even_the_right_one_is_refused(
        self, limited: Any
    ) -> None:
        client, ctx = limited
        user_id = await staff.create_staff(
            ctx, username="an.analyst", password=STAFF_PASSWORD, role="analyst", by=TEST_ADMIN
        )
        limit = ctx.settings.staff_sign_in_failures_per_account
        for _ in range(limit - 1):
            assert (await sign_in(client, "an.analyst", WRONG)).status_code == 401
        locked(await sign_in(client, "an.analyst", WRONG))
        problem = locked(await sign_in(client, "an.analyst", STAFF_PASSWORD, lang="vi"))
        assert problem["detail"].startswith("Nhập sai mật khẩu quá nhiều lần")

        [entry] = await ctx.store.find("audit_log", {"action": "staff.sign_in.locked"})
        assert entry["target"] == user_id
        assert entry["params"] == {"limits": ["account"]}
        assert WRONG not in repr(entry)
        assert STAFF_PASSWORD not in repr(entry)

        # Another account from the same address is not locked by this one.
        await staff.create_staff(
            ctx, username="colleague", password=STAFF_PASSWORD, role="analyst", by=TEST_ADMIN
        )
        assert (await sign_in(client, "colleague", STAFF_PASSWORD)).status_code == 200

    async def test_an_unknown_user_name_is_answered_exactly_as_a_known_one(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        user_id = await staff.create_staff(
            ctx, username="real", password=STAFF_PASSWORD, role="analyst", by=TEST_ADMIN
        )
        limit = ctx.settings.staff_sign_in_failures_per_account
        answers: dict[str, list[tuple[int, str]]] = {}
        for username in ("real", "nobody"):
            tries = [await sign_in(client, username, WRONG) for _ in range(limit + 1)]
            answers[username] = [(a.status_code, a.json()["code"]) for a in tries]
        assert answers["real"] == answers["nobody"]
        assert answers["nobody"][-2:] == [(429, "sign_in_locked")] * 2
        entries = await ctx.store.find("audit_log", {"action": "staff.sign_in.locked"})
        # Audited both times: the account by its id, the unknown name by nothing typed.
        assert sorted(str(e.get("target")) for e in entries) == sorted([user_id, "None"])
        assert all("nobody" not in repr(e) for e in entries)

    async def test_right_passwords_do_not_count(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        await staff.create_staff(
            ctx, username="busy", password=STAFF_PASSWORD, role="analyst", by=TEST_ADMIN
        )
        limit = ctx.settings.staff_sign_in_failures_per_account
        for _ in range(2 * limit):
            assert (await sign_in(client, "busy", STAFF_PASSWORD)).status_code == 200
        assert (await sign_in(client, "busy", WRONG)).status_code == 401

    async def test_sixty_wrong_passwords_sent_at_once_are_judged_no_more_than_the_limit(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        await staff.create_staff(
            ctx, username="target", password=STAFF_PASSWORD, role="analyst", by=TEST_ADMIN
        )
        limit = ctx.settings.staff_sign_in_failures_per_account
        answers = await asyncio.gather(*(sign_in(client, "target", WRONG) for _ in range(60)))
        statuses = [answer.status_code for answer in answers]
        assert statuses.count(401) == limit - 1, statuses
        assert statuses.count(429) == 60 - (limit - 1), statuses
        locked(await sign_in(client, "target", STAFF_PASSWORD))


class TestAnAdministratorLiftsTheLock:
    """The lock-out says "ask an administrator to reset the password": the reset (what
    `khaibao users reset-password` runs) and enabling the account lift it, in every place
    the counts live (side file or main store, and Redis)."""

    async def test_a_password_reset_lifts_the_lock_of_that_user_name(self, limited: Any) -> None:
        client, ctx = limited
        for username in ("locked.out", "bystander"):
            await staff.create_staff(
                ctx, username=username, password=STAFF_PASSWORD, role="analyst", by=TEST_ADMIN
            )
        limit = ctx.settings.staff_sign_in_failures_per_account
        for username in ("locked.out", "bystander"):
            for _ in range(limit):
                await sign_in(client, username, WRONG)
            locked(await sign_in(client, username, STAFF_PASSWORD))

        new_password = "a brand new passphrase"
        await staff.reset_password(ctx, "locked.out", new_password, by=TEST_ADMIN)
        assert (await sign_in(client, "locked.out", new_password)).status_code == 200
        # Counted again from nothing: wrong passwords lock it again only at the limit.
        for _ in range(limit - 1):
            assert (await sign_in(client, "locked.out", WRONG)).status_code == 401
        locked(await sign_in(client, "locked.out", WRONG))
        # Another user name's lock is its own.
        locked(await sign_in(client, "bystander", STAFF_PASSWORD))

    async def test_enabling_the_account_lifts_the_lock(self, limited: Any) -> None:
        client, ctx = limited
        await staff.create_staff(
            ctx, username="returning", password=STAFF_PASSWORD, role="analyst", by=TEST_ADMIN
        )
        await staff.set_disabled(ctx, "returning", True, by=TEST_ADMIN)
        for _ in range(ctx.settings.staff_sign_in_failures_per_account):
            await sign_in(client, "returning", STAFF_PASSWORD)  # disabled: each one fails
        locked(await sign_in(client, "returning", STAFF_PASSWORD))
        await staff.set_disabled(ctx, "returning", False, by=TEST_ADMIN)
        assert (await sign_in(client, "returning", STAFF_PASSWORD)).status_code == 200


@pytest.fixture
async def app_context(database_url: str) -> AsyncIterator[Any]:
    app = create_app(make_settings(database_url, staff_sign_in_failures_per_address=3))
    async with app.router.lifespan_context(app):
        yield app


def client_at(app: Any, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://t")


class TestWrongPasswordsLockTheAddress:
    async def test_one_address_trying_many_names_is_locked_and_others_are_not(
        self, app_context: Any
    ) -> None:
        ctx = app_context.state.context
        await staff.create_staff(
            ctx, username="officer", password=STAFF_PASSWORD, role="analyst", by=TEST_ADMIN
        )
        async with client_at(app_context, "203.0.113.7") as guesser:
            assert (await sign_in(guesser, "admin", WRONG)).status_code == 401
            assert (await sign_in(guesser, "root", WRONG)).status_code == 401
            locked(await sign_in(guesser, "operator", WRONG))
            locked(await sign_in(guesser, "officer", STAFF_PASSWORD))
        async with client_at(app_context, "198.51.100.4") as office:
            assert (await sign_in(office, "officer", STAFF_PASSWORD)).status_code == 200
        [entry] = await ctx.store.find("audit_log", {"action": "staff.sign_in.locked"})
        assert entry["params"] == {"limits": ["address"]}
        assert "203.0.113.7" not in repr(entry)


ADMINISTRATOR = ("administrator", "quản trị viên")
ANOTHER_NETWORK = ("another network", "mạng khác")


class TestTheLockSaysWhatLiftsIt:
    """A password reset lifts the user name's lock, not the address's: each 429 tells only
    what works for the lock that holds, in both languages, under the same code."""

    async def test_an_address_lock_does_not_send_the_clerk_to_an_administrator(
        self, app_context: Any
    ) -> None:
        ctx = app_context.state.context
        await staff.create_staff(
            ctx, username="clerk", password=STAFF_PASSWORD, role="analyst", by=TEST_ADMIN
        )
        async with client_at(app_context, "203.0.113.9") as gate:
            for name in ("admin", "root", "operator"):
                await sign_in(gate, name, WRONG)
            english = locked(await sign_in(gate, "clerk", STAFF_PASSWORD))["detail"]
            vietnamese = locked(await sign_in(gate, "clerk", STAFF_PASSWORD, lang="vi"))["detail"]
        assert "another network" in english
        assert "mạng khác" in vietnamese
        for detail in (english, vietnamese):
            assert not any(word in detail for word in ADMINISTRATOR), detail

    async def test_a_user_name_lock_still_does(self, app_context: Any) -> None:
        ctx = app_context.state.context
        await staff.create_staff(
            ctx, username="forgetful", password=STAFF_PASSWORD, role="analyst", by=TEST_ADMIN
        )
        # Each wrong try from its own address: only the user name's limit is reached.
        limit = ctx.settings.staff_sign_in_failures_per_account
        for n in range(limit):
            async with client_at(app_context, f"198.51.100.{10 + n}") as desk:
                await sign_in(desk, "forgetful", WRONG)
        async with client_at(app_context, "198.51.100.99") as desk:
            english = locked(await sign_in(desk, "forgetful", STAFF_PASSWORD))["detail"]
            vietnamese = locked(await sign_in(desk, "forgetful", STAFF_PASSWORD, lang="vi"))
        assert "ask an administrator to reset the password" in english
        assert "nhờ quản trị viên đặt lại mật khẩu" in vietnamese["detail"]

    async def test_a_password_reset_does_not_lift_the_address_lock(self, app_context: Any) -> None:
        ctx = app_context.state.context
        await staff.create_staff(
            ctx, username="clerk", password=STAFF_PASSWORD, role="analyst", by=TEST_ADMIN
        )
        async with client_at(app_context, "203.0.113.9") as gate:
            for _ in range(ctx.settings.staff_sign_in_failures_per_address):
                await sign_in(gate, "clerk", WRONG)
            locked(await sign_in(gate, "clerk", STAFF_PASSWORD))
            new_password = "a brand new passphrase"
            await staff.reset_password(ctx, "clerk", new_password, by=TEST_ADMIN)
            locked(await sign_in(gate, "clerk", new_password))
        # As the 429 says: another network signs in.
        async with client_at(app_context, "198.51.100.4") as office:
            assert (await sign_in(office, "clerk", new_password)).status_code == 200

    async def test_when_both_locks_hold_only_the_wait_is_told(self, database_url: str) -> None:
        settings = make_settings(
            database_url, staff_sign_in_failures_per_account=3, staff_sign_in_failures_per_address=3
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app), client_at(app, "203.0.113.9") as gate:
            for _ in range(2):
                assert (await sign_in(gate, "nobody", WRONG)).status_code == 401
            for lang in ("en", "vi"):
                detail = locked(await sign_in(gate, "nobody", WRONG, lang=lang))["detail"]
                assert not any(word in detail for word in ADMINISTRATOR), detail
                assert not any(words in detail for words in ANOTHER_NETWORK), detail
