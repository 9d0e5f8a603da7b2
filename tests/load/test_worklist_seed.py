"""The worklist rows of `khaibao bench` read what their line says was seeded: episodes by
status across the country, a ward with a full list, officers who see their area's episodes
most urgent first. Seeded here at 5,000 episodes, where the bench seeds 100,000."""

from __future__ import annotations

import httpx

from core.context import Context
from core.principals import Area
from load.inprocess.worklist import REASONS, Seeded, seed_worklist
from load.seed_staff import OFFICER_AREA
from tests.conftest import sign_in_staff

EPISODES = 5_000


async def seeded(ctx: Context) -> Seeded:
    return await seed_worklist(ctx, EPISODES)


class TestSeeding:
    async def test_the_store_holds_the_counts_the_bench_reports(self, ctx: Context) -> None:
        found = await seeded(ctx)
        active = await ctx.store.count("monitoring_episodes", {"status": "active"})
        closed = await ctx.store.count("monitoring_episodes", {"status": "closed"})
        assert (active, closed) == (found.by_status["active"], found.by_status["closed"])
        assert active + closed == found.episodes == EPISODES
        urgent = await ctx.store.count(
            "monitoring_episodes", {"status": "active", "urgency_key": {"$lt": "1"}}
        )
        assert urgent == found.needing_attention

    async def test_most_are_active_some_need_attention_for_every_reason_nationally(
        self, ctx: Context
    ) -> None:
        found = await seeded(ctx)
        assert 0.80 < found.by_status["active"] / EPISODES < 0.90
        assert 0.10 < found.needing_attention / found.by_status["active"] < 0.30
        assert set(found.by_reason) == {reason for reason, _ in REASONS}
        assert len(found.provinces) == 34
        assert found.active_in_ward >= 30  # the outbreak ward


class TestOfficersLists:
    async def test_the_ward_officer_sees_the_ward_most_urgent_first(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        found = await seeded(ctx)
        officer = await sign_in_staff(ctx, client, "health_officer", area=Area(*OFFICER_AREA))
        answer = await client.get("/v1/monitoring", params={"limit": 200}, headers=officer)
        assert answer.status_code == 200, answer.text
        items = answer.json()["items"]
        assert len(items) == found.active_in_ward
        assert {(i["province"], i["ward"]) for i in items} == {OFFICER_AREA}
        flagged = [bool(i["flags"]) for i in items]
        assert flagged == sorted(flagged, reverse=True)  # those needing attention first
        assert any(flagged)

    async def test_the_province_officer_gets_full_pages_of_the_province(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        found = await seeded(ctx)
        assert found.active_in_province > 100
        officer = await sign_in_staff(ctx, client, "health_officer", area=Area(OFFICER_AREA[0]))
        first = (await client.get("/v1/monitoring", headers=officer)).json()
        assert len(first["items"]) == 50  # the API's default page
        assert {i["province"] for i in first["items"]} == {OFFICER_AREA[0]}
        second = await client.get(
            "/v1/monitoring", params={"cursor": first["next"]}, headers=officer
        )
        assert len(second.json()["items"]) == 50
