"""The daily jobs: run twice, or late after an outage, each thing happens once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx
import pytest

from core.clock import local_day, utcnow
from core.context import Context
from monitoring import jobs
from monitoring.jobs import run_daily_jobs
from tests.monitoring.conftest import HANOI, TRANG_TIEN, at, officer, person_under_follow_up


async def _reminders(ctx: Context) -> list[str]:
    found = await ctx.store.find("notifications", {"kind": "monitoring_reminder"})
    return sorted(str(n["_id"]) for n in found)


class TestReminders:
    async def test_one_reminder_an_evening_however_often_the_job_runs(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        await person_under_follow_up(ctx, client)
        today = local_day(utcnow())
        assert (await run_daily_jobs(ctx, at(today, 12))).reminded == 0  # not evening yet
        assert (await run_daily_jobs(ctx, at(today, 18))).reminded == 1
        assert (await run_daily_jobs(ctx, at(today, 18))).reminded == 0
        assert (await run_daily_jobs(ctx, at(today, 21))).reminded == 0
        assert len(await _reminders(ctx)) == 1
        tomorrow = today + timedelta(days=1)
        assert (await run_daily_jobs(ctx, at(tomorrow, 19))).reminded == 1
        assert len(await _reminders(ctx)) == 2

    async def test_an_evening_missed_by_a_two_hour_outage_is_still_reminded_once(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        await person_under_follow_up(ctx, client)
        today = local_day(utcnow())
        # Scheduler down from 17:30 to 19:30: the first run after it comes back reminds.
        assert (await run_daily_jobs(ctx, at(today, 19) + timedelta(minutes=30))).reminded == 1
        assert (await run_daily_jobs(ctx, at(today, 19) + timedelta(minutes=40))).reminded == 0
        assert len(await _reminders(ctx)) == 1

    async def test_someone_who_reported_today_is_not_reminded(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, _, opened = await person_under_follow_up(ctx, client)
        reported = await client.post(
            f"/v1/monitoring/{opened['id']}/reports", json={"temperature": 36.7}, headers=citizen
        )
        assert reported.status_code == 201
        assert (await run_daily_jobs(ctx, at(local_day(utcnow()), 20))).reminded == 0


class TestSilence:
    async def test_a_day_without_a_report_needs_attention_once(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        await person_under_follow_up(ctx, client)
        today = local_day(utcnow())
        assert (await run_daily_jobs(ctx, at(today, 20))).marked == 0  # day 1 is not over
        tomorrow = today + timedelta(days=1)
        assert (await run_daily_jobs(ctx, at(tomorrow, 8))).marked == 1
        assert (await run_daily_jobs(ctx, at(tomorrow, 9))).marked == 0
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        listed = await client.get(
            "/v1/monitoring", params={"needs_attention": "true"}, headers=ward_officer
        )
        [item] = listed.json()["items"]
        assert item["flags"] == ["no_report"]


class TestMoreEpisodesThanAPage:
    @pytest.mark.timeout(120)  # a job that re-reads the same page never returns
    async def test_every_silent_episode_is_marked_and_reminded(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Pages of two over three episodes: the jobs must walk past what they already did.
        monkeypatch.setattr(jobs, "PAGE", 2)
        for _ in range(3):
            await person_under_follow_up(ctx, client)
        tomorrow = local_day(utcnow()) + timedelta(days=1)
        done = await run_daily_jobs(ctx, at(tomorrow, 19))
        assert (done.marked, done.reminded) == (3, 3)
        assert len(await _reminders(ctx)) == 3
        again = await run_daily_jobs(ctx, at(tomorrow, 20))
        assert (again.marked, again.reminded) == (0, 0)


class TestWhichProcessRunsThem:
    """Without Redis there is no scheduler: each API process runs the jobs, unless told to
    leave them to others (`KHAIBAO_SCHEDULED_JOBS_IN_API=false`, as the benchmarks do)."""

    async def _runs_jobs(
        self, ctx: Context, monkeypatch: pytest.MonkeyPatch, *, in_api: bool
    ) -> bool:
        ran = asyncio.Event()

        async def recorded(ctx: Context, now: datetime) -> jobs.JobsDone:
            ran.set()
            return jobs.JobsDone(closed=0, marked=0, reminded=0)

        monkeypatch.setattr(jobs, "run_daily_jobs", recorded)
        monkeypatch.setattr(
            ctx, "settings", ctx.settings.model_copy(update={"scheduled_jobs_in_api": in_api})
        )
        task = jobs.start_daily_jobs(ctx)
        if task is None:
            return False
        try:
            await asyncio.wait_for(ran.wait(), timeout=10)
        finally:
            task.cancel()
        return True

    async def test_an_api_process_without_redis_runs_them(
        self, ctx: Context, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        assert await self._runs_jobs(ctx, monkeypatch, in_api=True)

    async def test_not_where_they_are_left_to_other_processes(
        self, ctx: Context, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        assert not await self._runs_jobs(ctx, monkeypatch, in_api=False)
