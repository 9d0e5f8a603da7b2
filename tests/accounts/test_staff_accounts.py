"""Staff accounts as operators manage them: roles with an area, checkpoints or an
organisation; `khaibao users list|disable|enable|reset-password|update`; and sessions that
end when the account changes (a per-account token version checked on every staff request)
or when a rotated refresh token is reused (the whole family is revoked)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from accounts import staff
from core.context import Context
from core.principals import Area, Principal, verify_access_token
from tests.conftest import STAFF_PASSWORD, TEST_ADMIN, make_settings, sign_in_citizen

HANOI, HOAN_KIEM = 1, 70  # Hà Nội and one of its wards (2025 divisions)
HO_CHI_MINH = 79


def khaibao(
    *args: str, database_url: str, stdin: str = "", **extra: str
) -> subprocess.CompletedProcess[str]:
    """The installed `khaibao` command, run as an operator would, on the test's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KHAIBAO_")}
    env.update({"KHAIBAO_ENV": "test", "KHAIBAO_DATABASE_URL": database_url, **extra})
    return subprocess.run(
        [str(Path(sys.executable).parent / "khaibao"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


async def run_khaibao(*args: str, database_url: str, stdin: str = "") -> Any:
    return await asyncio.to_thread(khaibao, *args, database_url=database_url, stdin=stdin)


def assert_one_sentence(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """A refusal an operator can act on: exit 1, one line, no traceback."""
    assert done.returncode == 1, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in lines[0]


async def sign_in(client: httpx.AsyncClient, username: str, password: str = STAFF_PASSWORD) -> Any:
    answer = await client.post("/v1/auth/token", json={"username": username, "password": password})
    return answer


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


class TestAreas:
    async def test_an_officers_area_is_in_the_principal(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        await staff.create_staff(
            ctx,
            username="ward.officer",
            password=STAFF_PASSWORD,
            role="health_officer",
            area=Area(HANOI, HOAN_KIEM),
            by=TEST_ADMIN,
        )
        await staff.create_staff(
            ctx, username="national", password=STAFF_PASSWORD, role="health_officer", by=TEST_ADMIN
        )
        secret = ctx.settings.secret_key.get_secret_value()

        ward_token = (await sign_in(client, "ward.officer")).json()["access_token"]
        officer = verify_access_token(ward_token, secret=secret)
        assert officer.area == Area(HANOI, HOAN_KIEM)
        assert officer.covers(HANOI, HOAN_KIEM)
        assert not officer.covers(HANOI, HOAN_KIEM + 1)
        assert not officer.covers(HANOI)  # a province-wide place is wider than the ward
        assert not officer.covers(HO_CHI_MINH, HOAN_KIEM)

        national_token = (await sign_in(client, "national")).json()["access_token"]
        national = verify_access_token(national_token, secret=secret)
        assert national.area is None
        assert national.covers(HO_CHI_MINH, None)

    def test_a_province_wide_area_covers_its_wards(self) -> None:
        officer = Principal("usr_x", "responder", area=Area(HANOI))
        assert officer.covers(HANOI, HOAN_KIEM)
        assert officer.covers(HANOI)
        assert not officer.covers(HO_CHI_MINH, 26743)

    async def test_the_command_checks_the_area_against_the_2025_divisions(
        self, database_url: str
    ) -> None:
        pw = f"{STAFF_PASSWORD}\n"
        create = ("users", "create", "--role", "health_officer", "--username")
        foreign_ward = await run_khaibao(
            *create, "o1", "--province", str(HO_CHI_MINH), "--ward", str(HOAN_KIEM),
            database_url=database_url, stdin=pw,
        )  # fmt: skip
        assert_one_sentence(foreign_ward, f"Ward {HOAN_KIEM} is not a ward of province 79")
        no_province = await run_khaibao(
            *create, "o2", "--province", "99", database_url=database_url, stdin=pw
        )
        assert_one_sentence(no_province, "no province with code 99")

        made = await run_khaibao(
            *create, "o3", "--province", str(HANOI), "--ward", str(HOAN_KIEM),
            database_url=database_url, stdin=pw,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        assert made.stdout.strip().startswith("usr_")
        listed = await run_khaibao("users", "list", database_url=database_url)
        assert listed.returncode == 0, listed.stderr
        rows = [line.split("\t") for line in listed.stdout.strip().splitlines()[1:]]
        user_id = made.stdout.strip()  # last: the id `khaibao audit --user` takes
        assert rows == [["o3", "health_officer", "province 1 ward 70", "-", "-", "active", user_id]]


class TestWhatEachRoleMayCarry:
    async def test_shapes_are_refused_in_one_sentence(self, ctx: Context) -> None:
        async def create(role: Any, **extra: Any) -> str:
            return await staff.create_staff(
                ctx,
                username=f"u{len(extra)}{role}",
                password=STAFF_PASSWORD,
                role=role,
                **extra,
                by=TEST_ADMIN,
            )

        with pytest.raises(staff.StaffError, match="Only health_officer and responder"):
            await create("analyst", area=Area(HANOI))
        with pytest.raises(staff.StaffError, match="needs --organisation"):
            await create("organisation")
        with pytest.raises(staff.StaffError, match="org_ followed by 26"):
            await create("organisation", organisation="acme")

        organisation = "org_01JD0000000000000000000000"
        await create("organisation", organisation=organisation)
        await create("responder", area=Area(HANOI))
        listed = {a.username: a for a in await staff.list_staff(ctx)}
        assert listed["u1organisation"].organisation == organisation
        assert listed["u1responder"].area == Area(HANOI)

    async def test_organisation_and_responder_sign_in(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        organisation = "org_01JD0000000000000000000000"
        await staff.create_staff(
            ctx,
            username="school",
            password=STAFF_PASSWORD,
            role="organisation",
            organisation=organisation,
            by=TEST_ADMIN,
        )
        tokens = (await sign_in(client, "school")).json()
        assert tokens["role"] == "organisation"
        secret = ctx.settings.secret_key.get_secret_value()
        assert verify_access_token(tokens["access_token"], secret=secret).organisation == (
            organisation
        )
        # Neither a citizen's nor an analyst's routes.
        assert (await client.get("/v1/people", headers=bearer(tokens))).status_code == 403


@pytest.fixture
async def officer(client: httpx.AsyncClient, ctx: Context) -> dict[str, Any]:
    """A health officer signed in, and one request made: this process has read the account."""
    await staff.create_staff(
        ctx, username="officer", password=STAFF_PASSWORD, role="health_officer", by=TEST_ADMIN
    )
    tokens: dict[str, Any] = (await sign_in(client, "officer")).json()
    assert (await _officer_request(client, tokens)).status_code == 422
    return tokens


async def _officer_request(client: httpx.AsyncClient, tokens: dict[str, Any]) -> httpx.Response:
    """A health officer's route; an empty body is a 422 once the caller is let in."""
    return await client.post("/v1/cases", json={}, headers=bearer(tokens))


class TestSessionsEndWhenTheAccountChanges:
    async def test_disabling_ends_live_access_tokens_at_once(
        self, client: httpx.AsyncClient, ctx: Context, officer: dict[str, Any]
    ) -> None:
        await staff.set_disabled(ctx, "officer", True, by=TEST_ADMIN)
        refused = await _officer_request(client, officer)
        assert refused.status_code == 401
        assert refused.json()["code"] == "unauthenticated"
        assert (await sign_in(client, "officer")).status_code == 401
        refreshed = await client.post(
            "/v1/auth/refresh", json={"refresh_token": officer["refresh_token"]}
        )
        assert refreshed.status_code == 401

        await staff.set_disabled(ctx, "officer", False, by=TEST_ADMIN)
        # Enabling lets the account sign in again; the old token stays dead.
        assert (await _officer_request(client, officer)).status_code == 401
        again = (await sign_in(client, "officer")).json()
        assert (await _officer_request(client, again)).status_code == 422

    async def test_a_new_role_ends_the_old_roles_tokens(
        self, client: httpx.AsyncClient, ctx: Context, officer: dict[str, Any]
    ) -> None:
        await staff.update_staff(ctx, "officer", role="analyst", by=TEST_ADMIN)
        assert (await _officer_request(client, officer)).status_code == 401
        analyst = (await sign_in(client, "officer")).json()
        assert analyst["role"] == "analyst"
        assert (await _officer_request(client, analyst)).status_code == 403

    async def test_a_new_area_ends_the_tokens_without_it(
        self, client: httpx.AsyncClient, ctx: Context, officer: dict[str, Any]
    ) -> None:
        await staff.update_staff(ctx, "officer", area=Area(HANOI, HOAN_KIEM), by=TEST_ADMIN)
        assert (await _officer_request(client, officer)).status_code == 401
        tokens = (await sign_in(client, "officer")).json()
        secret = ctx.settings.secret_key.get_secret_value()
        principal = verify_access_token(tokens["access_token"], secret=secret)
        assert principal.area == Area(HANOI, HOAN_KIEM)

    async def test_a_password_reset_ends_sessions(
        self, client: httpx.AsyncClient, ctx: Context, officer: dict[str, Any]
    ) -> None:
        await staff.reset_password(ctx, "officer", "a brand new passphrase", by=TEST_ADMIN)
        assert (await _officer_request(client, officer)).status_code == 401
        assert (await sign_in(client, "officer")).status_code == 401
        assert (await sign_in(client, "officer", "a brand new passphrase")).status_code == 200

    async def test_a_citizens_token_is_unaffected(self, client: httpx.AsyncClient) -> None:
        headers = await sign_in_citizen(client)
        assert (await client.get("/v1/people", headers=headers)).status_code == 200


@pytest.fixture
async def strict_app(database_url: str) -> Any:
    """An app that rereads staff accounts on every request (KHAIBAO_STAFF_CHECK_SECONDS=0),
    as every process does once the interval has passed."""
    from api.app import create_app

    app = create_app(make_settings(database_url, staff_check_seconds=0))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


class TestUsersCommands:
    async def test_disable_from_another_process(
        self, strict_app: httpx.AsyncClient, database_url: str
    ) -> None:
        client = strict_app
        pw = f"{STAFF_PASSWORD}\n"
        made = await run_khaibao(
            "users", "create", "--role", "health_officer", "--username", "cli.officer",
            database_url=database_url, stdin=pw,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        tokens = (await sign_in(client, "cli.officer")).json()
        assert (await _officer_request(client, tokens)).status_code == 422

        disabled = await run_khaibao(
            "users", "disable", "--username", "cli.officer", database_url=database_url
        )
        assert disabled.returncode == 0, disabled.stderr
        assert (await _officer_request(client, tokens)).status_code == 401
        listed = await run_khaibao("users", "list", database_url=database_url)
        assert listed.stdout.strip().splitlines()[1].split("\t")[5] == "disabled"
        assert "argon2" not in listed.stdout

        reset = await run_khaibao(
            "users", "reset-password", "--username", "cli.officer",
            database_url=database_url, stdin="another long passphrase\n",
        )  # fmt: skip
        assert reset.returncode == 0, reset.stderr
        await run_khaibao("users", "enable", "--username", "cli.officer", database_url=database_url)
        assert (await sign_in(client, "cli.officer", "another long passphrase")).status_code == 200

    async def test_operator_mistakes_are_one_sentence(self, database_url: str) -> None:
        pw = f"{STAFF_PASSWORD}\n"
        create = ("users", "create", "--role", "checkpoint_staff", "--username")
        first = await run_khaibao(*create, "gate", database_url=database_url, stdin=pw)
        assert first.returncode == 0, first.stderr
        taken = await run_khaibao(*create, "gate", database_url=database_url, stdin=pw)
        assert_one_sentence(taken, "The username gate is taken")
        unknown_checkpoint = await run_khaibao(
            *create, "gate2", "--checkpoint", "cp_01JD0000000000000000000000",
            database_url=database_url, stdin=pw,
        )  # fmt: skip
        assert_one_sentence(
            unknown_checkpoint, "There is no checkpoint cp_01JD", "checkpoints list"
        )
        unknown_organisation = await run_khaibao(
            "users", "create", "--role", "organisation", "--username", "hr",
            "--organisation", "org_00000000000000000000000000",
            database_url=database_url, stdin=pw,
        )  # fmt: skip
        assert_one_sentence(unknown_organisation, "There is no organisation org_0000")
        nobody = await run_khaibao(
            "users", "disable", "--username", "nobody", database_url=database_url
        )
        assert_one_sentence(nobody, "There is no staff account nobody")
        no_password = await run_khaibao(*create, "gate3", database_url=database_url)
        assert_one_sentence(no_password, "standard input")


class TestRefreshTokenReuse:
    async def test_reusing_a_rotated_refresh_token_revokes_the_family(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        await client.post("/v1/auth/otp", json={"phone": "+84900000002"})
        first = await client.post("/v1/auth/token", json={"phone": "+84900000002", "otp": "654321"})
        stolen = first.json()["refresh_token"]
        legit = await client.post("/v1/auth/refresh", json={"refresh_token": stolen})
        assert legit.status_code == 200
        # The thief replays the rotated token: refused with its own code (not "wrong code
        # or password"), and the legitimate chain with it: both sign in again.
        replay = await client.post(
            "/v1/auth/refresh", json={"refresh_token": stolen}, headers={"Accept-Language": "en"}
        )
        assert replay.status_code == 401
        assert replay.json()["code"] == "refresh_token_reused"
        assert replay.json()["detail"].startswith("This sign-in was used elsewhere")
        chain = await client.post(
            "/v1/auth/refresh",
            json={"refresh_token": legit.json()["refresh_token"]},
            headers={"Accept-Language": "en"},
        )
        assert chain.status_code == 401
        assert chain.json()["code"] == "invalid_credentials"
        assert "password" not in chain.json()["detail"]
        assert await ctx.store.find("refresh_tokens", {}) == []
        # An access token already issued stays valid until it expires (minutes): it is a
        # JWT checked without a read, as SECURITY.md says.
        people = await client.get(
            "/v1/people", headers={"Authorization": f"Bearer {legit.json()['access_token']}"}
        )
        assert people.status_code == 200
        # Another sign-in of the same phone is another family, untouched.
        await client.post("/v1/auth/otp", json={"phone": "+84900000002"})
        other = await client.post("/v1/auth/token", json={"phone": "+84900000002", "otp": "654321"})
        assert other.status_code == 200
        renewed = await client.post(
            "/v1/auth/refresh", json={"refresh_token": other.json()["refresh_token"]}
        )
        assert renewed.status_code == 200

    async def test_staff_families_too(self, client: httpx.AsyncClient, ctx: Context) -> None:
        await staff.create_staff(
            ctx, username="an", password=STAFF_PASSWORD, role="analyst", by=TEST_ADMIN
        )
        tokens = (await sign_in(client, "an")).json()
        second = await client.post(
            "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        third = await client.post(
            "/v1/auth/refresh", json={"refresh_token": second.json()["refresh_token"]}
        )
        assert third.status_code == 200
        replay = await client.post(
            "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert replay.status_code == 401
        assert replay.json()["code"] == "refresh_token_reused"
        latest = await client.post(
            "/v1/auth/refresh", json={"refresh_token": third.json()["refresh_token"]}
        )
        assert latest.status_code == 401
