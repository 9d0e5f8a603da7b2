"""Every traced contact is held by tracing for the look-back, whatever their status was. A
contact already yellow from their own declared fever kept a declaration's status: no hold,
no message, and a declaration of no symptoms the next day made them green (and a scan let
them in) while their contact episode ran. A red contact stays red, tracing's hold
remembered for when the red is gone. Someone already confirmed as a case is not turned into
the contact of a later case."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import httpx
import pytest

from checkpoints import checkins
from core.clock import local_day, utcnow
from core.context import Context
from notifications.outbox import RECIPIENT_CONTEXT
from people.repository import get_person, set_status
from tests.checkpoints.helpers import (
    new_checkpoint,
    person_token,
    scan,
    shifted,
    staff_headers,
)
from tests.conftest import sign_in_citizen
from tests.declarations.conftest import declaration

CASE_PHONE, CONTACT_PHONE = "+84900000001", "+84900000002"
CASE_ID, CONTACT_ID = "001190011111", "001190022222"


async def declare(
    client: httpx.AsyncClient,
    citizen: dict[str, str],
    phone: str,
    id_number: str,
    *,
    symptoms: tuple[str, ...] = (),
    exposed: bool = False,
) -> dict[str, Any]:
    """`POST /v1/declarations` for the account holder; `exposed` ticks "close contact of a
    confirmed case", which the rules judge red."""
    body = declaration(symptoms=list(symptoms))
    body["person"] = {**body["person"], "id_number": id_number, "phone": phone}
    if exposed:
        body["exposure"] = {**body["exposure"], "confirmed_case": True}
    answer = await client.post(
        "/v1/declarations",
        json=body,
        headers={**citizen, "Idempotency-Key": secrets.token_hex(8)},
    )
    assert answer.status_code == 201, answer.text
    declared: dict[str, Any] = answer.json()
    return declared


async def check_in(
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    venue: dict[str, Any],
    citizen: dict[str, str],
    person_id: str,
    minutes: int,
) -> None:
    monkeypatch.setattr(checkins, "utcnow", shifted(minutes))
    answer = await client.post(
        "/v1/checkins",
        json={"venue_token": venue["venue_token"], "person_id": person_id},
        headers=citizen,
    )
    monkeypatch.undo()
    assert answer.status_code == 201, answer.text


async def confirm(client: httpx.AsyncClient, ctx: Context, person_id: str) -> dict[str, Any]:
    officer = await staff_headers(ctx, "health_officer")
    answer = await client.post("/v1/cases", json={"person_id": person_id}, headers=officer)
    assert answer.status_code == 201, answer.text
    case: dict[str, Any] = answer.json()
    return case


async def told_of_exposure(ctx: Context) -> list[str]:
    """The phones an exposure message is queued for."""
    found = await ctx.store.find("notifications", {"kind": "exposure"})
    return sorted(ctx.cipher.decrypt(doc["to_enc"], context=RECIPIENT_CONTEXT) for doc in found)


async def contact_episodes(ctx: Context, person_id: str) -> list[dict[str, Any]]:
    return await ctx.store.find(
        "monitoring_episodes", {"person_id": person_id, "reason": "contact"}
    )


async def exposure_day(ctx: Context, person_id: str) -> str:
    """The day of the contact's check-in, as their status reason names it."""
    [visit] = await ctx.store.find("checkins", {"person_id": person_id})
    return local_day(visit["last_seen_at"]).isoformat()


@pytest.fixture
async def venue(ctx: Context, client: httpx.AsyncClient) -> dict[str, Any]:
    return await new_checkpoint(ctx, client, name="Chợ Đồng Xuân", kind="market")


@pytest.fixture
async def patient(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, venue: dict[str, Any]
) -> dict[str, Any]:
    """The person about to be confirmed, checked in at the market 90 minutes ago."""
    citizen = await sign_in_citizen(client, CASE_PHONE)
    person_id = (await declare(client, citizen, CASE_PHONE, CASE_ID))["person_id"]
    await check_in(client, monkeypatch, venue, citizen, person_id, -90)
    return {"citizen": citizen, "id": person_id}


@pytest.fixture
async def contact(client: httpx.AsyncClient) -> dict[str, Any]:
    """Who will have been at the market 45 minutes ago: signed in, declared by each test."""
    citizen = await sign_in_citizen(client, CONTACT_PHONE)
    return {"citizen": citizen}


class TestAContactAlreadyYellow:
    async def test_is_held_by_tracing_told_and_cannot_declare_it_down(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        monkeypatch: pytest.MonkeyPatch,
        venue: dict[str, Any],
        patient: dict[str, Any],
        contact: dict[str, Any],
    ) -> None:
        citizen = contact["citizen"]
        fever = await declare(client, citizen, CONTACT_PHONE, CONTACT_ID, symptoms=("fever",))
        assert fever["status"] == "yellow"
        person_id = fever["person_id"]
        await check_in(client, monkeypatch, venue, citizen, person_id, -45)

        case = await confirm(client, ctx, patient["id"])

        assert (case["contacts"], case["notified"]) == (1, 1)
        person = await get_person(ctx.store, person_id)
        assert person is not None
        assert (person["status"], person["status_source"]) == ("yellow", "tracing")
        day = await exposure_day(ctx, person_id)
        assert person["status_reasons"] == [{"code": "exposure", "day": day}]
        assert await told_of_exposure(ctx) == [CONTACT_PHONE]
        assert len(await contact_episodes(ctx, person_id)) == 1
        # No symptoms any more: still yellow, held by tracing, and a scan still refuses.
        calm = await declare(client, citizen, CONTACT_PHONE, CONTACT_ID)
        assert calm["status"] == "yellow"
        assert [r["code"] for r in calm["reasons"]] == ["no_risk", "status_held_by_tracing"]
        staff = await staff_headers(ctx, "checkpoint_staff", venue["id"])
        token = await person_token(client, citizen, person_id)
        assert (await scan(client, staff, venue["id"], token))["decision"] == "deny"


