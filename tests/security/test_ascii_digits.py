"""Digits are ASCII digits. Python's `\\d` and `str.isdigit` accept every script's digits
(fullwidth ０-９, Arabic-Indic ٠-٩, Devanagari ०-९, superscripts ²), so a phone written in
them passed validation as a *different* number: a fresh per-phone code limit, a separate
account. Every field that means digits must refuse them (422), never treat them as another
value, and never fail on them (500)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.context import Context
from tests.checkpoints.helpers import create_person, staff_headers
from tests.conftest import TEST_PHONES, sign_in_citizen
from tests.declarations.conftest import declaration
from tests.security.cast import idempotency_key

PHONE = "+84900000001"
_SCRIPTS = {
    "fullwidth": 0xFF10,
    "arabic_indic": 0x0660,
    "devanagari": 0x0966,
}


def in_script(text: str, zero: int) -> str:
    """`text` with its ASCII digits written in the script whose zero is `zero`."""
    return "".join(chr(zero + int(ch)) if "0" <= ch <= "9" else ch for ch in text)


# The country code and the first digit stay ASCII: that is what the old patterns checked
# with [1-9] and [35789]; `\d` took the rest.
LOOK_ALIKES = {
    **{name: PHONE[:4] + in_script(PHONE[4:], zero) for name, zero in _SCRIPTS.items()},
    # One digit swapped is enough to be "another" number.
    "one_digit": PHONE[:-1] + in_script(PHONE[-1], _SCRIPTS["arabic_indic"]),
    "national_form": "09" + in_script("00000001", _SCRIPTS["fullwidth"]),
    "foreign": "+1" + in_script("2025550123", _SCRIPTS["devanagari"]),
}


def assert_invalid(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    problem: dict[str, Any] = response.json()
    assert problem["code"] == "validation_failed"
    assert any(str(error["field"]).endswith(field) for error in problem["errors"]), problem


class TestLookAlikePhones:
    @pytest.mark.parametrize("spelling", sorted(LOOK_ALIKES))
    async def test_a_look_alike_phone_gets_no_code_and_no_account(
        self, client: httpx.AsyncClient, ctx: Context, spelling: str
    ) -> None:
        phone = LOOK_ALIKES[spelling]
        assert_invalid(await client.post("/v1/auth/otp", json={"phone": phone}), "phone")
        token = await client.post("/v1/auth/token", json={"phone": phone, "otp": "123456"})
        assert_invalid(token, "phone")
        assert await ctx.store.count("otps", {}) == 0
        assert await ctx.store.count("accounts", {}) == 0

    async def test_look_alikes_do_not_escape_the_per_phone_code_limit(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        for _ in range(ctx.settings.otp_per_phone_per_address_per_hour):
            assert (await client.post("/v1/auth/otp", json={"phone": PHONE})).status_code == 202
        assert (await client.post("/v1/auth/otp", json={"phone": PHONE})).status_code == 429
        for phone in LOOK_ALIKES.values():
            sent = await client.post("/v1/auth/otp", json={"phone": phone})
            assert sent.status_code in (422, 429), sent.text

    @pytest.mark.parametrize("zero", sorted(_SCRIPTS.values()))
    async def test_a_code_in_other_digits_is_refused_without_costing_an_attempt(
        self, client: httpx.AsyncClient, ctx: Context, zero: int
    ) -> None:
        assert (await client.post("/v1/auth/otp", json={"phone": PHONE})).status_code == 202
        code = in_script(TEST_PHONES[PHONE], zero)
        token = await client.post("/v1/auth/token", json={"phone": PHONE, "otp": code})
        assert_invalid(token, "otp")
        stored = await ctx.store.find("otps", {})
        assert [[code["wrong"] for code in otp["codes"]] for otp in stored] == [[0]]


class TestDeclarationFields:
    @pytest.mark.parametrize(
        ("section", "field", "value"),
        [
            ("person", "phone", "+849" + in_script("12345678", _SCRIPTS["fullwidth"])),
            ("person", "phone", "09" + in_script("12345678", _SCRIPTS["devanagari"])),
            ("person", "id_number", in_script("001190012345", _SCRIPTS["arabic_indic"])),
            ("person", "id_number", "00119001234" + in_script("5", _SCRIPTS["fullwidth"])),
            ("address", "street", in_script("12 Tràng Tiền", _SCRIPTS["arabic_indic"])),
        ],
        ids=["phone_fullwidth", "phone_devanagari", "cccd_arabic", "cccd_one_digit", "street"],
    )
    async def test_other_digits_are_refused(
        self, client: httpx.AsyncClient, ctx: Context, section: str, field: str, value: str
    ) -> None:
        headers = await sign_in_citizen(client)
        body = declaration()
        body[section] = {**body[section], field: value}
        answer = await client.post(
            "/v1/declarations", json=body, headers={**headers, "Idempotency-Key": idempotency_key()}
        )
        assert_invalid(answer, field)
        assert await ctx.store.count("declarations", {}) == 0

    async def test_a_trip_date_in_other_digits_is_refused(self, client: httpx.AsyncClient) -> None:
        headers = await sign_in_citizen(client)
        body = declaration()
        trip = body["travel"]["domestic"][0]
        trip["date"] = in_script(trip["date"], _SCRIPTS["fullwidth"])
        answer = await client.post(
            "/v1/declarations", json=body, headers={**headers, "Idempotency-Key": idempotency_key()}
        )
        assert_invalid(answer, "date")


class TestCaseIdentityNumber:
    @pytest.mark.parametrize("zero", sorted(_SCRIPTS.values()))
    async def test_a_case_by_a_number_in_other_digits_is_refused_not_missing(
        self, client: httpx.AsyncClient, ctx: Context, zero: int
    ) -> None:
        """The officer typed a number that no record can carry: 422 says what to fix, where
        404 said the patient had never declared."""
        officer = await staff_headers(ctx, "health_officer")
        citizen = await sign_in_citizen(client)
        await create_person(client, citizen, id_number="001190012345")
        answer = await client.post(
            "/v1/cases", json={"id_number": in_script("001190012345", zero)}, headers=officer
        )
        assert_invalid(answer, "id_number")
        assert await ctx.store.count("cases", {}) == 0
        assert await ctx.store.count("audit_log", {}) == 0


class TestHeaders:
    @pytest.mark.parametrize("length", ["\u00b2", "1\u00b9", "\u00b3\u00b2"])
    async def test_a_content_length_of_superscript_digits_is_refused_not_a_crash(
        self, client: httpx.AsyncClient, length: str
    ) -> None:
        """`"²".isdigit()` is true and `int("²")` raises: the edge must not use the one to
        guard the other (latin-1 carries ² ³ ¹ in a header)."""
        answer = await client.post(
            "/v1/auth/otp",
            content=b'{"phone": "+84900000001"}',
            headers={
                b"content-type": b"application/json",
                b"content-length": length.encode("latin-1"),
            },
        )
        assert 400 <= answer.status_code < 500, answer.text
