"""Ended days are answered from daily summaries; they must never disagree with the counters."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import httpx
import pytest

from core.clock import VIETNAM, utcnow
from core.context import Context
from reports.service import DeclarationQuery, Dimension, declaration_counts
from tests.reports.conftest import Seeded
from tests.reports.seeding import (
    BA_DINH,
    HA_NOI,
    HO_CHI_MINH,
    HOAN_KIEM,
    VUNG_TAU,
    Batch,
    days_ago,
    seed,
    today,
)

URL = "/v1/reports/declarations"


async def by_province(
    client: httpx.AsyncClient, headers: dict[str, str], day: str
) -> dict[int, int]:
    response = await client.get(
        URL, params={"from": day, "to": day, "group_by": "province"}, headers=headers
    )
    assert response.status_code == 200, response.text
    return {row["province"]: row["count"] for row in response.json()["rows"]}


class TestLateDeclarations:
    async def test_a_declaration_counted_after_its_day_ended_shows_up(
        self, ctx: Context, client: httpx.AsyncClient, analyst: dict[str, str]
    ) -> None:
        day = days_ago(2)
        await seed(ctx, [Batch(day, HA_NOI, HOAN_KIEM, "green", count=5)])
        assert await by_province(client, analyst, day.isoformat()) == {HA_NOI: 5}
        summary = await ctx.store.get("report_rollups", f"sum|{day.isoformat()}")
        assert summary is not None  # the first report built it

        # An offline phone's batch arrives days later, counted on the day it was filled in.
        await seed(ctx, [Batch(day, HA_NOI, BA_DINH, "green", count=1)])
        assert await by_province(client, analyst, day.isoformat()) == {HA_NOI: 6}

    async def test_only_the_late_province_is_recounted_and_filters_see_it(
        self, ctx: Context, client: httpx.AsyncClient, analyst: dict[str, str]
    ) -> None:
        day = days_ago(3)
        await seed(
            ctx,
            [
                Batch(day, HA_NOI, HOAN_KIEM, "green", count=5),
                Batch(day, HO_CHI_MINH, VUNG_TAU, "green", count=6),
            ],
        )
        assert await by_province(client, analyst, day.isoformat()) == {HA_NOI: 5, HO_CHI_MINH: 6}
        await seed(ctx, [Batch(day, HO_CHI_MINH, VUNG_TAU, "green", count=1)])
        # A report on Hà Nội alone may use the day's summary as it is...
        filtered = await client.get(
            URL,
            params={"from": str(day), "to": str(day), "group_by": "province", "province": HA_NOI},
            headers=analyst,
        )
        assert [(r["province"], r["count"]) for r in filtered.json()["rows"]] == [(HA_NOI, 5)]
        # ...and the national report recounts Hồ Chí Minh's part of it.
        assert await by_province(client, analyst, day.isoformat()) == {HA_NOI: 5, HO_CHI_MINH: 7}
        summary = await ctx.store.get("report_rollups", f"sum|{day.isoformat()}")
        assert summary is not None
        # Seeded onto a past day, every declaration was a late one: 5 for Hà Nội, 7 for HCMC.
        assert summary["gens"] == [[HA_NOI, 5], [HO_CHI_MINH, 7]]

    async def test_today_is_counted_before_the_day_ends(
        self, ctx: Context, client: httpx.AsyncClient, analyst: dict[str, str]
    ) -> None:
        await seed(ctx, [Batch(today(), HO_CHI_MINH, VUNG_TAU, "green", count=5)])
        assert await by_province(client, analyst, today().isoformat()) == {HO_CHI_MINH: 5}
        await seed(ctx, [Batch(today(), HO_CHI_MINH, VUNG_TAU, "green", count=1)])
        assert await by_province(client, analyst, today().isoformat()) == {HO_CHI_MINH: 6}


class TestGracePeriod:
    @pytest.mark.parametrize(("minutes_after_midnight", "built"), [(5, False), (20, True)])
    async def test_a_day_is_summarised_only_once_in_flight_writes_have_landed(
        self, ctx: Context, minutes_after_midnight: int, built: bool
    ) -> None:
        yesterday = days_ago(1)
        await seed(ctx, [Batch(yesterday, HA_NOI, HOAN_KIEM, "green", count=5)])
        midnight = datetime.combine(yesterday + timedelta(days=1), time(0), tzinfo=VIETNAM)
        now = (midnight + timedelta(minutes=minutes_after_midnight)).astimezone(UTC)
        query = DeclarationQuery(yesterday, yesterday, ("province",))
        assert await declaration_counts(ctx.store, query, now=now) == {(HA_NOI,): 5}
        summary = await ctx.store.get("report_rollups", f"sum|{yesterday.isoformat()}")
        assert (summary is not None) is built


@pytest.mark.asyncio(loop_scope="module")
class TestSummariesAgreeWithWardCounters:
    @pytest.mark.parametrize(
        "group_by", [("day", "province"), ("status", "symptom"), ("day", "status"), ("symptom",)]
    )
    async def test_same_counts_either_way(
        self, seeded: Seeded, group_by: tuple[Dimension, ...]
    ) -> None:
        ctx = seeded.ctx
        first, last, now = days_ago(3), today(), utcnow()
        query = DeclarationQuery(first, last, group_by)
        from_summaries = await declaration_counts(ctx.store, query, now=now)
        from_wards = await declaration_counts(ctx.store, query, now=now, use_summaries=False)
        assert from_summaries == from_wards
        assert await ctx.store.count("report_rollups", {"kind": "summary"}) > 0