class TestAContactAlreadyRed:
    async def test_stays_red_with_the_tracing_hold_remembered_and_is_told(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        monkeypatch: pytest.MonkeyPatch,
        venue: dict[str, Any],
        patient: dict[str, Any],
        contact: dict[str, Any],
    ) -> None:
        citizen = contact["citizen"]
        red = await declare(client, citizen, CONTACT_PHONE, CONTACT_ID, exposed=True)
        assert red["status"] == "red"
        person_id = red["person_id"]
        await check_in(client, monkeypatch, venue, citizen, person_id, -45)

        case = await confirm(client, ctx, patient["id"])

        assert (case["contacts"], case["notified"]) == (1, 1)
        person = await get_person(ctx.store, person_id)
        assert person is not None
        assert (person["status"], person["status_source"]) == ("red", "declaration")
        assert (person["hold_status"], person["hold_source"]) == ("yellow", "tracing")
        day = await exposure_day(ctx, person_id)
        assert {"code": "exposure", "day": day} in person["status_reasons"]
        assert await told_of_exposure(ctx) == [CONTACT_PHONE]
        assert len(await contact_episodes(ctx, person_id)) == 1
        # The red is the declaration's to lower, but only down to tracing's yellow.
        calm = await declare(client, citizen, CONTACT_PHONE, CONTACT_ID)
        assert calm["status"] == "yellow"
        assert [r["code"] for r in calm["reasons"]] == ["no_risk", "status_held_by_tracing"]


class TestConfirmingAgain:
    async def test_tells_no_held_contact_twice(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        monkeypatch: pytest.MonkeyPatch,
        venue: dict[str, Any],
        patient: dict[str, Any],
        contact: dict[str, Any],
    ) -> None:
        citizen = contact["citizen"]
        red = await declare(client, citizen, CONTACT_PHONE, CONTACT_ID, exposed=True)
        await check_in(client, monkeypatch, venue, citizen, red["person_id"], -45)
        first = await confirm(client, ctx, patient["id"])
        held = await get_person(ctx.store, red["person_id"])

        again = await confirm(client, ctx, patient["id"])

        assert again["id"] == first["id"]
        assert (again["contacts"], again["notified"]) == (1, 1)
        assert await told_of_exposure(ctx) == [CONTACT_PHONE]
        assert await get_person(ctx.store, red["person_id"]) == held
        assert len(await contact_episodes(ctx, red["person_id"])) == 1


class TestAnOlderTracingHold:
    async def test_is_renewed_by_a_new_exposure(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        monkeypatch: pytest.MonkeyPatch,
        venue: dict[str, Any],
        patient: dict[str, Any],
        contact: dict[str, Any],
    ) -> None:
        """Held by an earlier case ten days ago: this exposure holds them for the look-back
        from now, and tells them of it."""
        citizen = contact["citizen"]
        person_id = (await declare(client, citizen, CONTACT_PHONE, CONTACT_ID))["person_id"]
        person = await get_person(ctx.store, person_id)
        assert person is not None
        long_ago = utcnow() - timedelta(days=10)
        earlier = {"code": "exposure", "day": local_day(long_ago).isoformat()}
        traced = set_status(person, "yellow", [earlier], source="tracing", now=long_ago)
        await ctx.store.write([traced])
        await check_in(client, monkeypatch, venue, citizen, person_id, -45)

        case = await confirm(client, ctx, patient["id"])

        assert case["notified"] == 1
        renewed = await get_person(ctx.store, person_id)
        assert renewed is not None
        assert (renewed["status"], renewed["status_source"]) == ("yellow", "tracing")
        assert renewed["status_changed_at"] > long_ago + timedelta(days=9)
        day = await exposure_day(ctx, person_id)
        assert renewed["status_reasons"] == [{"code": "exposure", "day": day}]
        assert await told_of_exposure(ctx) == [CONTACT_PHONE]


class TestAConfirmedCase:
    async def test_is_not_the_contact_of_a_later_case(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        monkeypatch: pytest.MonkeyPatch,
        venue: dict[str, Any],
        patient: dict[str, Any],
        contact: dict[str, Any],
    ) -> None:
        citizen = contact["citizen"]
        person_id = (await declare(client, citizen, CONTACT_PHONE, CONTACT_ID))["person_id"]
        await check_in(client, monkeypatch, venue, citizen, person_id, -45)
        # Confirmed first: the patient-to-be is their contact.
        assert (await confirm(client, ctx, person_id))["contacts"] == 1
        assert await told_of_exposure(ctx) == [CASE_PHONE]

        later = await confirm(client, ctx, patient["id"])

        assert (later["contacts"], later["notified"]) == (0, 0)
        case = await get_person(ctx.store, person_id)
        assert case is not None
        assert (case["status"], case["status_source"]) == ("red", "case")
        assert case.get("hold_source") is None
        assert await contact_episodes(ctx, person_id) == []
        assert await told_of_exposure(ctx) == [CASE_PHONE]
