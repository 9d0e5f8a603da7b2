"""Shadow identities. Anyone can declare a "dependant" with a stranger's identity number:
the service cannot tell a parent typing their child's number from an attacker typing a
victim's. Confirming a case by identity number turned every record with that number red,
so the attacker's account saw (and was told) that the victim became a case; and tracing
swept the shadow record's own check-ins, so everyone at the venue the attacker checked the
shadow into turned yellow and lost their codes.

Now a record follows a case only when the officer names it: by `person_id` (chosen from the
masked candidates that `id_number` alone answers with, 409 `choose_record`), or by
`id_number` together with the patient's `phone`, which picks the records of the account
signed in with that phone (its phone is verified by a one-time code). Contacts come only
from the places the confirmed record itself was."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import orjson

from core.context import Context
from notifications.outbox import PARAMS_CONTEXT, RECIPIENT_CONTEXT
from tests.checkpoints.helpers import create_person, new_checkpoint, person_token
from tests.conftest import sign_in_citizen, sign_in_staff
from tests.security.cast import declaration_body

VICTIM_PHONE = "+84900000001"
ATTACKER_PHONE = "+84900000002"
BYSTANDER_PHONE = "+84900000003"
PARENT_PHONE = "+84900000004"
VICTIM_ID = "001190012345"
CHILD_ID = "001215098765"


async def notified_phones(ctx: Context, kind: str) -> list[str]:
    found = await ctx.store.find("notifications", {"kind": kind})
    return sorted(ctx.cipher.decrypt(doc["to_enc"], context=RECIPIENT_CONTEXT) for doc in found)


async def notification_params(ctx: Context, kind: str) -> list[dict[str, Any]]:
    found = await ctx.store.find("notifications", {"kind": kind})
    return [
        orjson.loads(ctx.cipher.decrypt(doc["params_enc"], context=PARAMS_CONTEXT)) for doc in found
    ]


async def status_of(ctx: Context, person_id: str) -> str:
    person = await ctx.store.get("people", person_id)
    assert person is not None
    return str(person["status"])


async def staff_id(ctx: Context, username: str) -> str:
    found = await ctx.store.find_one("staff_users", {"username": username})
    assert found is not None
    return str(found["_id"])


async def declare_self(client: httpx.AsyncClient, headers: dict[str, str], phone: str) -> str:
    answer = await client.post(
        "/v1/declarations",
        json=declaration_body(phone, VICTIM_ID),
        headers={**headers, "Idempotency-Key": secrets.token_hex(8)},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["person_id"])


async def check_in(
    client: httpx.AsyncClient, headers: dict[str, str], venue_token: str, person_id: str
) -> None:
    answer = await client.post(
        "/v1/checkins", json={"venue_token": venue_token, "person_id": person_id}, headers=headers
    )
    assert answer.status_code == 201, answer.text


async def confirm_as_an_officer(
    client: httpx.AsyncClient, officer: dict[str, str], id_number: str, patient_phone: str
) -> httpx.Response:
    """What an officer holding the patient's identity number does: confirm by it and, when
    asked to choose, pick the record on the account whose phone ends as the patient's."""
    answer = await client.post("/v1/cases", json={"id_number": id_number}, headers=officer)
    if answer.status_code != 409:
        return answer
    problem = answer.json()
    assert problem["code"] == "choose_record", problem
    chosen = [
        c["person_id"]
        for c in problem["candidates"]
        if patient_phone.endswith(str(c["account_phone_ends_with"]))
    ]
    assert len(chosen) == 1, problem
    return await client.post("/v1/cases", json={"person_id": chosen[0]}, headers=officer)


