"""Confirming a case is bounded in time and idempotent. A `confirmed_at` years in the past
made tracing sweep every scan and check-in ever stored (and mark contacts from long-ended
visits); it must lie within the exposure lookback window. Confirming the same person again
within the episode (the lookback window after the first confirmation) created a second
case; it is now the same case, also when two officers confirm at once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx

from core.clock import VIETNAM, utcnow
from core.context import Context
from tests.checkpoints.helpers import create_person
from tests.conftest import sign_in_citizen, sign_in_staff


async def red_people(ctx: Context) -> int:
    return await ctx.store.count("people", {"status": "red"})


class TestConfirmedAtWithinTheLookback:
    async def test_a_confirmation_dated_before_the_window_is_refused_and_changes_nothing(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        officer = await sign_in_staff(ctx, client, "health_officer")
        lookback = timedelta(days=ctx.settings.exposure_lookback_days)
        for long_ago in (utcnow() - lookback - timedelta(hours=1), utcnow() - timedelta(days=900)):
            answer = await client.post(
                "/v1/cases",
                json={"person_id": person_id, "confirmed_at": long_ago.isoformat()},
                headers=officer,
            )
            assert answer.status_code == 422, answer.text
            problem = answer.json()
            assert problem["code"] == "validation_failed"
            assert any("confirmed_at" in str(e["field"]) for e in problem["errors"]), problem
        assert await ctx.store.count("cases", {}) == 0
        assert await red_people(ctx) == 0

    async def test_a_confirmation_inside_the_window_is_accepted(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        officer = await sign_in_staff(ctx, client, "health_officer")
        recent = utcnow() - timedelta(days=ctx.settings.exposure_lookback_days - 1)
        answer = await client.post(
            "/v1/cases",
            json={"person_id": person_id, "confirmed_at": recent.isoformat()},
            headers=officer,
        )
        assert answer.status_code == 201, answer.text
        assert await red_people(ctx) == 1


class TestTheSamePersonIsOneCase:
    async def test_confirming_again_returns_the_same_case(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        officer = await sign_in_staff(ctx, client, "health_officer")
        other_officer = await sign_in_staff(ctx, client, "health_officer")
        first = await client.post("/v1/cases", json={"person_id": person_id}, headers=officer)
        earlier = (utcnow() - timedelta(days=2)).isoformat()
        second = await client.post(
            "/v1/cases",
            json={"person_id": person_id, "confirmed_at": earlier},
            headers=other_officer,
        )
        assert first.status_code == 201, first.text
        assert second.status_code in (200, 201), second.text
        assert second.json()["id"] == first.json()["id"]
        assert await ctx.store.count("cases", {}) == 1
        assert await ctx.store.count("notifications", {"kind": "status_change"}) == 1

    async def test_two_officers_confirming_at_once_make_one_case(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        officers = [await sign_in_staff(ctx, client, "health_officer") for _ in range(4)]
        answers = await asyncio.gather(
            *(client.post("/v1/cases", json={"person_id": person_id}, headers=o) for o in officers)
        )
        assert {a.status_code for a in answers} <= {200, 201}, [a.text for a in answers]
        assert len({a.json()["id"] for a in answers}) == 1
        assert await ctx.store.count("cases", {}) == 1
        assert await ctx.store.count("notifications", {"kind": "status_change"}) == 1

    async def test_confirming_again_answers_the_same_confirmed_at_in_the_same_words(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        """Found in review: the first answer echoed the offset sent ("…+07:00"), the repeat
        the stored instant ("…Z"); an app comparing the two saw another date."""
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        officer = await sign_in_staff(ctx, client, "health_officer")
        sent = (utcnow() - timedelta(hours=3)).astimezone(VIETNAM).replace(microsecond=123456)
        body = {"person_id": person_id, "confirmed_at": sent.isoformat()}
        assert sent.isoformat().endswith(".123456+07:00")
        first = await client.post("/v1/cases", json=body, headers=officer)
        again = await client.post("/v1/cases", json=body, headers=officer)
        assert (first.status_code, again.status_code) == (201, 201), again.text
        assert again.json() == first.json()
        confirmed_at = first.json()["confirmed_at"]
        assert confirmed_at.endswith("Z")  # UTC, whatever offset was sent
        assert datetime.fromisoformat(confirmed_at) == sent.replace(microsecond=123000)
