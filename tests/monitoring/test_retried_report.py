"""A daily report sent again with its Idempotency-Key, kept as every route's first answer is
(`core.idempotency`): the retry is answered as long as the report is kept, reports
racing under one key store one, and the kept answer goes with the person's erasure. The
rest of the contract (per caller, 409 for another body, reports stored under the ids keys
used to make) is in `test_episodes.TestReports`."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from core.clock import utcnow
from core.context import Context
from tests.monitoring.conftest import person_under_follow_up

REPORT = {"temperature": 38.2, "symptoms": ["cough"]}


class TestRetriedReport:
    async def test_a_retry_days_later_still_gets_the_first_answer(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        """As when a report's id came from its key: the first answer lasts as the report."""
        citizen, _, opened = await person_under_follow_up(ctx, client)
        path = f"/v1/monitoring/{opened['id']}/reports"
        headers = {**citizen, "Idempotency-Key": "day-1"}
        first = await client.post(path, json=REPORT, headers=headers)
        assert first.status_code == 201, first.text
        await ctx.store.purge_expired(utcnow() + timedelta(days=3))
        again = await client.post(path, json=REPORT, headers=headers)
        assert (again.status_code, again.json()) == (201, first.json())
        assert again.headers["Idempotent-Replayed"] == "true"
        assert await ctx.store.count("monitoring_reports", {"episode_id": opened["id"]}) == 1

    async def test_retries_racing_their_first_request_store_one_report(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, _, opened = await person_under_follow_up(ctx, client)
        path = f"/v1/monitoring/{opened['id']}/reports"
        headers = {**citizen, "Idempotency-Key": "day-1-raced"}
        answers = await asyncio.gather(
            *(client.post(path, json=REPORT, headers=headers) for _ in range(4))
        )
        assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
        assert len({a.json()["id"] for a in answers}) == 1
        assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 3
        assert await ctx.store.count("monitoring_reports", {"episode_id": opened["id"]}) == 1
        episode = await ctx.store.get("monitoring_episodes", opened["id"])
        assert episode is not None
        assert episode["flags"] == ["fever", "symptoms"]

    async def test_the_kept_answer_goes_with_the_persons_erasure(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id, opened = await person_under_follow_up(ctx, client)
        path = f"/v1/monitoring/{opened['id']}/reports"
        reported = await client.post(
            path, json=REPORT, headers={**citizen, "Idempotency-Key": "day-1"}
        )
        assert reported.status_code == 201, reported.text
        kept = {"person_id": person_id, "kind": "monitoring_report"}
        assert await ctx.store.count("idempotency", kept) == 1
        erased = await client.delete(f"/v1/people/{person_id}", headers=citizen)
        assert erased.status_code == 204, erased.text
        assert await ctx.store.count("idempotency", kept) == 0
        assert await ctx.store.count("monitoring_reports", {"episode_id": opened["id"]}) == 0
