"""An officer with an area confirms cases only inside it (API.md, "Additions": a
health_officer with an area sees and acts only inside it): a record elsewhere is answered as
a missing one (404), never confirmed, and never shown among the masked candidates."""

from __future__ import annotations

import httpx

from core.context import Context
from core.principals import Area
from tests.checkpoints.test_shadow_identities import (
    VICTIM_ID,
    VICTIM_PHONE,
    declare_self,
    status_of,
)
from tests.conftest import sign_in_citizen, sign_in_staff


class TestAnOfficerActsOnlyInsideTheirArea:
    async def test_records_outside_the_area_are_neither_confirmed_nor_shown(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        victim = await sign_in_citizen(client, VICTIM_PHONE)
        real = await declare_self(client, victim, VICTIM_PHONE)  # lives in Hà Nội (1)
        elsewhere = await sign_in_staff(ctx, client, "health_officer", area=Area(79))
        for body in (
            {"person_id": real},
            {"id_number": VICTIM_ID},
            {"id_number": VICTIM_ID, "phone": VICTIM_PHONE},
        ):
            answer = await client.post("/v1/cases", json=body, headers=elsewhere)
            assert answer.status_code == 404, answer.text
            assert real not in answer.text
        assert await status_of(ctx, real) == "green"
        inside = await sign_in_staff(ctx, client, "health_officer", area=Area(1))
        answer = await client.post("/v1/cases", json={"person_id": real}, headers=inside)
        assert answer.status_code == 201, answer.text
        assert await status_of(ctx, real) == "red"
