"""Personal data at rest and in logs: identity numbers, phones, names and streets exist only
encrypted, whichever database is in use."""

from __future__ import annotations

import logging

import httpx
import pytest

from core.context import Context
from tests.declarations.conftest import (
    CHILD_ID_NUMBER,
    CHILD_NAME,
    FULL_NAME,
    ID_NUMBER,
    PHONE,
    STREET,
    child_declaration,
    declaration,
    declare,
)
from tests.stored_bytes import raw_storage

ACCOUNT_PHONE = "+84900000001"
PLAINTEXTS = [ID_NUMBER, CHILD_ID_NUMBER, PHONE, PHONE[1:], "0" + PHONE[3:], ACCOUNT_PHONE]
PLAINTEXTS += [FULL_NAME, CHILD_NAME, STREET]


class TestPersonalDataAtRest:
    async def test_no_identity_number_phone_or_name_in_clear(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        for key, body in (("own", declaration(symptoms=["fever"])), ("kid", child_declaration())):
            assert (await declare(client, citizen, body, key)).status_code == 201
        assert (await client.get("/v1/people", headers=citizen)).status_code == 200

        stored = await raw_storage(ctx)
        assert b"declarations" in stored or await ctx.store.count("declarations", {}) == 2
        for plaintext in PLAINTEXTS:
            assert plaintext.encode() not in stored, plaintext
        # What reports need stays readable.
        person = await ctx.store.find_one("people", {"relation": "child"})
        assert person is not None
        assert (person["birth_year"], person["province"], person["ward"]) == (2015, 1, 70)

    async def test_responses_show_only_a_masked_identity_number(
        self, client: httpx.AsyncClient, citizen: dict[str, str]
    ) -> None:
        made = await declare(client, citizen, declaration(), "mask")
        people = await client.get("/v1/people", headers=citizen)
        read = await client.get(f"/v1/declarations/{made.json()['id']}", headers=citizen)
        for answer in (made, people, read):
            assert ID_NUMBER not in answer.text
            assert PHONE not in answer.text
        assert people.json()["items"][0]["id_number_masked"] == "•••••••••345"


class TestLogs:
    async def test_logs_carry_ids_not_personal_data_or_symptoms(
        self,
        client: httpx.AsyncClient,
        citizen: dict[str, str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        # DEBUG: the level that names each stored declaration (INFO leaves it out, being
        # one line per declaration in a surge); no level may carry personal data.
        caplog.set_level(logging.DEBUG)
        body = declaration(symptoms=["loss_of_taste_or_smell"])
        made = (await declare(client, citizen, body, "log")).json()
        bad = declaration()
        bad["person"]["id_number"] = "ABC!" + ID_NUMBER
        await declare(client, citizen, bad, "log-2")

        logged = "\n".join(
            f"{record.getMessage()} {getattr(record, 'fields', '')}" for record in caplog.records
        )
        assert made["id"] in logged
        for secret in [*PLAINTEXTS, "loss_of_taste_or_smell"]:
            assert secret not in logged, secret
