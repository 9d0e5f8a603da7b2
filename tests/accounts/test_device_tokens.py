"""Device tokens: whoever knows a staff user name can lock it with wrong passwords, but not
out of its owner's phone. A staff sign-in returns a `device_token`; sent with the next
sign-in as that user name, it has wrong passwords counted on it alone, so the clerk at a
checkpoint signs in through a lock someone else's guesses put on the name (OWASP's device
cookies). A token that does not vouch for this user name is ignored, never refused."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest

from accounts import devices, staff
from accounts.devices import issue_device_token
from api.app import create_app
from core.clock import utcnow
from core.context import Context
from core.principals import ALGORITHM, ISSUER
from tests.accounts.test_password_guessing import WRONG, client_at, locked
from tests.conftest import STAFF_PASSWORD, TEST_ADMIN, TEST_PHONES, make_settings

# Each test counts wrong passwords in one window (tests/accounts/conftest.py).
pytestmark = pytest.mark.usefixtures("fresh_sign_in_window")

PHONE = "+84900000003"
CLERK_PHONE = "198.51.100.20"  # the clerk's phone, on the checkpoint's network
ATTACKER = "203.0.113.66"
ANOTHER_ATTACKER = "203.0.113.67"


async def sign_in(
    client: httpx.AsyncClient,
    username: str,
    password: str,
    device_token: str | None = None,
    *,
    lang: str = "en",
) -> httpx.Response:
    body = {"username": username, "password": password}
    if device_token is not None:
        body["device_token"] = device_token
    return await client.post("/v1/auth/token", json=body, headers={"Accept-Language": lang})


def signed_in(answer: httpx.Response) -> str:
    """The device token of a successful staff sign-in."""
    assert answer.status_code == 200, answer.text
    device_token: str = answer.json()["device_token"]
    return device_token


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[Any]:
    """The service with a clerk's account and a colleague's; a tight per-address limit so
    a test can reach it."""
    app = create_app(make_settings(database_url, staff_sign_in_failures_per_address=8))
    async with app.router.lifespan_context(app):
        ctx = app.state.context
        for username in ("clerk", "colleague"):
            await staff.create_staff(
                ctx, username=username, password=STAFF_PASSWORD, role="analyst", by=TEST_ADMIN
            )
        yield app


async def lock_the_user_name(app: Any, username: str, *, address: str = ATTACKER) -> None:
    """An attacker who knows the user name sends wrong passwords until it is locked."""
    async with client_at(app, address) as attacker:
        for _ in range(app.state.context.settings.staff_sign_in_failures_per_account - 1):
            assert (await sign_in(attacker, username, WRONG)).status_code == 401
        locked(await sign_in(attacker, username, WRONG))


class TestTheOwnersDeviceSignsInThroughTheUserNamesLock:
    async def test_the_clerks_phone_signs_in_while_the_user_name_is_locked(self, app: Any) -> None:
        async with client_at(app, CLERK_PHONE) as phone:
            device_token = signed_in(await sign_in(phone, "clerk", STAFF_PASSWORD))
            await lock_the_user_name(app, "clerk")

            # Without its device token the phone is refused like anyone; with it, it is not.
            locked(await sign_in(phone, "clerk", STAFF_PASSWORD))
            answer = await sign_in(phone, "clerk", STAFF_PASSWORD, device_token)
            fresh = signed_in(answer)
            assert fresh != device_token
            reports = await phone.get(
                "/v1/reports/declarations",
                params={"from": "2026-12-01", "to": "2026-12-01"},
                headers={"Authorization": f"Bearer {answer.json()['access_token']}"},
            )
            assert reports.status_code == 200, reports.text
            # The fresh token vouches as well, and the old one still does until it expires.
            signed_in(await sign_in(phone, "clerk", STAFF_PASSWORD, fresh))
            signed_in(await sign_in(phone, "clerk", STAFF_PASSWORD, device_token))
            # The attacker's lock still holds for everyone else.
            locked(await sign_in(phone, "clerk", STAFF_PASSWORD))

    async def test_a_trusted_device_is_not_held_by_its_networks_lock(self, app: Any) -> None:
        """Phones at one checkpoint share its address: a guesser there trying many names
        locks the address, not the clerks whose phones have signed in before."""
        ctx = app.state.context
        async with client_at(app, CLERK_PHONE) as phone:
            device_token = signed_in(await sign_in(phone, "clerk", STAFF_PASSWORD))
            for n in range(ctx.settings.staff_sign_in_failures_per_address):
                await sign_in(phone, f"guess{n}", WRONG)
            problem = locked(await sign_in(phone, "clerk", STAFF_PASSWORD))
            assert "another network" in problem["detail"]
            signed_in(await sign_in(phone, "clerk", STAFF_PASSWORD, device_token))


class TestWrongPasswordsOnADeviceLockThatDeviceOnly:
    async def test_a_device_tokens_wrong_passwords_lock_it_and_nothing_else(self, app: Any) -> None:
        ctx = app.state.context
        limit = ctx.settings.staff_sign_in_failures_per_account
        async with client_at(app, CLERK_PHONE) as phone:
            lost_phone = signed_in(await sign_in(phone, "clerk", STAFF_PASSWORD))
            other_phone = signed_in(await sign_in(phone, "clerk", STAFF_PASSWORD))
            for _ in range(limit - 1):
                assert (await sign_in(phone, "clerk", WRONG, lost_phone)).status_code == 401
            locked(await sign_in(phone, "clerk", WRONG, lost_phone))
            problem = locked(await sign_in(phone, "clerk", STAFF_PASSWORD, lost_phone, lang="vi"))
            assert "trên thiết bị này" in problem["detail"]
            english = locked(await sign_in(phone, "clerk", STAFF_PASSWORD, lost_phone))
            assert "on this device" in english["detail"]
            # A reset ends the device token itself (TestAChangeToTheAccountEndsItsTokens).
            assert "ask an administrator to reset the password" in english["detail"]

            # The clerk's other phone, and a sign-in without a token, are not locked.
            signed_in(await sign_in(phone, "clerk", STAFF_PASSWORD, other_phone))
            signed_in(await sign_in(phone, "clerk", STAFF_PASSWORD))
            # A fresh device meets the user name's limit as before, from its first try:
            # the device token's wrong passwords were not counted for the user name.
            for _ in range(limit - 1):
                assert (await sign_in(phone, "clerk", WRONG)).status_code == 401
            locked(await sign_in(phone, "clerk", WRONG))
            locked(await sign_in(phone, "clerk", STAFF_PASSWORD))

        user = await ctx.store.find_one("staff_users", {"username": "clerk"})
        entries = await ctx.store.find("audit_log", {"action": "staff.sign_in.locked"})
        assert sorted(e["params"]["limits"][0] for e in entries) == ["account", "device"]
        assert all(e["target"] == user["_id"] for e in entries)
        assert all(lost_phone not in repr(e) for e in entries)

    async def test_a_password_reset_ends_the_locked_token_and_lifts_the_user_names_lock(
        self, app: Any
    ) -> None:
        """As the device's 429 says: the reset it asks for lets the device sign in again,
        now counted as a device without a token."""
        ctx = app.state.context
        async with client_at(app, CLERK_PHONE) as phone:
            device_token = signed_in(await sign_in(phone, "clerk", STAFF_PASSWORD))
            for _ in range(ctx.settings.staff_sign_in_failures_per_account):
                await sign_in(phone, "clerk", WRONG, device_token)
            await lock_the_user_name(app, "clerk")
            locked(await sign_in(phone, "clerk", STAFF_PASSWORD, device_token))
            new_password = "a brand new passphrase"
            await staff.reset_password(ctx, "clerk", new_password, by=TEST_ADMIN)
            signed_in(await sign_in(phone, "clerk", new_password, device_token))
            signed_in(await sign_in(phone, "clerk", new_password))
            # Its wrong passwords now count for the user name, as without a token.
            for _ in range(ctx.settings.staff_sign_in_failures_per_account - 1):
                assert (await sign_in(phone, "clerk", WRONG, device_token)).status_code == 401
            locked(await sign_in(phone, "clerk", WRONG, device_token))
            locked(await sign_in(phone, "clerk", new_password))


async def reset_password(ctx: Context) -> None:
    await staff.reset_password(ctx, "clerk", STAFF_PASSWORD, by=TEST_ADMIN)


async def disable_and_enable(ctx: Context) -> None:
    await staff.set_disabled(ctx, "clerk", True, by=TEST_ADMIN)
    await staff.set_disabled(ctx, "clerk", False, by=TEST_ADMIN)


async def give_a_new_role(ctx: Context) -> None:
    await staff.update_staff(ctx, "clerk", role="responder", by=TEST_ADMIN)


# What bumps the account's token version, as `khaibao users …` does it.
CHANGES: dict[str, Callable[[Context], Awaitable[None]]] = {
    "password reset": reset_password,
    "disabled and enabled again": disable_and_enable,
    "new role": give_a_new_role,
}


class TestAChangeToTheAccountEndsItsTokens:
    """Whoever held the account's password or one of its phones before an administrator
    changed it (a reset after a leak, a disabled account) no longer signs in through the
    user name's lock with that phone's old device token: it is judged as no token."""

    @pytest.mark.parametrize("change", list(CHANGES))
    async def test_the_old_token_no_longer_escapes_the_user_names_lock(
        self, app: Any, change: str
    ) -> None:
        ctx = app.state.context
        async with client_at(app, CLERK_PHONE) as phone:
            before = signed_in(await sign_in(phone, "clerk", STAFF_PASSWORD))
            await CHANGES[change](ctx)
            after = signed_in(await sign_in(phone, "clerk", STAFF_PASSWORD, before))
            await lock_the_user_name(app, "clerk")
            locked(await sign_in(phone, "clerk", STAFF_PASSWORD, before))
            signed_in(await sign_in(phone, "clerk", STAFF_PASSWORD, after))

    async def test_a_token_from_before_the_change_counts_its_wrong_passwords_by_name(
        self, app: Any
    ) -> None:
        ctx = app.state.context
        limit = ctx.settings.staff_sign_in_failures_per_account
        async with client_at(app, CLERK_PHONE) as phone:
            before = signed_in(await sign_in(phone, "clerk", STAFF_PASSWORD))
            await reset_password(ctx)
            for _ in range(limit - 1):
                assert (await sign_in(phone, "clerk", WRONG, before)).status_code == 401
            locked(await sign_in(phone, "clerk", WRONG, before))
            locked(await sign_in(phone, "clerk", STAFF_PASSWORD))

    async def test_what_does_not_change_the_account_leaves_its_tokens_vouching(
        self, app: Any
    ) -> None:
        """A colleague's reset, disabling and new role, and the clerk's own refreshes and
        sign-ins from other phones, do not touch the clerk's account."""
        ctx = app.state.context
        async with client_at(app, CLERK_PHONE) as phone:
            answer = await sign_in(phone, "clerk", STAFF_PASSWORD)
            device_token = signed_in(answer)
            await staff.reset_password(ctx, "colleague", STAFF_PASSWORD, by=TEST_ADMIN)
            await staff.set_disabled(ctx, "colleague", True, by=TEST_ADMIN)
            await staff.update_staff(ctx, "colleague", role="responder", by=TEST_ADMIN)
            refreshed = await phone.post(
                "/v1/auth/refresh", json={"refresh_token": answer.json()["refresh_token"]}
            )
            assert refreshed.status_code == 200, refreshed.text
            signed_in(await sign_in(phone, "clerk", STAFF_PASSWORD))
            await lock_the_user_name(app, "clerk")
            signed_in(await sign_in(phone, "clerk", STAFF_PASSWORD, device_token))

    async def test_a_token_issued_before_tokens_carried_a_version(self, app: Any) -> None:
        """Device tokens issued before this release carry no version: one still vouches for
        an account no administrator has changed since, and not for one that was changed
        (versions only grow, so it was issued before the change)."""
        ctx = app.state.context
        async with client_at(app, CLERK_PHONE) as phone:
            clerks = signed_in(await sign_in(phone, "clerk", STAFF_PASSWORD))
            colleagues = signed_in(await sign_in(phone, "colleague", STAFF_PASSWORD))
            clerks, colleagues = without_a_version(ctx, clerks), without_a_version(ctx, colleagues)
            await staff.reset_password(ctx, "colleague", STAFF_PASSWORD, by=TEST_ADMIN)
            await lock_the_user_name(app, "clerk")
            await lock_the_user_name(app, "colleague", address=ANOTHER_ATTACKER)
            signed_in(await sign_in(phone, "clerk", STAFF_PASSWORD, clerks))
            locked(await sign_in(phone, "colleague", STAFF_PASSWORD, colleagues))


