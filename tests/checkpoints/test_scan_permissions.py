"""Who may scan where: only the staff of the checkpoint scanned at."""

from __future__ import annotations

from typing import Any

import httpx

from core.context import Context
from tests.checkpoints.helpers import new_checkpoint, staff_for
from tests.conftest import sign_in_staff


class TestWhoMayScanWhere:
    async def test_staff_of_another_checkpoint_get_403(
        self, client: httpx.AsyncClient, ctx: Context, scene: dict[str, Any]
    ) -> None:
        elsewhere = await new_checkpoint(ctx, client, name="Chợ Đồng Xuân", kind="market")
        staff_of_y = await staff_for(ctx, client, elsewhere["id"])
        response = await client.post(
            f"/v1/checkpoints/{scene['checkpoint_id']}/scans",
            json={"token": scene["token"]},
            headers=staff_of_y,
        )
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"

    async def test_unknown_checkpoint_is_404_for_staff_listing_it(
        self, client: httpx.AsyncClient, ctx: Context, scene: dict[str, Any]
    ) -> None:
        staff = await staff_for(ctx, client, "cp_GONE")
        response = await client.post(
            "/v1/checkpoints/cp_GONE/scans", json={"token": scene["token"]}, headers=staff
        )
        assert response.status_code == 404

    async def test_citizens_and_officers_cannot_scan(
        self, client: httpx.AsyncClient, ctx: Context, scene: dict[str, Any]
    ) -> None:
        officer = await sign_in_staff(ctx, client, "health_officer")
        url = f"/v1/checkpoints/{scene['checkpoint_id']}/scans"
        for headers in (scene["citizen"], officer):
            response = await client.post(url, json={"token": scene["token"]}, headers=headers)
            assert response.status_code == 403
        assert (await client.post(url, json={"token": scene["token"]})).status_code == 401
