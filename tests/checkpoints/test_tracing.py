"""Contact tracing: confirming a case turns the person red and everyone at the same
checkpoint within the exposure window yellow, revokes their codes and notifies their
account; people outside the window or elsewhere are untouched."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from checkpoints import checkins, service
from core.clock import local_day
from core.context import Context
from notifications.outbox import PARAMS_CONTEXT, RECIPIENT_CONTEXT
from people.repository import get_person
from tests.checkpoints.helpers import (
    create_person,
    new_checkpoint,
    person_token,
    scan,
    shifted,
    staff_headers,
    unverified_parts,
)
from tests.conftest import sign_in_citizen, sign_in_staff

PHONES = {
    "A": "+84900000001",
    "B": "+84900000002",
    "C": "+84900000003",
    "D": "+84900000004",
    "E": "+84900000005",
}


async def notifications(ctx: Context, kind: str) -> list[dict[str, Any]]:
    """The outbox entries of one kind, decrypted: who gets what."""
    found = await ctx.store.find("notifications", {"kind": kind}, sort=[("created_at", 1)])
    return [
        {
            "to": ctx.cipher.decrypt(doc["to_enc"], context=RECIPIENT_CONTEXT),
            "params": orjson.loads(ctx.cipher.decrypt(doc["params_enc"], context=PARAMS_CONTEXT)),
            "locale": doc["locale"],
        }
        for doc in found
    ]


async def status_of(ctx: Context, person_id: str) -> str:
    person = await get_person(ctx.store, person_id)
    assert person is not None
    return str(person["status"])


@pytest.fixture
async def town(
    client: httpx.AsyncClient, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """A and B scanned at X 30 minutes apart; C at X four hours before A; D at Y with A."""
    people: dict[str, Any] = {}
    for name, phone in PHONES.items():
        citizen = await sign_in_citizen(client, phone)
        person_id = await create_person(client, citizen)
        people[name] = {
            "citizen": citizen,
            "id": person_id,
            "token": await person_token(client, citizen, person_id),
        }
    x = await new_checkpoint(ctx, client, name="Bệnh viện Bạch Mai", kind="hospital")
    y = await new_checkpoint(ctx, client, name="Chợ Đồng Xuân", kind="market")
    staff_x = await staff_headers(ctx, "checkpoint_staff", x["id"])
    staff_y = await staff_headers(ctx, "checkpoint_staff", y["id"])
    for who, checkpoint, staff, minutes in (
        ("A", x, staff_x, -60),
        ("B", x, staff_x, -30),
        ("C", x, staff_x, -60 - 240),
        ("D", y, staff_y, -60),
    ):
        clock = shifted(minutes)
        people[who]["scanned_at"] = clock()
        monkeypatch.setattr(service, "utcnow", clock)
        assert (await scan(client, staff, checkpoint["id"], people[who]["token"]))[
            "decision"
        ] == "allow"
    monkeypatch.undo()
    officer = await sign_in_staff(ctx, client, "health_officer")
    return {
        "people": people,
        "x": x,
        "y": y,
        "staff_x": staff_x,
        "staff_y": staff_y,
        "officer": officer,
    }


class TestConfirmingACase:
    async def test_contacts_within_the_window_turn_yellow_and_are_told(
        self, client: httpx.AsyncClient, ctx: Context, town: dict[str, Any]
    ) -> None:
        people = town["people"]
        response = await client.post(
            "/v1/cases", json={"person_id": people["A"]["id"]}, headers=town["officer"]
        )
        assert response.status_code == 201, response.text
        case = response.json()
        assert case["contacts"] == 1
        assert case["notified"] == 1

        a = await get_person(ctx.store, people["A"]["id"])
        assert a is not None
        assert (a["status"], a["status_source"]) == ("red", "case")
        b = await get_person(ctx.store, people["B"]["id"])
        assert b is not None
        assert (b["status"], b["status_source"]) == ("yellow", "tracing")
        # The day B was there (not today: the test may run just after midnight in Vietnam).
        exposure_day = local_day(people["B"]["scanned_at"]).isoformat()
        # Only the day: not who, not where.
        assert b["status_reasons"] == [{"code": "exposure", "day": exposure_day}]
        assert await status_of(ctx, people["C"]["id"]) == "green"
        assert await status_of(ctx, people["D"]["id"]) == "green"

        # B's code: refused at the next scan, and on the revocation list scanners sync.
        result = await scan(client, town["staff_x"], town["x"]["id"], people["B"]["token"])
        assert result["decision"] == "deny"
        assert result["status"] == "yellow"
        listed = await client.get("/v1/revocations", headers=town["staff_x"])
        revoked = listed.json()["revoked"]
        b_jti = unverified_parts(people["B"]["token"])[1]["jti"]
        assert b_jti in {entry["jti"] for entry in revoked}
        # C and D carry on.
        for who, checkpoint, staff in (("C", "x", "staff_x"), ("D", "y", "staff_y")):
            result = await scan(client, town[staff], town[checkpoint]["id"], people[who]["token"])
            assert result["decision"] == "allow", who

        assert await notifications(ctx, "exposure") == [
            {"to": PHONES["B"], "params": {"day": exposure_day}, "locale": "vi"}
        ]
        assert await notifications(ctx, "status_change") == [
            {
                "to": PHONES["A"],
                "params": {"status": "red", "reason_code": "confirmed_case"},
                "locale": "vi",
            }
        ]
        stored = await ctx.store.get("cases", case["id"])
        assert stored is not None
        assert stored["person_ids"] == [people["A"]["id"]]
        assert stored["contacts"] == 1

    async def test_confirming_again_is_the_same_case_and_notifies_nobody_twice(
        self, client: httpx.AsyncClient, ctx: Context, town: dict[str, Any]
    ) -> None:
        body = {"person_id": town["people"]["A"]["id"]}
        first = await client.post("/v1/cases", json=body, headers=town["officer"])
        second = await client.post("/v1/cases", json=body, headers=town["officer"])
        assert first.status_code == second.status_code == 201
        assert second.json()["id"] == first.json()["id"]
        assert second.json()["contacts"] == 1
        assert second.json()["notified"] == 1  # by this case, in all
        assert len(await notifications(ctx, "exposure")) == 1
        assert len(await notifications(ctx, "status_change")) == 1
        # One confirmation, one entry in the patient's access log.
        confirmed = await ctx.store.find("audit_log", {"action": "case_confirmed"})
        assert [(e["person_id"], e["subject_id"]) for e in confirmed] == [
            (town["people"]["A"]["id"], first.json()["id"])
        ]

    async def test_found_by_identity_number_and_phone_only_on_that_account(
        self, client: httpx.AsyncClient, ctx: Context, town: dict[str, Any]
    ) -> None:
        """The same number declared from two accounts is two records; the phone says whose
        (tests/checkpoints/test_shadow_identities.py: why the number alone picks none)."""
        citizen = await sign_in_citizen(client, PHONES["E"])
        on_e = await create_person(client, citizen, id_number="079 190 012 345")
        on_a = await create_person(client, town["people"]["A"]["citizen"], id_number="079190012345")
        response = await client.post(
            "/v1/cases",
            json={"id_number": "079190012345", "phone": PHONES["E"]},
            headers=town["officer"],
        )
        assert response.status_code == 201, response.text
        assert await status_of(ctx, on_e) == "red"
        assert await status_of(ctx, on_a) == "green"
        stored = await ctx.store.get("cases", response.json()["id"])
        assert stored is not None
        assert stored["person_ids"] == [on_e]


class TestCheckInContacts:
    async def test_a_check_in_near_the_cases_visit_makes_a_contact_of_a_dependant(
        self, client: httpx.AsyncClient, ctx: Context, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        venue = await new_checkpoint(ctx, client, name="Trường Tiểu học Kim Đồng", kind="school")
        case_holder = await sign_in_citizen(client, PHONES["A"])
        parent = await sign_in_citizen(client, PHONES["E"])
        case_id = await create_person(client, case_holder)
        child = await create_person(client, parent)  # a dependant: alerts go to the parent
        far_away = await create_person(client, parent)
        for citizen, person_id, minutes in (
            (case_holder, case_id, -90),
            (parent, child, -45),
            (parent, far_away, -90 - 300),
        ):
            monkeypatch.setattr(checkins, "utcnow", shifted(minutes))
            response = await client.post(
                "/v1/checkins",
                json={"venue_token": venue["venue_token"], "person_id": person_id},
                headers=citizen,
            )
            assert response.status_code == 201, response.text
        monkeypatch.undo()

        officer = await sign_in_staff(ctx, client, "health_officer")
        response = await client.post("/v1/cases", json={"person_id": case_id}, headers=officer)
        assert response.status_code == 201
        assert response.json()["contacts"] == 1
        assert await status_of(ctx, child) == "yellow"
        assert await status_of(ctx, far_away) == "green"
        exposures = await notifications(ctx, "exposure")
        assert [n["to"] for n in exposures] == [PHONES["E"]]


class TestWhoMayConfirm:
    async def test_only_health_officers(self, client: httpx.AsyncClient, ctx: Context) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        for role in ("checkpoint_staff", "admin", "analyst"):
            headers = await staff_headers(ctx, role)
            response = await client.post(
                "/v1/cases", json={"person_id": person_id}, headers=headers
            )
            assert response.status_code == 403, role
        response = await client.post("/v1/cases", json={"person_id": person_id}, headers=citizen)
        assert response.status_code == 403
        assert await status_of(ctx, person_id) == "green"

    async def test_bad_requests(self, client: httpx.AsyncClient, ctx: Context) -> None:
        officer = await staff_headers(ctx, "health_officer")
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        tomorrow = "2999-01-01T00:00:00+07:00"
        for body, status in (
            ({"person_id": "per_NOBODY"}, 404),
            ({"id_number": "000000000000"}, 404),
            ({"person_id": person_id, "confirmed_at": tomorrow}, 422),
            ({"person_id": person_id, "confirmed_at": "2026-01-01T00:00:00"}, 422),
            ({"person_id": person_id, "id_number": "001190012345"}, 422),
            ({}, 422),
        ):
            response = await client.post("/v1/cases", json=body, headers=officer)
            assert response.status_code == status, body
            assert response.headers["content-type"] == "application/problem+json"
        assert await status_of(ctx, person_id) == "green"
