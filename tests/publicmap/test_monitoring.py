"""The map's `under_monitoring`: people followed on the chosen date in each region, from the
monitoring counters (never a scan of episodes), rounded as atoms like every map figure."""

from __future__ import annotations

from datetime import timedelta

import httpx

from core.clock import local_day, utcnow
from core.context import Context
from publicmap.service import refresh
from reports.suppression import rounding_for
from tests.monitoring.conftest import HANOI, TRANG_TIEN
from tests.reports.test_monitoring_report import sick_arrivals

URL = "/v1/public/regions"


async def test_people_under_monitoring_appear_by_province_and_ward(
    ctx: Context, client: httpx.AsyncClient
) -> None:
    await sick_arrivals(ctx, client, 7)
    await refresh(ctx)
    today = local_day(utcnow())
    rounding = rounding_for(ctx.settings)
    value = rounding.publish(f"mon|{today.isoformat()}|{HANOI}|{TRANG_TIEN}", 7)
    want = value if value >= 5 else None

    provinces = (await client.get(URL)).json()["regions"]
    by_code = {r["code"]: r["under_monitoring"] for r in provinces}
    assert by_code[HANOI] == want
    assert {n for code, n in by_code.items() if code != HANOI} == {0}
    wards = (await client.get(URL, params={"level": "ward", "province": HANOI})).json()
    assert {r["code"]: r["under_monitoring"] for r in wards["regions"]}[TRANG_TIEN] == want

    # Yesterday nobody was followed yet.
    yesterday = (today - timedelta(days=1)).isoformat()
    earlier = (await client.get(URL, params={"date": yesterday})).json()["regions"]
    assert {r["under_monitoring"] for r in earlier} == {0}
    assert not await ctx.store.find("report_counters", {"kind": "map_monitoring"})
