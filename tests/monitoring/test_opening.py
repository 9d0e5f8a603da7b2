"""Opening an episode: for whom an officer may open one, and what an opening leaves behind."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta
from typing import Any

import httpx
import pytest

from core.clock import local_day, utcnow
from core.context import Context
from core.storage import DuplicateKey
from monitoring.repository import insert_arrival
from monitoring.service import (
    Subject,
    Traveller,
    arrival_episode_ops,
    arrival_ops,
    episode_document,
    opening_ops,
)
from tests.conftest import sign_in_citizen
from tests.monitoring.conftest import HANOI, TRANG_TIEN, officer

HO_CHI_MINH, SAIGON_WARD = 79, 26506


async def declared_in(
    client: httpx.AsyncClient, citizen: dict[str, str], province: int, ward: int
) -> str:
    """A dependant of the citizen, declared as living in the given ward."""
    answer = await client.post(
        "/v1/declarations",
        json={
            "person": {
                "full_name": "Trần Thị Bình",
                "relation": "child",
                "id_number": f"0791{secrets.randbelow(10**8):08d}",
                "birth_year": 2014,
                "gender": "female",
                "nationality": "VN",
            },
            "address": {"province": province, "ward": ward, "street": "5 Lê Lợi"},
            "symptoms": [],
        },
        headers={**citizen, "Idempotency-Key": secrets.token_hex(8)},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["person_id"])


def in_trang_tien(**subject: Any) -> dict[str, Any]:
    return {
        "reason": "contact",
        "place": "home",
        "address": {"province": HANOI, "ward": TRANG_TIEN, "street": "12 Tràng Tiền"},
        **subject,
    }


class TestOnlyPeopleOfTheArea:
    async def test_a_resident_elsewhere_is_answered_as_if_they_did_not_exist(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        saigon_person = await declared_in(client, citizen, HO_CHI_MINH, SAIGON_WARD)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        outside = await client.post(
            "/v1/monitoring", json=in_trang_tien(person_id=saigon_person), headers=ward_officer
        )
        missing = await client.post(
            "/v1/monitoring", json=in_trang_tien(person_id="per_nobody"), headers=ward_officer
        )
        assert (outside.status_code, missing.status_code) == (404, 404)
        same = ("type", "code", "title", "detail")
        assert [outside.json()[k] for k in same] == [missing.json()[k] for k in same]
        assert await ctx.store.count("monitoring_episodes", {"person_id": saigon_person}) == 0
        # Nor can a report turn them yellow: there is no episode to report on, and the
        # officers of their own city see nothing.
        people = (await client.get("/v1/people", headers=citizen)).json()["items"]
        assert {p["person_id"]: p["status"] for p in people}[saigon_person] == "green"
        saigon_officer = await officer(ctx, client, HO_CHI_MINH, SAIGON_WARD)
        listed = await client.get("/v1/monitoring", headers=saigon_officer)
        assert listed.json()["items"] == []

    async def test_a_resident_of_another_ward_of_the_same_province_is_404_too(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        neighbour = await declared_in(client, citizen, HANOI, 4)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        answer = await client.post(
            "/v1/monitoring", json=in_trang_tien(person_id=neighbour), headers=ward_officer
        )
        assert answer.status_code == 404
        # The province's officer may follow them up (at the address they give).
        province_officer = await officer(ctx, client, HANOI, None)
        opened = await client.post(
            "/v1/monitoring", json=in_trang_tien(person_id=neighbour), headers=province_officer
        )
        assert opened.status_code == 201, opened.text

    async def test_an_arrival_staying_elsewhere_is_404(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        now = utcnow()
        await ctx.store.write(
            [
                insert_arrival(
                    {
                        "_id": "edc_SAIGONSTAY",
                        "province": HO_CHI_MINH,
                        "ward": SAIGON_WARD,
                        "status": "green",
                        "created_at": now,
                        "expires_at": now,
                    }
                )
            ]
        )
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        answer = await client.post(
            "/v1/monitoring",
            json=in_trang_tien(entry_declaration_id="edc_SAIGONSTAY"),
            headers=ward_officer,
        )
        assert answer.status_code == 404
        saigon_officer = await officer(ctx, client, HO_CHI_MINH, SAIGON_WARD)
        opened = await client.post(
            "/v1/monitoring",
            json={
                "entry_declaration_id": "edc_SAIGONSTAY",
                "reason": "entry",
                "address": {"province": HO_CHI_MINH, "ward": SAIGON_WARD, "street": "5 Lê Lợi"},
            },
            headers=saigon_officer,
        )
        assert opened.status_code == 201, opened.text


class TestOpeningIsAudited:
    async def test_the_opening_is_in_the_audit_log_and_the_citizens_access_log(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await declared_in(client, citizen, HANOI, TRANG_TIEN)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        opened = await client.post(
            "/v1/monitoring", json=in_trang_tien(person_id=person_id), headers=ward_officer
        )
        assert opened.status_code == 201
        [entry] = await ctx.store.find("audit_log", {"person_id": person_id})
        assert (entry["action"], entry["role"]) == ("monitoring_open", "health_officer")
        log = await client.get("/v1/me/access-log", headers={**citizen, "Accept-Language": "vi"})
        [item] = log.json()["items"]
        assert (item["person_id"], item["action"]) == (person_id, "monitoring_open")
        assert item["what"] == "Mở đợt theo dõi y tế cho người này"


class TestOneActiveEpisode:
    async def test_a_second_opening_is_409_naming_the_running_episode(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await declared_in(client, citizen, HANOI, TRANG_TIEN)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        body = in_trang_tien(person_id=person_id)
        first = await client.post("/v1/monitoring", json=body, headers=ward_officer)
        assert first.status_code == 201
        province_officer = await officer(ctx, client, HANOI, None)
        again = await client.post("/v1/monitoring", json=body, headers=province_officer)
        assert again.status_code == 409
        assert again.headers["content-type"] == "application/problem+json"
        assert again.json()["code"] == "monitoring_already_active"
        assert again.json()["episode_id"] == first.json()["id"]
        mine = await client.get(f"/v1/people/{person_id}/monitoring", headers=citizen)
        assert [e["id"] for e in mine.json()["items"]] == [first.json()["id"]]
        # Once it is closed, the person may be followed up again.
        closed = await client.post(
            f"/v1/monitoring/{first.json()['id']}/close",
            json={"outcome": "completed"},
            headers=ward_officer,
        )
        assert closed.status_code == 200
        reopened = await client.post("/v1/monitoring", json=body, headers=ward_officer)
        assert reopened.status_code == 201, reopened.text

    async def test_openings_racing_each_other_make_one_episode(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await declared_in(client, citizen, HANOI, TRANG_TIEN)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        body = in_trang_tien(person_id=person_id)
        answers = await asyncio.gather(
            *(client.post("/v1/monitoring", json=body, headers=ward_officer) for _ in range(4))
        )
        assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
        assert await ctx.store.count("monitoring_episodes", {"person_id": person_id}) == 1

    async def test_two_episodes_of_one_person_cannot_both_be_stored(self, ctx: Context) -> None:
        """What makes the above hold under any interleaving: the second batch clashes."""
        subject = Subject("per_RACED", "acc_RACED", None)
        now = utcnow()

        def opening() -> list[Any]:
            episode = episode_document(
                ctx,
                subject,
                reason="contact",
                place="home",
                province=HANOI,
                ward=TRANG_TIEN,
                street=None,
                starts_on=local_day(now),
                days=None,
                opened_by="officer",
                officer_id=None,
                team=None,
                now=now,
            )
            return opening_ops(ctx, episode, now)

        await ctx.store.write(opening())
        with pytest.raises(DuplicateKey):
            await ctx.store.write(opening())
        assert await ctx.store.count("monitoring_episodes", {"person_id": "per_RACED"}) == 1

    async def test_an_arrival_with_its_automatic_episode_gets_no_second(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        now = utcnow()
        await ctx.store.write(
            arrival_ops(
                ctx,
                "edc_YELLOWSTAY",
                status="yellow",
                province=HANOI,
                ward=TRANG_TIEN,
                street="1 Tràng Tiền",
                traveller=Traveller("Kim Min-jun", None, None, 1980),
                now=now,
                expires_at=now + timedelta(days=30),
            )
            # Scanned in at the border: handed over to monitoring.
            + await arrival_episode_ops(
                ctx,
                "edc_YELLOWSTAY",
                status="yellow",
                province=HANOI,
                ward=TRANG_TIEN,
                street="1 Tràng Tiền",
                arrival_day=local_day(now),
                now=now,
            )
        )
        [automatic] = await ctx.store.find(
            "monitoring_episodes", {"entry_declaration_id": "edc_YELLOWSTAY"}
        )
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        again = await client.post(
            "/v1/monitoring",
            json={**in_trang_tien(entry_declaration_id="edc_YELLOWSTAY"), "reason": "entry"},
            headers=ward_officer,
        )
        assert again.status_code == 409
        assert again.json()["episode_id"] == automatic["_id"]


class TestStartDay:
    @pytest.mark.parametrize("starts_on", ["1900-01-01", "2999-01-01", -15, 3])
    async def test_a_start_outside_the_lookback_or_too_far_ahead_is_422(
        self, ctx: Context, client: httpx.AsyncClient, starts_on: str | int
    ) -> None:
        if isinstance(starts_on, int):
            starts_on = (local_day(utcnow()) + timedelta(days=starts_on)).isoformat()
        citizen = await sign_in_citizen(client)
        person_id = await declared_in(client, citizen, HANOI, TRANG_TIEN)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        answer = await client.post(
            "/v1/monitoring",
            json=in_trang_tien(person_id=person_id, starts_on=starts_on),
            headers={**ward_officer, "Accept-Language": "vi"},
        )
        assert answer.status_code == 422
        problem = answer.json()
        assert problem["code"] == "validation_failed"
        assert [e["field"] for e in problem["errors"]] == ["starts_on"]
        assert await ctx.store.count("monitoring_episodes", {}) == 0

    @pytest.mark.parametrize("days", [-14, 2])
    async def test_the_bounds_themselves_are_accepted(
        self, ctx: Context, client: httpx.AsyncClient, days: int
    ) -> None:
        starts_on = local_day(utcnow()) + timedelta(days=days)
        citizen = await sign_in_citizen(client)
        person_id = await declared_in(client, citizen, HANOI, TRANG_TIEN)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        answer = await client.post(
            "/v1/monitoring",
            json=in_trang_tien(person_id=person_id, starts_on=starts_on.isoformat()),
            headers=ward_officer,
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["ends_on"] == (starts_on + timedelta(days=13)).isoformat()


class TestRetriedOpening:
    """An officer's phone on a flaky line sends an opening again with its Idempotency-Key."""

    async def test_a_retry_gets_the_first_answer_and_opens_and_audits_once(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await declared_in(client, citizen, HANOI, TRANG_TIEN)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        headers = {**ward_officer, "Idempotency-Key": "open-1"}
        body = in_trang_tien(person_id=person_id)
        first = await client.post("/v1/monitoring", json=body, headers=headers)
        again = await client.post("/v1/monitoring", json=body, headers=headers)
        assert (first.status_code, again.status_code) == (201, 201), again.text
        assert again.json() == first.json()
        assert "Idempotent-Replayed" not in first.headers
        assert again.headers["Idempotent-Replayed"] == "true"
        assert await ctx.store.count("monitoring_episodes", {"person_id": person_id}) == 1
        audit = await ctx.store.find("audit_log", {"person_id": person_id})
        assert [e["action"] for e in audit] == ["monitoring_open"]
        # Once closed, the retry still gets the first answer; a new key opens a new one.
        closed = await client.post(
            f"/v1/monitoring/{first.json()['id']}/close",
            json={"outcome": "completed"},
            headers=ward_officer,
        )
        assert closed.status_code == 200
        late = await client.post("/v1/monitoring", json=body, headers=headers)
        assert (late.status_code, late.json()) == (201, first.json())
        reopened = await client.post(
            "/v1/monitoring", json=body, headers={**ward_officer, "Idempotency-Key": "open-2"}
        )
        assert reopened.status_code == 201
        assert reopened.json()["id"] != first.json()["id"]

    async def test_the_same_key_with_another_body_is_409_and_opens_nothing(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await declared_in(client, citizen, HANOI, TRANG_TIEN)
        other_id = await declared_in(client, citizen, HANOI, TRANG_TIEN)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        headers = {**ward_officer, "Idempotency-Key": "open-1", "Accept-Language": "vi"}
        first = await client.post(
            "/v1/monitoring", json=in_trang_tien(person_id=person_id), headers=headers
        )
        assert first.status_code == 201
        for body in (in_trang_tien(person_id=person_id, days=7), in_trang_tien(person_id=other_id)):
            reused = await client.post("/v1/monitoring", json=body, headers=headers)
            assert reused.status_code == 409
            assert reused.headers["content-type"] == "application/problem+json"
            assert reused.json()["code"] == "idempotency_key_reused"
            assert reused.json()["title"] == "Khóa đã được dùng"
        assert await ctx.store.count("monitoring_episodes", {"person_id": other_id}) == 0
        [episode] = await ctx.store.find("monitoring_episodes", {"person_id": person_id})
        assert episode["days"] == 14

    async def test_without_a_key_or_from_another_officer_a_second_opening_is_still_409(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await declared_in(client, citizen, HANOI, TRANG_TIEN)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        colleague = await officer(ctx, client, HANOI, TRANG_TIEN)
        body = in_trang_tien(person_id=person_id)
        first = await client.post(
            "/v1/monitoring", json=body, headers={**ward_officer, "Idempotency-Key": "open-1"}
        )
        assert first.status_code == 201
        # A key is the officer's own: a colleague's same string opens (here: clashes) anew.
        for headers in (ward_officer, {**colleague, "Idempotency-Key": "open-1"}):
            again = await client.post("/v1/monitoring", json=body, headers=headers)
            assert again.status_code == 409
            assert again.json()["code"] == "monitoring_already_active"
            assert again.json()["episode_id"] == first.json()["id"]

    async def test_retries_racing_their_first_request_all_get_its_answer(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await declared_in(client, citizen, HANOI, TRANG_TIEN)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        headers = {**ward_officer, "Idempotency-Key": "open-raced"}
        body = in_trang_tien(person_id=person_id)
        answers = await asyncio.gather(
            *(client.post("/v1/monitoring", json=body, headers=headers) for _ in range(4))
        )
        assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
        assert len({a.json()["id"] for a in answers}) == 1
        assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 3
        assert await ctx.store.count("monitoring_episodes", {"person_id": person_id}) == 1
        assert await ctx.store.count("audit_log", {"person_id": person_id}) == 1

    async def test_the_kept_answer_goes_with_the_persons_erasure(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await declared_in(client, citizen, HANOI, TRANG_TIEN)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        headers = {**ward_officer, "Idempotency-Key": "open-1"}
        body = in_trang_tien(person_id=person_id)
        assert (await client.post("/v1/monitoring", json=body, headers=headers)).status_code == 201
        assert await ctx.store.count("idempotency", {"person_id": person_id}) == 2
        erased = await client.delete(f"/v1/people/{person_id}", headers=citizen)
        assert erased.status_code == 204
        assert await ctx.store.count("idempotency", {"person_id": person_id}) == 0
        # A retry after the erasure is told nothing of the episode.
        late = await client.post("/v1/monitoring", json=body, headers=headers)
        assert late.status_code == 404
