"""Issue 19: people under monitoring by day, province, ward and reason, and the episodes
needing attention, from counters the monitoring domain keeps in the same atomic batches as
its episodes (opened by officers, tracing and arrivals; closed by officers and the jobs)."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date, timedelta
from typing import Any

import httpx

from core.clock import local_day, utcnow
from core.context import Context
from monitoring.jobs import run_daily_jobs
from reports.arrivals_monitoring import active_atom, monitoring_atoms
from reports.counters import count_monitoring_closed, count_monitoring_opened
from reports.folding import fold_before_reading
from reports.suppression import rounding_for
from tests.conftest import sign_in_staff
from tests.entry.conftest import arrive, family, submit
from tests.monitoring.conftest import HANOI, TRANG_TIEN, at, officer, person_under_follow_up

URL = "/v1/reports/monitoring"


def today() -> date:
    return local_day(utcnow())


async def sick_arrivals(ctx: Context, client: httpx.AsyncClient, count: int) -> None:
    """`count` travellers with a fever staying in Tràng Tiền, scanned in at the border: each
    gets an episode then."""
    for i in range(count):
        body = family(companions=[], symptoms=["fever"])
        body["traveller"]["passport_number"] = f"P{i:08d}"
        response = await submit(client, body, lang="en")
        assert response.status_code == 201, response.text
        assert response.json()["status"] != "green"
        await arrive(ctx, client, response)


async def counter(ctx: Context, counter_id: str) -> int:
    """As a report reads it: the steps written until now folded in first."""
    await fold_before_reading(ctx.store)
    doc = await ctx.store.get("report_counters", counter_id)
    return int(doc["n"]) if doc else 0


async def report(
    ctx: Context, client: httpx.AsyncClient, first: date, last: date, group_by: str
) -> dict[str, Any]:
    analyst = await sign_in_staff(ctx, client, "analyst")
    response = await client.get(
        URL,
        params={"from": first.isoformat(), "to": last.isoformat(), "group_by": group_by},
        headers=analyst,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def published(ctx: Context, true: int, *atoms: str) -> int | None:
    """What a cell of one atom per name, each holding `true`, publishes."""
    rounding = rounding_for(ctx.settings)
    value = sum(rounding.publish(atom, true) for atom in atoms)
    return value if value >= 5 else None


class TestCountersKeptOnWrite:
    async def test_every_way_an_episode_opens_and_closes_is_counted_once(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        day = today()
        start = day - timedelta(days=3)
        # An officer's episode (reason contact) from three days ago, and arrivals' episodes.
        citizen, _, opened = await person_under_follow_up(ctx, client, starts_on=start)
        await sick_arrivals(ctx, client, 2)
        place = f"{HANOI}|{TRANG_TIEN}"
        assert await counter(ctx, f"mon|{start}|{place}|contact|start") == 1
        assert await counter(ctx, f"mon|{day}|{place}|entry|start") == 2

        # A fever flags the episode: it needs attention, once however often it is reported.
        for _ in range(2):
            flagged = await client.post(
                f"/v1/monitoring/{opened['id']}/reports",
                json={"temperature": 38.6},
                headers=citizen,
            )
            assert flagged.status_code == 201
        assert await counter(ctx, f"matt|{place}|contact") == 1
        fine = await client.post(
            f"/v1/monitoring/{opened['id']}/reports", json={"temperature": 36.6}, headers=citizen
        )
        assert fine.status_code == 201
        assert await counter(ctx, f"matt|{place}|contact") == 0

        # The officer closes it today: followed through today, gone from tomorrow.
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        for _ in range(2):
            await client.post(
                f"/v1/monitoring/{opened['id']}/close",
                json={"outcome": "cancelled"},
                headers=ward_officer,
            )
        tomorrow = day + timedelta(days=1)
        assert await counter(ctx, f"mon|{tomorrow}|{place}|contact|end") == 1

        # The jobs: silence flags the arrivals once; their end closes them once, counted on
        # the day after their last, however late and often the job runs.
        later = day + timedelta(days=2)
        assert (await run_daily_jobs(ctx, at(later, 8))).marked == 2
        assert (await run_daily_jobs(ctx, at(later, 9))).marked == 0
        assert await counter(ctx, f"matt|{place}|entry") == 2
        [episode] = await ctx.store.find(
            "monitoring_episodes", {"reason": "entry"}, limit=1, sort=[("_id", 1)]
        )
        ends = date.fromisoformat(episode["ends_on"])
        after_end = ends + timedelta(days=3)
        assert (await run_daily_jobs(ctx, at(after_end, 8))).closed == 2
        assert (await run_daily_jobs(ctx, at(after_end, 9))).closed == 0
        assert await counter(ctx, f"mon|{ends + timedelta(days=1)}|{place}|entry|end") == 2
        assert await counter(ctx, f"matt|{place}|entry") == 0

    async def test_reports_racing_each_other_leave_the_gauge_as_the_episode_is(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, _, opened = await person_under_follow_up(ctx, client)
        url = f"/v1/monitoring/{opened['id']}/reports"
        for temperatures in ((39.0, 36.5, 38.2, 36.8), (36.6, 38.5), (38.1, 36.9, 36.7)):
            sent = await asyncio.gather(
                *(client.post(url, json={"temperature": t}, headers=citizen) for t in temperatures)
            )
            assert [r.status_code for r in sent] == [201] * len(temperatures)
            episode = await ctx.store.get("monitoring_episodes", opened["id"])
            assert episode is not None
            flagged = 1 if episode["flags"] else 0
            assert await counter(ctx, f"matt|{HANOI}|{TRANG_TIEN}|contact") == flagged


class TestDaysBeforeTheRange:
    async def test_episodes_begun_or_ended_before_the_first_day_count_as_they_should(
        self, ctx: Context
    ) -> None:
        """The days before `from` come summed by the database; who is followed in the range
        is the same as counting every day's starts and ends."""
        d = date(2026, 11, 20)
        far = (d + timedelta(days=30)).isoformat()

        def episode(ward: int, reason: str, starts: date) -> dict[str, Any]:
            return {
                "starts_on": starts.isoformat(),
                "ends_on": far,
                "province": HANOI,
                "ward": ward,
                "reason": reason,
            }

        other_ward = TRANG_TIEN + 1
        ended_long_ago = episode(TRANG_TIEN, "contact", d - timedelta(days=10))
        open_since_long_ago = episode(TRANG_TIEN, "contact", d - timedelta(days=10))
        open_before_the_range = episode(TRANG_TIEN, "entry", d - timedelta(days=3))
        opened_in_the_range = episode(TRANG_TIEN, "entry", d - timedelta(days=1))
        closed_in_the_range = episode(other_ward, "contact", d - timedelta(days=8))
        ops = [
            op
            for opened in (
                ended_long_ago,
                open_since_long_ago,
                open_before_the_range,
                opened_in_the_range,
                closed_in_the_range,
            )
            for op in count_monitoring_opened(opened)
        ]
        ops += count_monitoring_closed(ended_long_ago, d - timedelta(days=5))
        ops += count_monitoring_closed(closed_in_the_range, d - timedelta(days=1))
        await ctx.store.write(ops)

        atoms = await monitoring_atoms(ctx.store, d - timedelta(days=2), d)
        days = [d - timedelta(days=2), d - timedelta(days=1), d]
        assert atoms.active == {
            **{(day, HANOI, TRANG_TIEN, "contact"): 1 for day in days},
            (days[0], HANOI, TRANG_TIEN, "entry"): 1,
            (days[1], HANOI, TRANG_TIEN, "entry"): 2,
            (days[2], HANOI, TRANG_TIEN, "entry"): 2,
            (days[0], HANOI, other_ward, "contact"): 1,
            (days[1], HANOI, other_ward, "contact"): 1,
        }
        assert atoms.started == {(days[1], HANOI, TRANG_TIEN, "entry"): 1}


