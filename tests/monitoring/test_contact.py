"""An episode's contact card: the ward's officer reaches the person, nobody else learns
anything, every read is in the citizen's access log, and no log line names anyone."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any

import httpx
import pytest

from core.clock import local_day, utcnow
from core.context import Context
from core.principals import Area, Principal
from core.settings import Settings
from core.storage import Delete, Insert
from entry.handover import hand_over_contacts
from monitoring.contact import ContactClosed, contact_card
from monitoring.service import open_contact_episode
from people.repository import get_person
from tests.conftest import sign_in_citizen
from tests.entry.conftest import family, submit
from tests.monitoring.conftest import HANOI, TRANG_TIEN, officer, person_under_follow_up

OTHER_HANOI_WARD = 73
HOLDER_PHONE = "+84900000001"  # the account sign_in_citizen signs in with
OWN_PHONE = "+84912345678"


async def declare_self(client: httpx.AsyncClient, citizen: dict[str, str]) -> str:
    """The account holder themselves, with their own phone, living at 9 Hàng Bài."""
    answer = await client.post(
        "/v1/declarations",
        json={
            "person": {
                "full_name": "Lê Văn Cường",
                "relation": "self",
                "id_number": f"0011{secrets.randbelow(10**8):08d}",
                "birth_year": 1979,
                "gender": "male",
                "nationality": "VN",
                "phone": OWN_PHONE,
            },
            "address": {"province": HANOI, "ward": TRANG_TIEN, "street": "9 Hàng Bài"},
            "symptoms": [],
        },
        headers={**citizen, "Idempotency-Key": secrets.token_hex(8)},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["person_id"])


async def open_for(
    client: httpx.AsyncClient, headers: dict[str, str], street: str, **subject: Any
) -> str:
    opened = await client.post(
        "/v1/monitoring",
        json={
            "reason": "contact",
            "place": "home",
            "address": {"province": HANOI, "ward": TRANG_TIEN, "street": street},
            **subject,
        },
        headers=headers,
    )
    assert opened.status_code == 201, opened.text
    return str(opened.json()["id"])


def card_url(episode_id: str) -> str:
    return f"/v1/monitoring/{episode_id}/contact"


class TestTheWardsOfficerReachesThePerson:
    async def test_a_person_with_their_own_phone(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await declare_self(client, citizen)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        episode_id = await open_for(client, ward_officer, "9 Hàng Bài", person_id=person_id)
        card = await client.get(card_url(episode_id), headers=ward_officer)
        assert card.status_code == 200, card.text
        assert card.headers["cache-control"] == "private, no-store"
        assert card.json() == {
            "episode_id": episode_id,
            "person_id": person_id,
            "entry_declaration_id": None,
            "status": "active",
            "full_name": "Lê Văn Cường",
            "phone": OWN_PHONE,
            "phone_of": "self",
            "relation": "self",
            "birth_year": 1979,
            "province": HANOI,
            "ward": TRANG_TIEN,
            "street": "9 Hàng Bài",
            "place": "home",
        }

    async def test_a_dependant_is_reached_on_the_account_holders_phone(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        _, person_id, opened = await person_under_follow_up(ctx, client)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        card = (await client.get(card_url(opened["id"]), headers=ward_officer)).json()
        assert card["person_id"] == person_id
        assert (card["full_name"], card["relation"], card["birth_year"]) == (
            "Nguyễn Văn An",
            "child",
            2015,
        )
        assert (card["phone"], card["phone_of"]) == (HOLDER_PHONE, "account_holder")
        assert card["street"] == "12 Tràng Tiền"

    async def test_a_contact_found_by_tracing_is_visited_at_the_declared_street(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await declare_self(client, citizen)
        person = await get_person(ctx.store, person_id)
        assert person is not None
        now = utcnow()
        await ctx.store.write(
            await open_contact_episode(ctx, person, exposure_day=local_day(now), now=now)
        )
        [episode] = await ctx.store.find("monitoring_episodes", {"person_id": person_id})
        assert episode["street_enc"] is None  # tracing knows the ward, not the street
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        card = (await client.get(card_url(episode["_id"]), headers=ward_officer)).json()
        assert (card["street"], card["phone"]) == ("9 Hàng Bài", OWN_PHONE)

    async def test_an_arrival_shows_the_traveller_as_declared_at_the_border(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        declared = await submit(client, family())
        assert declared.status_code == 201, declared.text
        entry_id = declared.json()["id"]
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        # A green arrival: an officer opens the episode (a non-green one has it at once).
        assert declared.json()["status"] == "green"
        episode_id = await open_for(
            client, ward_officer, "1 Tràng Tiền", entry_declaration_id=entry_id
        )
        card = await client.get(card_url(episode_id), headers=ward_officer)
        assert card.status_code == 200, card.text
        body = card.json()
        assert (body["entry_declaration_id"], body["person_id"]) == (entry_id, None)
        assert (body["full_name"], body["birth_year"], body["relation"]) == (
            "Kim Min-jun",
            1985,
            None,
        )
        assert (body["phone"], body["phone_of"]) == ("+821012345678", "self")
        assert (body["province"], body["ward"], body["street"]) == (
            HANOI,
            TRANG_TIEN,
            "1 Tràng Tiền",
        )
        # No account to show it to; the operator's audit names the read.
        [entry] = await ctx.store.find(
            "audit_log", {"subject_id": episode_id, "action": "monitoring_contact"}
        )
        assert (entry["role"], entry["person_id"]) == ("health_officer", None)

    async def test_a_traveller_without_a_phone_has_none_to_call(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        body = family(symptoms=["fever"])  # non-green: monitored at once
        del body["traveller"]["phone"]
        declared = await submit(client, body)
        assert declared.status_code == 201, declared.text
        [episode] = await ctx.store.find(
            "monitoring_episodes", {"entry_declaration_id": declared.json()["id"]}
        )
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        card = (await client.get(card_url(episode["_id"]), headers=ward_officer)).json()
        assert (card["full_name"], card["phone"], card["phone_of"]) == ("Kim Min-jun", None, None)


class TestArrivalsHandedOverBeforeTheContact:
    async def test_migrate_adds_the_travellers_contact_once(
        self, ctx: Context, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        declared = await submit(client, family(symptoms=["fever"]))
        entry_id = declared.json()["id"]
        [arrival] = await ctx.store.find("monitoring_arrivals", {"_id": entry_id})
        older = {k: v for k, v in arrival.items() if k != "contact_enc"}
        orphan = {**older, "_id": "ent_declarationgone"}  # its declaration expired first
        await ctx.store.write(
            [
                Delete("monitoring_arrivals", {"_id": entry_id}),
                Insert("monitoring_arrivals", older),
                Insert("monitoring_arrivals", orphan),
            ]
        )
        [episode] = await ctx.store.find("monitoring_episodes", {"entry_declaration_id": entry_id})
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        before = (await client.get(card_url(episode["_id"]), headers=ward_officer)).json()
        assert (before["full_name"], before["phone"]) == (None, None)

        assert await hand_over_contacts(ctx.store, settings) == 2
        after = (await client.get(card_url(episode["_id"]), headers=ward_officer)).json()
        assert (after["full_name"], after["phone"], after["street"]) == (
            "Kim Min-jun",
            "+821012345678",
            "1 Tràng Tiền",
        )
        assert await hand_over_contacts(ctx.store, settings) == 0
        [left] = await ctx.store.find("monitoring_arrivals", {"_id": "ent_declarationgone"})
        assert left["contact_enc"] == ""


class TestNobodyElseLearnsAnything:
    async def test_another_wards_officer_gets_the_answer_of_an_unknown_id(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        _, _, opened = await person_under_follow_up(ctx, client)
        elsewhere = await officer(ctx, client, HANOI, OTHER_HANOI_WARD)
        theirs = await client.get(card_url(opened["id"]), headers=elsewhere)
        unknown = await client.get(card_url("mon_doesnotexist"), headers=elsewhere)
        assert theirs.status_code == unknown.status_code == 404
        assert {**theirs.json(), "request_id": None} == {**unknown.json(), "request_id": None}
        assert theirs.json()["code"] == "not_found"
        assert "Nguyễn Văn An" not in theirs.text
        assert await ctx.store.find("audit_log", {"action": "monitoring_contact"}) == []

    async def test_a_province_officer_covers_the_ward(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        _, _, opened = await person_under_follow_up(ctx, client)
        province_officer = await officer(ctx, client, HANOI, None)
        card = await client.get(card_url(opened["id"]), headers=province_officer)
        assert card.status_code == 200

    async def test_the_citizen_and_other_staff_are_forbidden(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, _, opened = await person_under_follow_up(ctx, client)
        mine = await client.get(card_url(opened["id"]), headers=citizen)
        assert mine.status_code == 403
        assert mine.headers["content-type"] == "application/problem+json"
        nobody = await client.get(card_url(opened["id"]))
        assert nobody.status_code == 401


class TestEveryReadIsAudited:
    async def test_the_read_is_in_the_citizens_access_log_in_their_language(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id, opened = await person_under_follow_up(ctx, client)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        for _ in range(2):
            assert (await client.get(card_url(opened["id"]), headers=ward_officer)).is_success
        entries = await ctx.store.find(
            "audit_log", {"person_id": person_id, "action": "monitoring_contact"}
        )
        assert [(e["role"], e["subject_id"]) for e in entries] == [
            ("health_officer", opened["id"])
        ] * 2
        vi = await client.get("/v1/me/access-log", headers={**citizen, "Accept-Language": "vi"})
        shown = [i for i in vi.json()["items"] if i["action"] == "monitoring_contact"]
        assert len(shown) == 2
        assert shown[0]["what"] == (
            "Xem họ tên, số điện thoại và địa chỉ để gọi điện hoặc đến thăm khi theo dõi y tế"
        )
        assert shown[0]["role"] == "health_officer"
        en = await client.get("/v1/me/access-log", headers={**citizen, "Accept-Language": "en"})
        [first, *_] = [i for i in en.json()["items"] if i["action"] == "monitoring_contact"]
        assert first["what"] == (
            "Saw the name, phone and address to call or visit for medical monitoring"
        )


class TestAClosedEpisode:
    async def test_is_readable_for_a_week_after_closing_then_410(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        _, _, opened = await person_under_follow_up(ctx, client)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        closed = await client.post(
            f"/v1/monitoring/{opened['id']}/close", json={"outcome": "lost"}, headers=ward_officer
        )
        assert closed.status_code == 200, closed.text
        card = await client.get(card_url(opened["id"]), headers=ward_officer)
        assert card.status_code == 200
        assert card.json()["status"] == "closed"
        [episode] = await ctx.store.find("monitoring_episodes", {"_id": opened["id"]})
        # As the service would answer eight days later: no clock to move in a request.
        later = episode["closed_at"] + timedelta(days=8)
        ward = Principal("usr_ward", "health_officer", area=Area(HANOI, TRANG_TIEN))
        with pytest.raises(ContactClosed) as gone:
            await contact_card(ctx, ward, opened["id"], now=later)
        assert (gone.value.status, gone.value.code) == (410, "monitoring_contact_closed")
        # A week after closing it still reads, audited as any read.
        assert (await contact_card(ctx, ward, opened["id"], now=later - timedelta(days=2))).phone


class TestNothingPersonalInTheLogs:
    async def test_logs_carry_ids_not_names_phones_or_streets(
        self, ctx: Context, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        citizen = await sign_in_citizen(client)
        person_id = await declare_self(client, citizen)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        episode_id = await open_for(client, ward_officer, "9 Hàng Bài", person_id=person_id)
        declared = await submit(client, family(symptoms=["fever"]))
        [arrival] = await ctx.store.find(
            "monitoring_episodes", {"entry_declaration_id": declared.json()["id"]}
        )
        for shown in (episode_id, arrival["_id"]):
            assert (await client.get(card_url(shown), headers=ward_officer)).is_success
        logged = "\n".join(
            f"{record.getMessage()} {getattr(record, 'fields', '')}" for record in caplog.records
        )
        assert episode_id in logged
        for secret in [
            "Lê Văn Cường",
            OWN_PHONE,
            "9 Hàng Bài",
            "Kim Min-jun",
            "+821012345678",
            "1 Tràng Tiền",
        ]:
            assert secret not in logged, secret
