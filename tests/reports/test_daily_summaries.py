"""Ended days are answered from daily summaries; they must never disagree with the counters."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from core.clock import VIETNAM, utcnow
from core.context import Context
from core.storage import Update
from reports.service import DeclarationQuery, Dimension, declaration_counts
from reports.suppression import rounding_for
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


def exact_args(ctx: Context) -> dict[str, Any]:
    return {"rounding": rounding_for(ctx.settings), "exact": True}


async def by_province(ctx: Context, day: date, province: int | None = None) -> dict[int, int]:
    """The true counts of one day per province, read the way a report reads them (summaries
    for ended days): what is published is rounded from these (test_declarations_report_counts)."""
    query = DeclarationQuery(day, day, ("province",), province)
    counts = await declaration_counts(ctx.store, query, now=utcnow(), **exact_args(ctx))
    return {key[0]: n for key, n in counts.items()}


class TestLateDeclarations:
    async def test_a_declaration_counted_after_its_day_ended_shows_up(self, ctx: Context) -> None:
        day = days_ago(2)
        await seed(ctx, [Batch(day, HA_NOI, HOAN_KIEM, "green", count=5)])
        assert await by_province(ctx, day) == {HA_NOI: 5}
        summary = await ctx.store.get("report_rollups", f"sum|{day.isoformat()}")
        assert summary is not None  # the first report built it

        # An offline phone's batch arrives days later, counted on the day it was filled in.
        await seed(ctx, [Batch(day, HA_NOI, BA_DINH, "green", count=1)])
        assert await by_province(ctx, day) == {HA_NOI: 6}

    async def test_only_the_late_province_is_recounted_and_filters_see_it(
        self, ctx: Context
    ) -> None:
        day = days_ago(3)
        await seed(
            ctx,
            [
                Batch(day, HA_NOI, HOAN_KIEM, "green", count=5),
                Batch(day, HO_CHI_MINH, VUNG_TAU, "green", count=6),
            ],
        )
        assert await by_province(ctx, day) == {HA_NOI: 5, HO_CHI_MINH: 6}
        await seed(ctx, [Batch(day, HO_CHI_MINH, VUNG_TAU, "green", count=1)])
        # A report on Hà Nội alone may use the day's summary as it is...
        assert await by_province(ctx, day, HA_NOI) == {HA_NOI: 5}
        # ...and the national report recounts Hồ Chí Minh's part of it.
        assert await by_province(ctx, day) == {HA_NOI: 5, HO_CHI_MINH: 7}
        summary = await ctx.store.get("report_rollups", f"sum|{day.isoformat()}")
        assert summary is not None
        # Seeded onto a past day, every declaration was a late one: 5 for Hà Nội, 7 for HCMC.
        assert summary["gens"] == [[HA_NOI, 5], [HO_CHI_MINH, 7]]

    async def test_today_is_counted_before_the_day_ends(self, ctx: Context) -> None:
        await seed(ctx, [Batch(today(), HO_CHI_MINH, VUNG_TAU, "green", count=5)])
        assert await by_province(ctx, today()) == {HO_CHI_MINH: 5}
        await seed(ctx, [Batch(today(), HO_CHI_MINH, VUNG_TAU, "green", count=1)])
        assert await by_province(ctx, today()) == {HO_CHI_MINH: 6}

    async def test_summaries_built_with_another_rounding_key_are_rebuilt(
        self, ctx: Context, client: httpx.AsyncClient, analyst: dict[str, str]
    ) -> None:
        day = days_ago(2)
        await seed(ctx, [Batch(day, HA_NOI, HOAN_KIEM, "green", count=7)])
        params = {"from": day.isoformat(), "to": day.isoformat(), "group_by": "province"}
        first = (await client.get(URL, params=params, headers=analyst)).json()["rows"]
        await ctx.store.write(
            [Update("report_rollups", f"sum|{day.isoformat()}", set={"rounding": "5:other"})]
        )
        again = (await client.get(URL, params=params, headers=analyst)).json()["rows"]
        assert again == first
        summary = await ctx.store.get("report_rollups", f"sum|{day.isoformat()}")
        assert summary is not None
        assert summary["rounding"] == rounding_for(ctx.settings).fingerprint


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
        assert await declaration_counts(ctx.store, query, now=now, **exact_args(ctx)) == {
            (HA_NOI,): 5
        }
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
        for exact in (True, False):
            rounding = rounding_for(ctx.settings)
            from_summaries = await declaration_counts(
                ctx.store, query, now=now, rounding=rounding, exact=exact
            )
            from_wards = await declaration_counts(
                ctx.store, query, now=now, rounding=rounding, exact=exact, use_summaries=False
            )
            assert from_summaries == from_wards
        assert await ctx.store.count("report_rollups", {"kind": "summary"}) > 0
