"""Erasing a person under monitoring ends their active episode as a close does: the ministry's
reports and the public map stop counting them from the day after, and the episodes needing
attention lose them at once, as the officers' worklist does. Days already counted keep their
numbers. A close racing the erasure, or an erasure asked again, counts the end once."""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest

from core.context import Context
from core.storage import Document, Operation
from monitoring.episodes import episode_for
from publicmap.service import refresh
from reports.arrivals_monitoring import active_atom
from reports.suppression import rounding_for
from rights import erasure
from tests.conftest import sign_in_citizen
from tests.monitoring.conftest import HANOI, TRANG_TIEN, officer, person_under_follow_up
from tests.reports.test_monitoring_report import counter, published, report, today

CUA_NAM = 73  # a ward of Hà Nội


async def _parent_in_cua_nam(client: httpx.AsyncClient, citizen: dict[str, str]) -> str:
    body = {
        "person": {
            "full_name": "Trần Thị Bình",
            "relation": "parent",
            "id_number": f"0011{secrets.randbelow(10**8):08d}",
            "birth_year": 1950,
            "gender": "female",
            "nationality": "VN",
        },
        "address": {"province": HANOI, "ward": CUA_NAM, "street": "5 Cửa Nam"},
        "symptoms": [],
    }
    headers = {**citizen, "Idempotency-Key": secrets.token_hex(8)}
    declared = await client.post("/v1/declarations", json=body, headers=headers)
    assert declared.status_code == 201, declared.text
    return str(declared.json()["person_id"])


async def _parents_with_a_fever(
    ctx: Context, client: httpx.AsyncClient, count: int, starts_on: date
) -> tuple[dict[str, str], list[str], dict[str, str]]:
    """A citizen's `count` parents in Cửa Nam, each followed for one day from `starts_on` by
    a ward officer (the daily job has not closed them yet), each reported with a fever."""
    citizen = await sign_in_citizen(client)
    ward_officer = await officer(ctx, client, HANOI, CUA_NAM)
    people = []
    for _ in range(count):
        person_id = await _parent_in_cua_nam(client, citizen)
        opened = await client.post(
            "/v1/monitoring",
            json={
                "person_id": person_id,
                "reason": "other",
                "place": "home",
                "address": {"province": HANOI, "ward": CUA_NAM, "street": "5 Cửa Nam"},
                "starts_on": starts_on.isoformat(),
                "days": 1,
            },
            headers=ward_officer,
        )
        assert opened.status_code == 201, opened.text
        fever = await client.post(
            f"/v1/monitoring/{opened.json()['id']}/reports",
            json={"temperature": 39.0, "symptoms": ["fever"]},
            headers=citizen,
        )
        assert fever.status_code == 201, fever.text
        people.append(person_id)
    return citizen, people, ward_officer


async def _needing_attention(client: httpx.AsyncClient, ward_officer: dict[str, str]) -> int:
    worklist = await client.get("/v1/monitoring?needs_attention=true", headers=ward_officer)
    assert worklist.status_code == 200, worklist.text
    return len(worklist.json()["items"])


def _measure(body: dict[str, Any], measure: str) -> dict[tuple[Any, ...], int | None]:
    return {
        tuple(v for k, v in row.items() if k in ("day", "ward")): row["count"]
        for row in body["rows"]
        if row["measure"] == measure
    }


async def _map_of_wards(client: httpx.AsyncClient, day: date) -> int | None:
    answer = await client.get(
        "/v1/public/regions",
        params={"level": "ward", "province": HANOI, "date": day.isoformat()},
    )
    assert answer.status_code == 200, answer.text
    found: int | None = {r["code"]: r["under_monitoring"] for r in answer.json()["regions"]}[
        CUA_NAM
    ]
    return found


