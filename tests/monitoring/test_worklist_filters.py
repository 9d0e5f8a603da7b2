"""The worklist's filters: a place outside the officer's area, a place that does not exist,
a cursor that is not one, and what needs attention."""

from __future__ import annotations

import httpx
import pytest

from core.context import Context
from tests.monitoring.conftest import HANOI, TRANG_TIEN, officer, person_under_follow_up

SAIGON_WARD, OTHER_HANOI_WARD = 26506, 73


class TestPlaces:
    async def test_a_ward_outside_the_area_is_403_whoever_names_it(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        province_officer = await officer(ctx, client, HANOI, None)
        for headers, ward in ((ward_officer, OTHER_HANOI_WARD), (province_officer, SAIGON_WARD)):
            answer = await client.get("/v1/monitoring", params={"ward": ward}, headers=headers)
            assert answer.status_code == 403, ward
            assert answer.json()["code"] == "forbidden"

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"ward": 99999}, "query.ward"),
            ({"province": HANOI, "ward": SAIGON_WARD}, "query.ward"),
            ({"province": 3}, "query.province"),
        ],
    )
    async def test_a_place_that_does_not_exist_is_422(
        self, ctx: Context, client: httpx.AsyncClient, params: dict[str, int], field: str
    ) -> None:
        national = await officer(ctx, client, None)
        answer = await client.get("/v1/monitoring", params=params, headers=national)
        assert answer.status_code == 422
        problem = answer.json()
        assert problem["code"] == "validation_failed"
        assert [e["field"] for e in problem["errors"]] == [field]

    async def test_a_ward_alone_is_enough_for_a_national_officer(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        _, _, opened = await person_under_follow_up(ctx, client)
        national = await officer(ctx, client, None)
        answer = await client.get("/v1/monitoring", params={"ward": TRANG_TIEN}, headers=national)
        assert answer.status_code == 200
        assert [i["id"] for i in answer.json()["items"]] == [opened["id"]]


class TestCursorAndAttention:
    @pytest.mark.parametrize("cursor", ["junk", "0|0400|2026-12-01", "1|99x9|2026-12-01|mon_a"])
    async def test_a_cursor_that_no_page_gave_is_422(
        self, ctx: Context, client: httpx.AsyncClient, cursor: str
    ) -> None:
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        answer = await client.get("/v1/monitoring", params={"cursor": cursor}, headers=ward_officer)
        assert answer.status_code == 422
        assert [e["field"] for e in answer.json()["errors"]] == ["query.cursor"]

    async def test_needs_attention_lists_active_episodes_only(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        _, _, opened = await person_under_follow_up(ctx, client)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        url = f"/v1/monitoring/{opened['id']}/reports"
        visit = await client.post(url, json={"outcome": "seen_not_ok"}, headers=ward_officer)
        assert visit.status_code == 201
        closed = await client.post(
            f"/v1/monitoring/{opened['id']}/close",
            json={"outcome": "became_case"},
            headers=ward_officer,
        )
        assert closed.status_code == 200
        answer = await client.get(
            "/v1/monitoring",
            params={"status": "closed", "needs_attention": "true"},
            headers=ward_officer,
        )
        assert answer.status_code == 422
        assert [e["field"] for e in answer.json()["errors"]] == ["query.needs_attention"]
        active = await client.get(
            "/v1/monitoring", params={"needs_attention": "true"}, headers=ward_officer
        )
        assert active.json()["items"] == []
