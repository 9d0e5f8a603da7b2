"""The revocation list names the codes of people whose status worsened. Open to anyone, it
let whoever had photographed a QR code (its `jti` is readable in the payload) learn that
its holder became a case or a contact. Only checkpoint staff, who scan and so need it for
working offline, may read it: their scanner signs in and syncs before going offline."""

from __future__ import annotations

import httpx

from core.clock import utcnow
from core.context import Context
from qr.revocations import revoke_live_tokens
from tests.checkpoints.helpers import create_person, person_token, unverified_parts
from tests.conftest import sign_in_citizen, sign_in_staff

PROBLEM = "application/problem+json"


async def photographed_then_revoked(client: httpx.AsyncClient, ctx: Context) -> str:
    """A's code, as someone standing behind A photographed it, then A's status worsened
    (its live codes revoked, as tracing does). Returns the code's jti."""
    victim = await sign_in_citizen(client, "+84900000001")
    person_id = await create_person(client, victim)
    photographed = await person_token(client, victim, person_id)
    ops = await revoke_live_tokens(ctx.store, person_id, reason="status_worsened", now=utcnow())
    assert ops
    await ctx.store.write(ops)
    return str(unverified_parts(photographed)[1]["jti"])


class TestRevocationListNeedsCheckpointStaff:
    async def test_without_sign_in_the_list_is_refused_and_names_no_code(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        jti = await photographed_then_revoked(client, ctx)
        for params in ({}, {"since": "2026-01-01T00:00:00Z"}):
            answer = await client.get("/v1/revocations", params=params)
            assert answer.status_code == 401, answer.text
            assert answer.headers["content-type"] == PROBLEM
            assert answer.headers["www-authenticate"] == "Bearer"
            assert jti not in answer.text

    async def test_a_citizen_or_other_staff_cannot_read_it(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        jti = await photographed_then_revoked(client, ctx)
        callers = [
            await sign_in_citizen(client, "+84900000002"),
            await sign_in_staff(ctx, client, "health_officer"),
            await sign_in_staff(ctx, client, "analyst"),
        ]
        for headers in callers:
            answer = await client.get("/v1/revocations", headers=headers)
            assert answer.status_code == 403, answer.text
            assert jti not in answer.text

    async def test_a_signed_in_scanner_syncs_the_list_for_offline_use(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        jti = await photographed_then_revoked(client, ctx)
        scanner = await sign_in_staff(ctx, client, "checkpoint_staff", checkpoints=("cp_x",))
        answer = await client.get("/v1/revocations", headers=scanner)
        assert answer.status_code == 200, answer.text
        assert [entry["jti"] for entry in answer.json()["revoked"]] == [jti]
