"""Episodes, daily reports and the officer's worklist, over HTTP."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from core.clock import local_day, utcnow
from core.context import Context
from core.storage import Delete, Insert
from monitoring.jobs import run_daily_jobs
from tests.conftest import sign_in_citizen
from tests.monitoring.conftest import (
    HANOI,
    TRANG_TIEN,
    at,
    officer,
    person_under_follow_up,
)

OTHER_HANOI_WARD = 4


class TestOpening:
    async def test_an_officer_opens_an_episode_inside_the_area_only(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        _, person_id, opened = await person_under_follow_up(ctx, client)
        assert opened["status"] == "active"
        start = local_day(utcnow())
        assert opened["ends_on"] == (start + timedelta(days=13)).isoformat()
        elsewhere = await officer(ctx, client, 79)
        refused = await client.post(
            "/v1/monitoring",
            json={
                "person_id": person_id,
                "reason": "contact",
                "address": {"province": HANOI, "ward": TRANG_TIEN, "street": "1 Hàng Bài"},
            },
            headers=elsewhere,
        )
        assert refused.status_code == 403

    async def test_a_citizen_sees_day_n_of_m(self, ctx: Context, client: httpx.AsyncClient) -> None:
        citizen, person_id, _ = await person_under_follow_up(
            ctx, client, starts_on=local_day(utcnow()) - timedelta(days=2)
        )
        mine = await client.get(f"/v1/people/{person_id}/monitoring", headers=citizen)
        assert mine.status_code == 200
        [episode] = mine.json()["items"]
        assert (episode["day"], episode["days"]) == (3, 14)
        assert episode["reported_today"] is False

    async def test_another_citizen_sees_nothing(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        from tests.conftest import sign_in_citizen

        _, person_id, opened = await person_under_follow_up(ctx, client)
        stranger = await sign_in_citizen(client, "+84900000002")
        seen = await client.get(f"/v1/people/{person_id}/monitoring", headers=stranger)
        assert seen.status_code == 404
        reported = await client.post(
            f"/v1/monitoring/{opened['id']}/reports", json={"temperature": 36.8}, headers=stranger
        )
        assert reported.status_code == 404


class TestWorklist:
    async def test_a_fever_goes_to_the_top_of_the_ward_officers_list(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        quiet_citizen, _, quiet = await person_under_follow_up(ctx, client)
        citizen, person_id, feverish = await person_under_follow_up(ctx, client)
        for episode, temperature in ((quiet, 36.6), (feverish, 38.4)):
            reported = await client.post(
                f"/v1/monitoring/{episode['id']}/reports",
                json={"temperature": temperature},
                headers=citizen if episode is feverish else quiet_citizen,
            )
            assert reported.status_code == 201, reported.text
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        listed = await client.get(
            "/v1/monitoring", params={"needs_attention": "true"}, headers=ward_officer
        )
        assert listed.status_code == 200
        items = listed.json()["items"]
        assert [i["id"] for i in items] == [feverish["id"]]
        assert items[0]["flags"] == ["fever"]
        assert items[0]["latest_temperature"] == 38.4
        everyone = await client.get("/v1/monitoring", headers=ward_officer)
        assert everyone.json()["items"][0]["id"] == feverish["id"]
        # The fever raised the person's status by the rules: symptoms after a contact.
        people = (await client.get("/v1/people", headers=citizen)).json()["items"]
        assert {p["person_id"]: p["status"] for p in people}[person_id] == "red"

    async def test_an_officer_of_another_ward_does_not_see_them(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        await person_under_follow_up(ctx, client)
        other_ward = await officer(ctx, client, HANOI, OTHER_HANOI_WARD)
        listed = await client.get("/v1/monitoring", headers=other_ward)
        assert listed.json()["items"] == []
        asked = await client.get(
            "/v1/monitoring", params={"province": HANOI, "ward": TRANG_TIEN}, headers=other_ward
        )
        assert asked.status_code == 403

    async def test_pages_follow_the_cursor_without_repeats(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        opened = [
            (await person_under_follow_up(ctx, client, citizen=citizen))[2]["id"] for _ in range(5)
        ]
        national = await officer(ctx, client, None)
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/v1/monitoring", params=params, headers=national)).json()
            seen += [i["id"] for i in page["items"]]
            cursor = page["next"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(opened)

    async def test_every_officer_view_is_audited(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        _, person_id, _ = await person_under_follow_up(ctx, client)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        await client.get("/v1/monitoring", headers=ward_officer)
        entries = await ctx.store.find("audit_log", {"person_id": person_id})
        assert sorted(e["action"] for e in entries) == ["monitoring_open", "monitoring_worklist"]


class TestReports:
    async def test_a_retry_with_the_same_key_stores_one_report(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, _, opened = await person_under_follow_up(ctx, client)
        headers = {**citizen, "Idempotency-Key": "day-1-morning"}
        for _ in range(3):
            answer = await client.post(
                f"/v1/monitoring/{opened['id']}/reports",
                json={"temperature": 37.0},
                headers=headers,
            )
            assert answer.status_code == 201
        assert await ctx.store.count("monitoring_reports", {"episode_id": opened["id"]}) == 1

    async def test_a_key_is_the_callers_own_and_a_retry_says_it_is_one(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        """The citizen's `r1` and the officer's `r1` on one episode are two reports: the
        officer's was dropped (201 with the citizen's report) or 409 for a key never used."""
        citizen, _, opened = await person_under_follow_up(ctx, client)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        path = f"/v1/monitoring/{opened['id']}/reports"
        mine = await client.post(
            path, json={"temperature": 37.0}, headers={**citizen, "Idempotency-Key": "r1"}
        )
        assert mine.status_code == 201, mine.text
        assert "Idempotent-Replayed" not in mine.headers
        visit = {"temperature": 38.4, "symptoms": [], "outcome": "seen_not_ok"}
        officers = await client.post(
            path, json=visit, headers={**ward_officer, "Idempotency-Key": "r1"}
        )
        assert officers.status_code == 201, officers.text
        assert "Idempotent-Replayed" not in officers.headers
        assert officers.json()["id"] != mine.json()["id"]
        stored = await ctx.store.find("monitoring_reports", {"episode_id": opened["id"]})
        assert sorted((r["by"], r["temperature"]) for r in stored) == [
            ("citizen", 37.0),
            ("health_officer", 38.4),
        ]
        # A retry is the sender's own first answer, and says it is a replay.
        again = await client.post(
            path, json=visit, headers={**ward_officer, "Idempotency-Key": "r1"}
        )
        assert (again.status_code, again.json()) == (201, officers.json())
        assert again.headers["Idempotent-Replayed"] == "true"
        # Another officer's same key is another key too.
        colleague = await officer(ctx, client, HANOI, TRANG_TIEN)
        theirs = await client.post(
            path, json={"temperature": 36.9}, headers={**colleague, "Idempotency-Key": "r1"}
        )
        assert theirs.status_code == 201, theirs.text
        assert "Idempotent-Replayed" not in theirs.headers
        assert await ctx.store.count("monitoring_reports", {"episode_id": opened["id"]}) == 3

    async def test_a_report_stored_under_the_old_key_is_still_its_senders_retry(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        """Before keys were per caller a report's id came from the episode and key alone:
        a retry of such a report by the role that sent it is still answered as a replay."""
        citizen, _, opened = await person_under_follow_up(ctx, client)
        path = f"/v1/monitoring/{opened['id']}/reports"
        first = await client.post(
            path, json={"temperature": 37.0}, headers={**citizen, "Idempotency-Key": "old"}
        )
        [stored] = await ctx.store.find("monitoring_reports", {"episode_id": opened["id"]})
        legacy_id = (
            "mrp_" + ctx.cipher.lookup_hash(f"{opened['id']}\x00old", context="mon.report")[:26]
        )
        await ctx.store.write(
            [
                Delete("monitoring_reports", {"_id": stored["_id"]}),
                Insert("monitoring_reports", {**stored, "_id": legacy_id}),
            ]
        )
        retried = await client.post(
            path, json={"temperature": 37.0}, headers={**citizen, "Idempotency-Key": "old"}
        )
        assert (retried.status_code, retried.json()["id"]) == (201, legacy_id)
        assert retried.json()["day"] == first.json()["day"]
        assert retried.headers["Idempotent-Replayed"] == "true"
        # An officer's same key is not that citizen's retry.
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        officers = await client.post(
            path, json={"temperature": 36.5}, headers={**ward_officer, "Idempotency-Key": "old"}
        )
        assert officers.status_code == 201, officers.text
        assert "Idempotent-Replayed" not in officers.headers
        assert await ctx.store.count("monitoring_reports", {"episode_id": opened["id"]}) == 2

    async def test_the_same_key_with_another_report_is_409_and_stores_nothing(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, _, opened = await person_under_follow_up(ctx, client)
        headers = {**citizen, "Idempotency-Key": "day-1-morning", "Accept-Language": "vi"}
        path = f"/v1/monitoring/{opened['id']}/reports"
        first = await client.post(path, json={"temperature": 37.0}, headers=headers)
        assert first.status_code == 201
        other = await client.post(path, json={"temperature": 38.5}, headers=headers)
        assert other.status_code == 409
        assert other.json()["code"] == "idempotency_key_reused"
        assert other.json()["title"] == "Khóa đã được dùng"
        [stored] = await ctx.store.find("monitoring_reports", {"episode_id": opened["id"]})
        assert (stored["temperature"], stored["flags"]) == (37.0, [])
        episode = await ctx.store.get("monitoring_episodes", opened["id"])
        assert episode is not None
        assert episode["flags"] == []
        # The kept hash is the service's own: not in the person's export.
        export = (await client.get("/v1/me/export", headers=citizen)).json()
        [report] = [r for p in export["people"] for e in p["monitoring"] for r in e["reports"]]
        assert "body_hash" not in report

    async def test_only_officers_record_a_visit(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, _, opened = await person_under_follow_up(ctx, client)
        answer = await client.post(
            f"/v1/monitoring/{opened['id']}/reports",
            json={"outcome": "seen_ok"},
            headers={**citizen, "Accept-Language": "vi"},
        )
        assert answer.status_code == 403
        assert answer.json()["code"] == "officers_only"
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        visit = await client.post(
            f"/v1/monitoring/{opened['id']}/reports",
            json={"outcome": "seen_not_ok", "note": "ho nhiều"},
            headers=ward_officer,
        )
        assert visit.status_code == 201
        assert visit.json()["flags"] == ["seen_not_ok"]

    @pytest.mark.parametrize(
        "body",
        [{}, {"temperature": "38"}, {"temperature": 99}, {"symptoms": ["hiccups"]}, {"x": 1}],
    )
    async def test_bad_reports_are_a_4xx_and_store_nothing(
        self, ctx: Context, client: httpx.AsyncClient, body: dict[str, object]
    ) -> None:
        citizen, _, opened = await person_under_follow_up(ctx, client)
        answer = await client.post(
            f"/v1/monitoring/{opened['id']}/reports", json=body, headers=citizen
        )
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "application/problem+json"
        assert await ctx.store.count("monitoring_reports", {}) == 0


class TestClosing:
    async def test_after_fourteen_quiet_days_the_episode_closes_itself(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id, opened = await person_under_follow_up(ctx, client)
        ends_on = local_day(utcnow()) + timedelta(days=13)
        done = await run_daily_jobs(ctx, at(ends_on, 23))
        assert done.closed == 0
        done = await run_daily_jobs(ctx, at(ends_on + timedelta(days=1), 0))
        assert done.closed == 1
        [episode] = (
            await client.get(f"/v1/people/{person_id}/monitoring", headers=citizen)
        ).json()["items"]
        assert (episode["status"], episode["outcome"]) == ("closed", "completed")
        late = await client.post(
            f"/v1/monitoring/{opened['id']}/reports", json={"temperature": 36.5}, headers=citizen
        )
        assert late.status_code == 409

    async def test_an_officer_closes_with_an_outcome(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        _, _, opened = await person_under_follow_up(ctx, client)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        closed = await client.post(
            f"/v1/monitoring/{opened['id']}/close",
            json={"outcome": "became_case"},
            headers=ward_officer,
        )
        assert closed.status_code == 200
        assert closed.json()["outcome"] == "became_case"
        again = await client.post(
            f"/v1/monitoring/{opened['id']}/close", json={"outcome": "lost"}, headers=ward_officer
        )
        assert again.status_code == 409
