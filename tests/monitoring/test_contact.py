"""An episode's contact card: the ward's officer reaches the person, nobody else learns
anything, every read is in the citizen's access log, and no log line names anyone."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest

from core.clock import local_day, utcnow
from core.context import Context
from core.principals import Area, Principal
from core.settings import Settings
from core.storage import Delete, Document, Insert
from entry.handover import hand_over_contacts
from monitoring.contact import ARRIVAL_CONTACT_CONTEXT, ContactClosed, contact_card
from monitoring.service import open_contact_episode
from people import repository as people_repository
from people.repository import get_person
from tests.conftest import sign_in_citizen
from tests.entry.conftest import arrive, family, submit
from tests.monitoring.conftest import HANOI, TRANG_TIEN, officer, person_under_follow_up
from tests.rights.conftest import everything_stored

OTHER_HANOI_WARD = 73
HO_CHI_MINH_CITY, BEN_NGHE = 79, 26743
HOLDER_PHONE = "+84900000001"  # the account sign_in_citizen signs in with
OWN_PHONE = "+84912345678"


async def declare_self(
    client: httpx.AsyncClient,
    citizen: dict[str, str],
    *,
    id_number: str | None = None,
    home: tuple[int, int, str] = (HANOI, TRANG_TIEN, "9 Hàng Bài"),
) -> str:
    """The account holder themselves, with their own phone, living at 9 Hàng Bài (or at
    `home`; the same `id_number` declares the same person again)."""
    province, ward, street = home
    answer = await client.post(
        "/v1/declarations",
        json={
            "person": {
                "full_name": "Lê Văn Cường",
                "relation": "self",
                "id_number": id_number or f"0011{secrets.randbelow(10**8):08d}",
                "birth_year": 1979,
                "gender": "male",
                "nationality": "VN",
                "phone": OWN_PHONE,
            },
            "address": {"province": province, "ward": ward, "street": street},
            "symptoms": [],
        },
        headers={**citizen, "Idempotency-Key": secrets.token_hex(8)},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["person_id"])


async def traced(ctx: Context, person_id: str) -> Document:
    """The episode tracing opens for a contact, at the ward of the person's record."""
    person = await get_person(ctx.store, person_id)
    assert person is not None
    now = utcnow()
    await ctx.store.write(
        await open_contact_episode(ctx, person, exposure_day=local_day(now), now=now)
    )
    [episode] = await ctx.store.find("monitoring_episodes", {"person_id": person_id})
    return episode


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
            "email": None,
            "relation": "self",
            "birth_year": 1979,
            "province": HANOI,
            "ward": TRANG_TIEN,
            "street": "9 Hàng Bài",
            "moved_out_of_area": False,
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
        episode = await traced(ctx, person_id)
        assert episode["street_enc"] is None  # tracing knows the ward, not the street
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        card = (await client.get(card_url(episode["_id"]), headers=ward_officer)).json()
        assert (card["street"], card["phone"]) == ("9 Hàng Bài", OWN_PHONE)
        assert card["moved_out_of_area"] is False

    async def test_a_contact_who_moved_away_since_shows_no_street_of_another_area(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        """Traced in Tràng Tiền, then declaring a home in Hồ Chí Minh City: that street is
        not this ward's door, and where they live now is not the Hanoi officer's to know."""
        citizen = await sign_in_citizen(client)
        id_number = f"0011{secrets.randbelow(10**8):08d}"
        person_id = await declare_self(client, citizen, id_number=id_number)
        episode = await traced(ctx, person_id)
        moved = await declare_self(
            client,
            citizen,
            id_number=id_number,
            home=(HO_CHI_MINH_CITY, BEN_NGHE, "5 Đồng Khởi"),
        )
        assert moved == person_id
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        card = await client.get(card_url(episode["_id"]), headers=ward_officer)
        assert card.status_code == 200, card.text
        body = card.json()
        assert (body["province"], body["ward"], body["street"]) == (HANOI, TRANG_TIEN, None)
        assert body["moved_out_of_area"] is True
        assert (body["full_name"], body["phone"]) == ("Lê Văn Cường", OWN_PHONE)
        assert "Đồng Khởi" not in card.text
        assert str(BEN_NGHE) not in card.text
        # The episode stays Tràng Tiền's: the new home's officer is answered as for any id.
        there = await officer(ctx, client, HO_CHI_MINH_CITY, BEN_NGHE)
        assert (await client.get(card_url(episode["_id"]), headers=there)).status_code == 404

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
        assert (body["email"], body["moved_out_of_area"]) == ("m@example.kr", False)
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

    async def test_a_traveller_without_a_phone_is_reached_by_email(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        body = family(symptoms=["fever"])  # non-green: monitored once scanned in
        del body["traveller"]["phone"]
        declared = await submit(client, body)
        await arrive(ctx, client, declared)
        [episode] = await ctx.store.find(
            "monitoring_episodes", {"entry_declaration_id": declared.json()["id"]}
        )
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        card = (await client.get(card_url(episode["_id"]), headers=ward_officer)).json()
        assert (card["full_name"], card["phone"], card["phone_of"]) == ("Kim Min-jun", None, None)
        assert card["email"] == "m@example.kr"
        # Encrypted at rest like the phone: the handed-over arrival holds no email in clear.
        [arrival] = await ctx.store.find("monitoring_arrivals", {"_id": declared.json()["id"]})
        assert "m@example.kr" not in repr(arrival)

    async def test_a_traveller_with_neither_has_none(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        body = family(symptoms=["fever"])
        del body["traveller"]["phone"], body["traveller"]["email"]
        declared = await submit(client, body)
        await arrive(ctx, client, declared)
        [episode] = await ctx.store.find(
            "monitoring_episodes", {"entry_declaration_id": declared.json()["id"]}
        )
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        card = (await client.get(card_url(episode["_id"]), headers=ward_officer)).json()
        assert (card["full_name"], card["phone"], card["email"]) == ("Kim Min-jun", None, None)


class TestArrivalsHandedOverBeforeTheContact:
    async def test_migrate_adds_the_travellers_contact_once(
        self, ctx: Context, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        declared = await submit(client, family(symptoms=["fever"]))
        await arrive(ctx, client, declared)
        entry_id = declared.json()["id"]
        [arrival] = await ctx.store.find("monitoring_arrivals", {"_id": entry_id})
        older = {k: v for k, v in arrival.items() if k not in ("contact_enc", "contact_version")}
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
        assert (after["full_name"], after["phone"], after["email"], after["street"]) == (
            "Kim Min-jun",
            "+821012345678",
            "m@example.kr",
            "1 Tràng Tiền",
        )
        assert await hand_over_contacts(ctx.store, settings) == 0
        [left] = await ctx.store.find("monitoring_arrivals", {"_id": "ent_declarationgone"})
        assert left["contact_enc"] == ""

    async def test_migrate_adds_the_email_to_a_contact_handed_over_without_it(
        self, ctx: Context, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        """Handed over with the first contact (name, phone, birth year, street): the email
        is added from the declaration; one whose declaration is gone keeps what it has."""
        body = family(symptoms=["fever"])
        del body["traveller"]["phone"]  # the email is all there is to reach them by
        declared = await submit(client, body)
        await arrive(ctx, client, declared)
        entry_id = declared.json()["id"]
        [arrival] = await ctx.store.find("monitoring_arrivals", {"_id": entry_id})
        first = {"full_name": "Kim Min-jun", "phone": None, "birth_year": 1985}
        contact = ctx.cipher.encrypt(
            orjson.dumps({**first, "street": "1 Tràng Tiền"}).decode(),
            context=ARRIVAL_CONTACT_CONTEXT,
        )
        older = {
            **{k: v for k, v in arrival.items() if k != "contact_version"},
            "contact_enc": contact,
        }
        orphan = {**older, "_id": "ent_declarationgone"}
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
        assert (before["full_name"], before["email"]) == ("Kim Min-jun", None)

        assert await hand_over_contacts(ctx.store, settings) == 2
        after = (await client.get(card_url(episode["_id"]), headers=ward_officer)).json()
        assert (after["full_name"], after["phone"], after["email"]) == (
            "Kim Min-jun",
            None,
            "m@example.kr",
        )
        assert await hand_over_contacts(ctx.store, settings) == 0
        [left] = await ctx.store.find("monitoring_arrivals", {"_id": "ent_declarationgone"})
        assert left["contact_enc"] == contact


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


class TestAReadRacingTheErasure:
    async def test_read_before_the_erasure_audited_after_it_is_404_and_names_nobody(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The card reads the person, the person's erasure runs to its end, then the read's
        audit entry would commit: it would keep the erased person's id, found by none of the
        erasure's reads. It is refused instead, and nothing is shown."""
        citizen, person_id, opened = await person_under_follow_up(ctx, client)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        read = people_repository.get_person
        erased: list[int] = []

        async def then_the_erasure(store: Any, wanted: str) -> Document | None:
            found = await read(store, wanted)
            if wanted == person_id and not erased:
                deleted = await client.delete(f"/v1/people/{person_id}", headers=citizen)
                erased.append(deleted.status_code)
            return found

        monkeypatch.setattr(people_repository, "get_person", then_the_erasure)
        card = await client.get(card_url(opened["id"]), headers=ward_officer)
        monkeypatch.undo()

        assert erased == [204]
        assert card.status_code == 404, card.text
        assert card.json()["code"] == "not_found"
        assert "Nguyễn Văn An" not in card.text
        assert person_id not in await everything_stored(ctx)


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
        await arrive(ctx, client, declared)
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
