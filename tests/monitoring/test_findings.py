"""What an officer finds on a call or visit, and what a citizen's own report may change."""

from __future__ import annotations

from typing import Any

import httpx

from core.context import Context
from tests.monitoring.conftest import HANOI, TRANG_TIEN, officer, person_under_follow_up


async def attention_list(client: httpx.AsyncClient, headers: dict[str, str]) -> list[Any]:
    listed = await client.get("/v1/monitoring", params={"needs_attention": "true"}, headers=headers)
    assert listed.status_code == 200
    items: list[Any] = listed.json()["items"]
    return items


class TestAnOfficersFindingStands:
    async def test_a_citizens_report_does_not_clear_what_an_officer_found(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, _, opened = await person_under_follow_up(ctx, client)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        url = f"/v1/monitoring/{opened['id']}/reports"
        visit = await client.post(
            url,
            json={
                "temperature": 38.9,
                "symptoms": ["shortness_of_breath"],
                "outcome": "seen_not_ok",
            },
            headers=ward_officer,
        )
        assert visit.status_code == 201
        mine = await client.post(url, json={"temperature": 36.5, "symptoms": []}, headers=citizen)
        assert mine.status_code == 201
        [item] = await attention_list(client, ward_officer)
        assert item["id"] == opened["id"]
        assert item["flags"] == ["fever", "seen_not_ok", "symptoms"]
        # A citizen's report may add to it ...
        cough = await client.post(url, json={"symptoms": ["cough"]}, headers=citizen)
        assert cough.status_code == 201
        # ... and an officer's later visit that finds them well clears it.
        well = await client.post(
            url, json={"temperature": 36.6, "outcome": "seen_ok"}, headers=ward_officer
        )
        assert well.status_code == 201
        assert await attention_list(client, ward_officer) == []
        assert await ctx.store.count("monitoring_reports", {"episode_id": opened["id"]}) == 4

    async def test_a_call_that_did_not_reach_them_clears_nothing(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, _, opened = await person_under_follow_up(ctx, client)
        url = f"/v1/monitoring/{opened['id']}/reports"
        fever = await client.post(url, json={"temperature": 38.7}, headers=citizen)
        assert fever.status_code == 201
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        call = await client.post(url, json={"outcome": "not_reached"}, headers=ward_officer)
        assert call.status_code == 201
        [item] = await attention_list(client, ward_officer)
        assert (item["flags"], item["latest_temperature"]) == (["fever"], 38.7)