class TestReport:
    async def test_people_under_monitoring_each_day_and_in_the_range(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        day = today()
        start = day - timedelta(days=3)
        citizen, _, opened = await person_under_follow_up(ctx, client, starts_on=start)
        await sick_arrivals(ctx, client, 6)
        await client.post(
            f"/v1/monitoring/{opened['id']}/reports", json={"temperature": 39.0}, headers=citizen
        )
        body = await report(ctx, client, start - timedelta(days=1), day, "day,reason")
        rows = body["rows"]
        followed = {
            (r["day"], r["reason"]): r["count"] for r in rows if r["measure"] == "under_monitoring"
        }

        def atom(d: date, reason: str) -> str:
            return active_atom(d, HANOI, TRANG_TIEN, reason)

        want = {}
        for n in range(4):  # the contact from `start` through today
            d = start + timedelta(days=n)
            want[(d.isoformat(), "contact")] = published(ctx, 1, atom(d, "contact"))
        want[(day.isoformat(), "entry")] = published(ctx, 6, atom(day, "entry"))
        assert followed == want
        attention = [r for r in rows if r["measure"] == "needs_attention"]
        shown = published(ctx, 1, f"matt|{HANOI}|{TRANG_TIEN}|contact")
        assert [(r["reason"], r["count"]) for r in attention] == [("contact", shown)]
        assert "day" not in attention[0]

        # Without day: everyone followed at some time in the range, by ward.
        body = await report(ctx, client, start, day, "ward")
        [row] = [r for r in body["rows"] if r["measure"] == "under_monitoring"]
        rounding = rounding_for(ctx.settings)
        parts = rounding.publish(atom(start, "contact"), 1) + rounding.publish(
            f"mon|{day}|{HANOI}|{TRANG_TIEN}|entry|start", 6
        )
        assert row["ward"] == TRANG_TIEN
        assert row["ward_name"]
        assert row["count"] == (parts if parts >= 5 else None)

    async def test_csv_audit_and_refusals(self, ctx: Context, client: httpx.AsyncClient) -> None:
        await sick_arrivals(ctx, client, 5)
        analyst = await sign_in_staff(ctx, client, "analyst")
        params = {"from": today().isoformat(), "to": today().isoformat(), "group_by": "province"}
        response = await client.get(URL, params=params, headers={**analyst, "Accept": "text/csv"})
        assert response.status_code == 200, response.text
        assert response.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0] == ["measure", "province", "province_name", "count"]
        assert rows[1][:3] == ["under_monitoring", "1", "Thành phố Hà Nội"]
        want = published(ctx, 5, active_atom(today(), HANOI, TRANG_TIEN, "entry"))
        assert rows[1][3] == ("<5" if want is None else str(want))
        [entry] = await ctx.store.find("audit_log", {"report": "monitoring"})
        assert entry["params"]["format"] == "csv"
        bad = await client.get(
            URL,
            params={**params, "group_by": "status"},
            headers={**analyst, "Accept-Language": "vi"},
        )
        assert bad.status_code == 422
        assert bad.json()["code"] == "report_group_by_invalid"
        officer_headers = await officer(ctx, client)
        assert (await client.get(URL, params=params, headers=officer_headers)).status_code == 403
        assert (await client.get(URL, params=params)).status_code == 401