def without_a_version(ctx: Context, token: str) -> str:
    """The token as the previous release issued it: the same claims but the version."""
    key = devices._key(ctx)
    claims = jwt.decode(
        token, key, algorithms=[ALGORITHM], audience=devices.AUDIENCE, issuer=ISSUER
    )
    del claims["ver"]
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"typ": "JWT"})


def tampered(token: str) -> str:
    """The token with one character of its claims changed."""
    header, claims, signature = token.split(".")
    middle = len(claims) // 2
    changed = "A" if claims[middle] != "A" else "B"
    return ".".join([header, claims[:middle] + changed + claims[middle + 1 :], signature])


class TestATokenThatDoesNotVouchIsIgnored:
    """Judged as a sign-in without a device token: through the user name's lock it is 429,
    and where no lock holds it signs in (an old phone must still sign in)."""

    @pytest.mark.parametrize(
        "kind", ["another user name's", "tampered", "expired", "an access token", "garbage"]
    )
    async def test_the_user_names_lock_applies(self, app: Any, kind: str) -> None:
        ctx = app.state.context
        lifetime = timedelta(days=ctx.settings.staff_device_token_days, minutes=1)
        async with client_at(app, CLERK_PHONE) as phone:
            clerks = await sign_in(phone, "clerk", STAFF_PASSWORD)
            colleagues = signed_in(await sign_in(phone, "colleague", STAFF_PASSWORD))
            device_token = {
                "another user name's": colleagues,
                "tampered": tampered(signed_in(clerks)),
                "expired": issue_device_token(ctx, "clerk", 0, now=utcnow() - lifetime),
                "an access token": clerks.json()["access_token"],
                "garbage": "not.a.token",
            }[kind]
            signed_in(await sign_in(phone, "clerk", STAFF_PASSWORD, device_token))
            await lock_the_user_name(app, "clerk")
            locked(await sign_in(phone, "clerk", STAFF_PASSWORD, device_token))
            # Its wrong passwords count for the user name and the address, as without it.
            await staff.reset_password(ctx, "clerk", STAFF_PASSWORD, by=TEST_ADMIN)
            for _ in range(ctx.settings.staff_sign_in_failures_per_account - 1):
                assert (await sign_in(phone, "clerk", WRONG, device_token)).status_code == 401
            locked(await sign_in(phone, "clerk", WRONG, device_token))
            locked(await sign_in(phone, "clerk", STAFF_PASSWORD))

    async def test_only_an_absurd_one_is_a_malformed_request(self, app: Any) -> None:
        async with client_at(app, CLERK_PHONE) as phone:
            answer = await sign_in(phone, "clerk", STAFF_PASSWORD, "x" * 1025)
            assert answer.status_code == 422, answer.text
            assert "device_token" in answer.text
            signed_in(await sign_in(phone, "clerk", STAFF_PASSWORD, "x" * 1024))