class TestShadowRecordsDoNotFollowACase:
    async def test_the_shadow_gets_neither_the_status_nor_the_message(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        victim = await sign_in_citizen(client, VICTIM_PHONE)
        real = await declare_self(client, victim, VICTIM_PHONE)
        attacker = await sign_in_citizen(client, ATTACKER_PHONE)
        shadow = await create_person(client, attacker, id_number=VICTIM_ID)
        officer = await sign_in_staff(ctx, client, "health_officer")

        confirmed = await confirm_as_an_officer(client, officer, VICTIM_ID, VICTIM_PHONE)

        assert confirmed.status_code == 201, confirmed.text
        assert await status_of(ctx, real) == "red"
        assert await status_of(ctx, shadow) == "green"
        assert await notified_phones(ctx, "status_change") == [VICTIM_PHONE]
        people = await client.get("/v1/people", headers=attacker)
        assert [p["status"] for p in people.json()["items"]] == ["green"]

    async def test_the_identity_number_alone_confirms_nobody_and_shows_only_masked_records(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        victim = await sign_in_citizen(client, VICTIM_PHONE)
        real = await declare_self(client, victim, VICTIM_PHONE)
        attacker = await sign_in_citizen(client, ATTACKER_PHONE)
        shadow = await create_person(client, attacker, id_number=VICTIM_ID)
        officer = await sign_in_staff(ctx, client, "health_officer")

        answer = await client.post("/v1/cases", json={"id_number": VICTIM_ID}, headers=officer)

        assert answer.status_code == 409, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert problem["code"] == "choose_record"
        assert {c["person_id"] for c in problem["candidates"]} == {real, shadow}
        for secret in (VICTIM_ID, VICTIM_PHONE, ATTACKER_PHONE, "Nguyễn", "Tràng Tiền"):
            assert secret not in answer.text
        assert await status_of(ctx, real) == await status_of(ctx, shadow) == "green"
        assert await ctx.store.count("cases", {}) == 0
        assert await ctx.store.count("notifications", {"kind": "status_change"}) == 0

    async def test_with_the_patients_phone_their_record_follows_at_once(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        victim = await sign_in_citizen(client, VICTIM_PHONE)
        real = await declare_self(client, victim, VICTIM_PHONE)
        attacker = await sign_in_citizen(client, ATTACKER_PHONE)
        # The attacker may even type the victim's phone on the form: the phone that counts
        # is the one the account signed in with.
        answer = await client.post(
            "/v1/declarations",
            json=declaration_body(VICTIM_PHONE, VICTIM_ID),
            headers={**attacker, "Idempotency-Key": secrets.token_hex(8)},
        )
        shadow = answer.json()["person_id"]
        officer = await sign_in_staff(ctx, client, "health_officer")

        confirmed = await client.post(
            "/v1/cases", json={"id_number": VICTIM_ID, "phone": VICTIM_PHONE}, headers=officer
        )

        assert confirmed.status_code == 201, confirmed.text
        assert await status_of(ctx, real) == "red"
        assert await status_of(ctx, shadow) == "green"
        assert await notified_phones(ctx, "status_change") == [VICTIM_PHONE]


class TestTheMaskedRecordsShownAreAudited:
    async def test_each_account_sees_in_its_access_log_that_its_record_was_shown(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        victim = await sign_in_citizen(client, VICTIM_PHONE)
        real = await declare_self(client, victim, VICTIM_PHONE)
        attacker = await sign_in_citizen(client, ATTACKER_PHONE)
        shadow = await create_person(client, attacker, id_number=VICTIM_ID)
        bystander = await sign_in_citizen(client, BYSTANDER_PHONE)
        other = await create_person(client, bystander)
        officer = await sign_in_staff(ctx, client, "health_officer", username="officer-lan")

        answer = await client.post("/v1/cases", json={"id_number": VICTIM_ID}, headers=officer)
        assert answer.status_code == 409, answer.text

        # The audit trail: one showing by that officer, naming exactly the people shown.
        entries = await ctx.store.find("audit_log", {"action": "case_record_shown"})
        assert sorted(str(e["person_id"]) for e in entries) == sorted([real, shadow])
        assert len({e["subject_id"] for e in entries}) == 1
        assert {(e["role"], e["user"]) for e in entries} == {
            ("health_officer", await staff_id(ctx, "officer-lan"))
        }
        # Each account's access log: its own record shown, nobody else's.
        for headers, person_id in ((victim, real), (attacker, shadow)):
            log = await client.get("/v1/me/access-log", headers=headers)
            shown = [i for i in log.json()["items"] if i["action"] == "case_record_shown"]
            assert [(i["person_id"], i["role"]) for i in shown] == [(person_id, "health_officer")]
            assert "officer-lan" not in log.text
        log = await client.get("/v1/me/access-log", headers=bystander)
        assert [i for i in log.json()["items"] if i["person_id"] == other] == []


class TestAParentLearnsTheirChildIsACase:
    async def test_by_identity_number_and_the_parents_phone(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        parent = await sign_in_citizen(client, PARENT_PHONE)
        child = await create_person(client, parent, id_number=CHILD_ID)
        officer = await sign_in_staff(ctx, client, "health_officer")
        confirmed = await client.post(
            "/v1/cases", json={"id_number": CHILD_ID, "phone": PARENT_PHONE}, headers=officer
        )
        assert confirmed.status_code == 201, confirmed.text
        assert await status_of(ctx, child) == "red"
        assert await notified_phones(ctx, "status_change") == [PARENT_PHONE]

    async def test_by_the_record_the_officer_chose(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        parent = await sign_in_citizen(client, PARENT_PHONE)
        child = await create_person(client, parent, id_number=CHILD_ID)
        officer = await sign_in_staff(ctx, client, "health_officer")
        confirmed = await confirm_as_an_officer(client, officer, CHILD_ID, PARENT_PHONE)
        assert confirmed.status_code == 201, confirmed.text
        assert await status_of(ctx, child) == "red"
        assert await notified_phones(ctx, "status_change") == [PARENT_PHONE]


class TestContactsComeOnlyFromTheConfirmedRecord:
    async def test_a_shadow_checked_in_at_a_venue_makes_nobody_there_a_contact(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        victim = await sign_in_citizen(client, VICTIM_PHONE)
        await declare_self(client, victim, VICTIM_PHONE)
        attacker = await sign_in_citizen(client, ATTACKER_PHONE)
        shadow = await create_person(client, attacker, id_number=VICTIM_ID)
        bystander = await sign_in_citizen(client, BYSTANDER_PHONE)
        present = await create_person(client, bystander)
        code = await person_token(client, bystander, present)
        venue = await new_checkpoint(ctx, client, name="Chợ Đồng Xuân", kind="market")
        # The attacker checks the shadow in from the venue's poster, where the bystander is.
        await check_in(client, bystander, venue["venue_token"], present)
        await check_in(client, attacker, venue["venue_token"], shadow)
        officer = await sign_in_staff(ctx, client, "health_officer")

        confirmed = await confirm_as_an_officer(client, officer, VICTIM_ID, VICTIM_PHONE)

        assert confirmed.status_code == 201, confirmed.text
        assert confirmed.json()["contacts"] == 0
        assert await status_of(ctx, present) == "green"
        assert await ctx.store.count("revocations", {}) == 0
        assert await notified_phones(ctx, "exposure") == []
        again = await client.get(f"/v1/people/{present}/qr", headers=bystander)
        assert again.json()["token"] == code  # still live, not revoked

    async def test_the_confirmed_records_own_check_in_still_finds_its_contacts(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        victim = await sign_in_citizen(client, VICTIM_PHONE)
        real = await declare_self(client, victim, VICTIM_PHONE)
        bystander = await sign_in_citizen(client, BYSTANDER_PHONE)
        present = await create_person(client, bystander)
        venue = await new_checkpoint(ctx, client, name="Chợ Đồng Xuân", kind="market")
        await check_in(client, bystander, venue["venue_token"], present)
        await check_in(client, victim, venue["venue_token"], real)
        officer = await sign_in_staff(ctx, client, "health_officer")

        confirmed = await confirm_as_an_officer(client, officer, VICTIM_ID, VICTIM_PHONE)

        assert confirmed.status_code == 201, confirmed.text
        assert confirmed.json()["contacts"] == 1
        assert await status_of(ctx, present) == "yellow"
        assert await notified_phones(ctx, "exposure") == [BYSTANDER_PHONE]
