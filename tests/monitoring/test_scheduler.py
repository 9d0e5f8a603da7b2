"""The scheduled jobs on the real machinery: Celery beat (`khaibao scheduler`) sends them
through the real Redis to a real `khaibao worker`, which runs them on the shared database.
Sending them twice, or while the worker is down for a while, does each thing once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from celery import Celery

from core.clock import local_day, utcnow
from core.context import Context
from core.settings import Settings
from declarations.rules import DEFAULT_RULES_PATH
from monitoring.jobs import DAILY_JOBS_TASK
from notifications.broker import make_celery
from notifications.config import DeliverySettings
from tests.conftest import make_settings
from tests.monitoring.conftest import person_under_follow_up
from tests.notifications.conftest import (
    ROOT,
    SHARED_REDIS,
    Worker,
    WorkerFactory,
    khaibao_command,
    namespace,
    worker_env,
)
from tests.notifications.gateway import FakeSmsGateway

__all__ = ["namespace"]  # the notification tests' fixture: a Redis key prefix of our own


@pytest.fixture
def always_evening(tmp_path: Path) -> Path:
    """The default rules, reminding from midnight: the test may run at any hour."""
    text = DEFAULT_RULES_PATH.read_text(encoding="utf-8").replace(
        "remind_from_hour = 18", "remind_from_hour = 0"
    )
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def settings(database_url: str, always_evening: Path) -> Settings:
    return make_settings(database_url, rules_path=always_evening)


def _celery(namespace: str) -> Celery:
    os.environ["KHAIBAO_NOTIFY_NAMESPACE"] = namespace
    return make_celery(
        make_settings("sqlite:///unused", redis_url=SHARED_REDIS), DeliverySettings()
    )


async def _until(check: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "the scheduled job did not run in time"
        await asyncio.sleep(0.2)


async def _reminders(ctx: Context) -> int:
    return await ctx.store.count("notifications", {"kind": "monitoring_reminder"})


def _start_scheduler(env: dict[str, str], log: Path) -> Worker:
    """`khaibao scheduler` in its own process group (stopped like a worker)."""
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*khaibao_command(), "scheduler"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Worker(process, log)


def _env(settings: Settings, gateway: FakeSmsGateway, always_evening: Path) -> dict[str, str]:
    return worker_env(
        settings.database_url,
        SHARED_REDIS,
        gateway,
        KHAIBAO_RULES_PATH=str(always_evening),
        KHAIBAO_SCHEDULER_TICK_SECONDS="5",
    )


async def test_the_scheduler_sends_the_daily_jobs_and_a_worker_runs_them(
    ctx: Context,
    client: httpx.AsyncClient,
    settings: Settings,
    namespace: str,
    workers: WorkerFactory,
    gateway: FakeSmsGateway,
    always_evening: Path,
    tmp_path: Path,
) -> None:
    # As far back as an episode may start: its 14 days ended yesterday.
    started = local_day(utcnow()) - timedelta(days=14)
    _, _, finished = await person_under_follow_up(ctx, client, starts_on=started)
    env = _env(settings, gateway, always_evening)
    workers.start(env)
    beat = _start_scheduler(env, tmp_path / "scheduler.log")
    try:

        async def closed() -> bool:
            episode = await ctx.store.get("monitoring_episodes", finished["id"])
            return episode is not None and episode["status"] == "closed"

        await _until(closed)
    finally:
        beat.stop()
    episode = await ctx.store.get("monitoring_episodes", finished["id"])
    assert episode is not None
    assert episode["outcome"] == "completed"


async def test_sent_twice_and_after_an_outage_each_reminder_goes_once(
    ctx: Context,
    client: httpx.AsyncClient,
    settings: Settings,
    namespace: str,
    workers: WorkerFactory,
    gateway: FakeSmsGateway,
    always_evening: Path,
) -> None:
    await person_under_follow_up(ctx, client)
    await person_under_follow_up(ctx, client)
    celery = _celery(namespace)
    queue = DeliverySettings().queue
    # The worker is down (an outage): the scheduler's messages wait in Redis.
    for _ in range(3):
        celery.send_task(DAILY_JOBS_TASK, queue=queue)
    await asyncio.sleep(1)
    assert await _reminders(ctx) == 0
    workers.start(_env(settings, gateway, always_evening))

    async def both_reminded() -> bool:
        return await _reminders(ctx) == 2

    await _until(both_reminded)
    for _ in range(2):  # a later run, twice over, adds nothing the same day
        celery.send_task(DAILY_JOBS_TASK, queue=queue)
    await asyncio.sleep(3)
    assert await _reminders(ctx) == 2