class TestOnlyStaffPasswordSignInsGetOne:
    async def test_citizens_and_refreshes_get_no_device_token(self, app: Any) -> None:
        async with client_at(app, CLERK_PHONE) as client:
            await client.post("/v1/auth/otp", json={"phone": PHONE})
            citizen = await client.post(
                "/v1/auth/token", json={"phone": PHONE, "otp": TEST_PHONES[PHONE]}
            )
            assert citizen.status_code == 200, citizen.text
            assert "device_token" not in citizen.json()
            staff_tokens = await sign_in(client, "clerk", STAFF_PASSWORD)
            for tokens in (citizen, staff_tokens):
                refreshed = await client.post(
                    "/v1/auth/refresh", json={"refresh_token": tokens.json()["refresh_token"]}
                )
                assert refreshed.status_code == 200, refreshed.text
                assert "device_token" not in refreshed.json()

    async def test_a_citizen_sending_one_is_a_malformed_request(self, app: Any) -> None:
        async with client_at(app, CLERK_PHONE) as client:
            device_token = signed_in(await sign_in(client, "clerk", STAFF_PASSWORD))
            await client.post("/v1/auth/otp", json={"phone": PHONE})
            answer = await client.post(
                "/v1/auth/token",
                json={"phone": PHONE, "otp": TEST_PHONES[PHONE], "device_token": device_token},
            )
            assert answer.status_code == 422, answer.text


class TestADeviceTokenIsNotAnAccessToken:
    async def test_it_is_refused_as_a_bearer_token(self, app: Any) -> None:
        async with client_at(app, CLERK_PHONE) as phone:
            answer = await sign_in(phone, "clerk", STAFF_PASSWORD)
            for token, status in ((answer.json()["access_token"], 200), (signed_in(answer), 401)):
                reports = await phone.get(
                    "/v1/reports/declarations",
                    params={"from": "2026-12-01", "to": "2026-12-01"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert reports.status_code == status, reports.text