class TestErasingPeopleUnderMonitoring:
    async def test_reports_and_the_map_stop_counting_them_as_the_worklist_does(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        day = today()
        week_ago = day - timedelta(days=7)
        citizen, people, ward_officer = await _parents_with_a_fever(ctx, client, 5, week_ago)
        attention_atom = f"matt|{HANOI}|{CUA_NAM}|other"
        assert await _needing_attention(client, ward_officer) == 5
        before = await report(ctx, client, week_ago, day, "ward")
        assert _measure(before, "needs_attention") == {
            (CUA_NAM,): published(ctx, 5, attention_atom)
        }
        await refresh(ctx)
        assert await _map_of_wards(client, day) == published(ctx, 5, f"mon|{day}|{HANOI}|{CUA_NAM}")

        # Two erased one by one, the other three with the account.
        for person_id in people[:2]:
            erased = await client.delete(f"/v1/people/{person_id}", headers=citizen)
            assert erased.status_code == 204, erased.text
        assert (await client.delete("/v1/me", headers=citizen)).status_code == 204

        assert await _needing_attention(client, ward_officer) == 0
        after = await report(ctx, client, week_ago, day, "ward")
        assert _measure(after, "needs_attention") == {}
        # Followed on their one day, a week ago, and on no day since.
        by_day = await report(ctx, client, week_ago, day, "day,ward")
        first = published(ctx, 5, active_atom(week_ago, HANOI, CUA_NAM, "other"))
        assert _measure(by_day, "under_monitoring") == {(week_ago.isoformat(), CUA_NAM): first}
        await refresh(ctx)
        assert await _map_of_wards(client, day) == 0
        assert await _map_of_wards(client, week_ago) == published(
            ctx, 5, f"mon|{week_ago}|{HANOI}|{CUA_NAM}"
        )

    async def test_an_episode_still_running_ends_the_day_after_its_erasure(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        day = today()
        start = day - timedelta(days=2)
        citizen, person_id, opened = await person_under_follow_up(ctx, client, starts_on=start)
        flagged = await client.post(
            f"/v1/monitoring/{opened['id']}/reports", json={"temperature": 38.8}, headers=citizen
        )
        assert flagged.status_code == 201
        place = f"{HANOI}|{TRANG_TIEN}|contact"
        assert await counter(ctx, f"matt|{place}") == 1

        erased = await client.delete(f"/v1/people/{person_id}", headers=citizen)
        assert erased.status_code == 204
        assert await counter(ctx, f"mon|{day + timedelta(days=1)}|{place}|end") == 1
        assert await counter(ctx, f"matt|{place}") == 0
        # Followed through today, as a close today would leave it.
        body = await report(ctx, client, start, day, "day,ward")
        rounding = rounding_for(ctx.settings)
        want = {}
        for n in range(3):
            d = start + timedelta(days=n)
            atom = rounding.publish(active_atom(d, HANOI, TRANG_TIEN, "contact"), 1)
            want[(d.isoformat(), TRANG_TIEN)] = atom if atom >= 5 else None
        assert _measure(body, "under_monitoring") == want
        # A second erasure finds nobody and counts nothing more.
        again = await client.delete(f"/v1/people/{person_id}", headers=citizen)
        assert again.status_code == 404
        assert await counter(ctx, f"mon|{day + timedelta(days=1)}|{place}|end") == 1


def _ends(day: date) -> str:
    return f"mon|{day + timedelta(days=1)}|{HANOI}|{TRANG_TIEN}|contact|end"


ATTENTION = f"matt|{HANOI}|{TRANG_TIEN}|contact"


class TestACloseRacingTheErasure:
    async def test_a_close_landing_after_the_erasures_reads_is_counted_once(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The officer's close commits between the erasure's reads and its batch: the
        erasure reads again and ends nothing more."""
        citizen, person_id, opened = await person_under_follow_up(ctx, client)
        fever = {"temperature": 39.2}
        url = f"/v1/monitoring/{opened['id']}"
        assert (await client.post(f"{url}/reports", json=fever, headers=citizen)).is_success
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        closes: list[httpx.Response] = []
        reads = erasure._person_ops

        async def with_a_close_after_the_reads(
            ctx: Context, person: Document, *, now: datetime
        ) -> list[Operation]:
            ops = await reads(ctx, person, now=now)
            if not closes:
                body = {"outcome": "became_case"}
                closes.append(await client.post(f"{url}/close", json=body, headers=ward_officer))
            return ops

        monkeypatch.setattr(erasure, "_person_ops", with_a_close_after_the_reads)
        erased = await client.delete(f"/v1/people/{person_id}", headers=citizen)

        assert erased.status_code == 204, erased.text
        assert closes[0].status_code == 200, closes[0].text
        assert await ctx.store.get("monitoring_episodes", opened["id"]) is None
        assert await counter(ctx, _ends(today())) == 1
        assert await counter(ctx, ATTENTION) == 0

    async def test_a_close_read_before_the_erasure_and_written_after_it_is_a_404(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        citizen, person_id, opened = await person_under_follow_up(ctx, client)
        url = f"/v1/monitoring/{opened['id']}"
        fever = {"temperature": 39.2}
        assert (await client.post(f"{url}/reports", json=fever, headers=citizen)).is_success
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        before = await ctx.store.get("monitoring_episodes", opened["id"])
        assert (await client.delete(f"/v1/people/{person_id}", headers=citizen)).is_success
        seen = episode_for
        calls: list[str] = []

        async def first_as_before_the_erasure(*args: Any) -> Document:
            calls.append("read")
            return before if len(calls) == 1 and before is not None else await seen(*args)

        monkeypatch.setattr("monitoring.closing.episode_for", first_as_before_the_erasure)
        late = await client.post(
            f"{url}/close", json={"outcome": "became_case"}, headers=ward_officer
        )

        assert late.status_code == 404, late.text
        assert await counter(ctx, _ends(today())) == 1
        assert await counter(ctx, ATTENTION) == 0

    async def test_an_erasure_interrupted_and_asked_again_counts_the_end_once(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        citizen, person_id, opened = await person_under_follow_up(ctx, client)
        fever = {"temperature": 39.2}
        url = f"/v1/monitoring/{opened['id']}/reports"
        assert (await client.post(url, json=fever, headers=citizen)).is_success

        async def outage(ctx: Context, person: Document, *, now: datetime) -> list[Operation]:
            raise RuntimeError("the database went away")

        monkeypatch.setattr(erasure, "_person_ops", outage)
        with pytest.raises(RuntimeError):
            await client.delete(f"/v1/people/{person_id}", headers=citizen)
        monkeypatch.undo()
        assert await counter(ctx, ATTENTION) == 1
        assert (await client.delete("/v1/me", headers=citizen)).status_code == 204
        assert (await client.delete("/v1/me", headers=citizen)).status_code == 204
        assert await counter(ctx, _ends(today())) == 1
        assert await counter(ctx, ATTENTION) == 0


class TestACloseRacingAReport:
    async def test_a_fever_reported_while_the_officer_closes_leaves_no_one_needing_attention(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The close read the episode without a flag; a fever lands before its batch. It
        closes the episode as it now is, so the gauge does not keep a closed episode."""
        citizen, _, opened = await person_under_follow_up(ctx, client)
        url = f"/v1/monitoring/{opened['id']}"
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        seen = episode_for
        fevers: list[httpx.Response] = []

        async def with_a_fever_after_the_read(*args: Any) -> Document:
            episode = await seen(*args)
            if not fevers:
                fever = {"temperature": 39.5}
                fevers.append(await client.post(f"{url}/reports", json=fever, headers=citizen))
            return episode

        monkeypatch.setattr("monitoring.closing.episode_for", with_a_fever_after_the_read)
        closed = await client.post(f"{url}/close", json={"outcome": "lost"}, headers=ward_officer)

        assert fevers[0].status_code == 201, fevers[0].text
        assert closed.status_code == 200, closed.text
        assert closed.json()["flags"] == ["fever"]
        assert await counter(ctx, ATTENTION) == 0
        assert await counter(ctx, _ends(today())) == 1
        assert await _needing_attention(client, ward_officer) == 0