class TestDaysToCome:
    async def test_a_range_ending_after_today_is_refused_in_the_callers_language(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        """Who is followed on a day to come is not known: the report would project today's
        episodes forward, each day a fresh rounding of the same true count to average. It is
        refused, as the public map refuses a date after today; a range ending today answers."""
        await sick_arrivals(ctx, client, 6)
        analyst = await sign_in_staff(ctx, client, "analyst")
        day = today()
        ranges = (
            (day + timedelta(days=1), day + timedelta(days=30)),
            (day - timedelta(days=6), day + timedelta(days=1)),
        )
        said = {}
        for (first, last), lang in zip(ranges, ("vi", "en"), strict=True):
            params = {"from": first.isoformat(), "to": last.isoformat(), "group_by": "day,ward"}
            refused = await client.get(
                URL, params=params, headers={**analyst, "Accept-Language": lang}
            )
            assert refused.status_code == 422, refused.text
            problem = refused.json()
            assert problem["code"] == "report_range_after_today"
            [error] = problem["errors"]
            assert (error["field"], error["code"]) == ("to", "report_range_after_today")
            said[lang] = error["message"]
        assert said == {
            "vi": "`to` phải là hôm nay hoặc trước đó (giờ Việt Nam): "
            "chưa có số liệu cho những ngày tới.",
            "en": "`to` must be today or earlier (Vietnam time): "
            "there are no figures for days to come.",
        }
        assert await ctx.store.count("audit_log", {"report": "monitoring"}) == 0

        body = await report(ctx, client, day - timedelta(days=6), day, "day,ward")
        days = {r["day"] for r in body["rows"] if r["measure"] == "under_monitoring"}
        assert days == {day.isoformat()}
