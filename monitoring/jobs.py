"""The daily work of monitoring, run by Celery beat (`khaibao scheduler`) or, without Redis,
by each API process: close finished episodes, mark silence, remind in the evening.

Each job reads what is still to do from the episodes themselves and marks it done in the
same atomic batch as its effect, so running twice, or late after an outage, does each thing
once: a closed episode is not active any more, a reminded one carries today's date.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from accounts import repository as accounts_repository
from core.background import repeat
from core.clock import VIETNAM, local_day, utcnow
from core.context import Context
from core.logging import log_event
from core.storage import Document, DuplicateKey, Operation, PreconditionFailed
from declarations.rules import rules_for
from monitoring import repository
from monitoring.episodes import urgency_key
from monitoring.service import closing_fields, ending
from notifications.outbox import new_notification
from people.repository import get_person, person_held
from reports.counters import count_monitoring_attention

log = logging.getLogger(__name__)

PAGE = 200
# The scheduled task's name: Celery beat (`khaibao scheduler`) sends it, the worker runs it.
DAILY_JOBS_TASK = "monitoring.daily_jobs"


@dataclass(frozen=True)
class JobsDone:
    closed: int
    marked: int
    reminded: int


async def run_daily_jobs(ctx: Context, now: datetime) -> JobsDone:
    done = JobsDone(
        closed=await close_finished(ctx, now),
        marked=await mark_silent(ctx, now),
        reminded=await remind(ctx, now),
    )
    if done.closed or done.marked or done.reminded:
        log_event(log, "monitoring jobs", **done.__dict__)
    return done


async def close_finished(ctx: Context, now: datetime) -> int:
    """Episodes whose last day has passed close as `completed`."""
    today = local_day(now).isoformat()
    closed = 0
    while page := await repository.ended_before(ctx.store, today, limit=PAGE):
        for episode in page:
            # One that changed meanwhile (a report, an officer's close) is looked at again
            # on the next page or the next run.
            closed += await _apply(
                ctx, ending(ctx, episode, closing_fields(ctx, "completed", now), now)
            )
        if len(page) < PAGE:
            break
    return closed


async def mark_silent(ctx: Context, now: datetime) -> int:
    """Active episodes without a report for `no_report_days` get the `no_report` flag."""
    policy = rules_for(ctx).monitoring
    cutoff = (local_day(now) - timedelta(days=policy.no_report_days)).isoformat()
    marked = 0
    tried: set[str] = set()
    # A marked episode leaves the query, so each page is the next one.
    while page := await repository.silent_unmarked(ctx.store, cutoff, limit=PAGE):
        todo = [e for e in page if e["_id"] not in tried]
        if not todo:
            break  # each lost to a change made meanwhile: the next run looks again
        for episode in todo:
            tried.add(episode["_id"])
            flags = {*episode.get("flags", []), "no_report"}
            fields = {
                "no_report": True,
                "flags": sorted(flags),
                "urgency_key": urgency_key(flags, episode["ends_on"], episode["_id"]),
            }
            marked += await _apply(
                ctx,
                [
                    # As read: a report landing meanwhile wins, the next run looks again.
                    repository.update_episode(
                        episode["_id"],
                        fields,
                        status="active",
                        no_report=False,
                        urgency_key=episode["urgency_key"],
                    ),
                    *ctx.counters.steps(
                        count_monitoring_attention(episode, episode.get("flags", []), flags),
                        now=now,
                    ),
                ],
            )
        if len(page) < PAGE:
            break
    return marked


async def remind(ctx: Context, now: datetime) -> int:
    """From the evening on, each person who has not reported today gets one reminder a day,
    through the outbox; the reminder and the episode's `reminded_day` land together."""
    policy = rules_for(ctx).monitoring
    if now.astimezone(VIETNAM).hour < policy.remind_from_hour:
        return 0
    today = local_day(now).isoformat()
    reminded = 0
    tried: set[str] = set()
    # A reminded episode leaves the query, so each page is the next one.
    while page := await repository.unreminded(ctx.store, today, limit=PAGE):
        todo = [e for e in page if e["_id"] not in tried]
        if not todo:
            break  # each lost to a change made meanwhile: the next run looks again
        for episode in todo:
            tried.add(episode["_id"])
            reminded += await _remind_one(ctx, episode, today)
        if len(page) < PAGE:
            break
    return reminded


async def _remind_one(ctx: Context, episode: Document, today: str) -> int:
    person_id = episode.get("person_id")
    person = await get_person(ctx.store, str(person_id)) if person_id else None
    account = await accounts_repository.account(ctx.store, str(episode.get("account_id")))
    phone_enc = account.get("phone_enc") if account else None
    mark = repository.update_episode(
        episode["_id"],
        {"reminded_day": today},
        status="active",
        reminded_day=episode.get("reminded_day"),
    )
    if person is None or account is None or phone_enc is None:
        await _apply(ctx, [mark])  # nobody to remind: marked, so it is not looked at again
        return 0
    _, notification = new_notification(
        ctx.cipher,
        kind="monitoring_reminder",
        phone=ctx.cipher.decrypt(phone_enc, context=accounts_repository.PHONE_CONTEXT),
        locale=str(account.get("locale", "vi")),
        params={"day": today},
        notification_id=f"ntf_rem_{episode['_id']}_{today}",
        about=str(person["_id"]),
    )
    # A message about the person only while they are there (their erasure reads the
    # messages about them once it began).
    return await _apply(ctx, [mark, notification, person_held(str(person["_id"]))])


async def _apply(ctx: Context, ops: list[Operation]) -> int:
    """1 when the batch landed; 0 when another run got there first."""
    try:
        await ctx.store.write(ops)
    except (PreconditionFailed, DuplicateKey):
        return 0
    return 1


async def daily_jobs_forever(ctx: Context) -> None:
    """Without Redis there is no scheduler process: each API process runs the jobs itself
    every `KHAIBAO_SCHEDULER_TICK_SECONDS`. Several processes doing so is harmless, since
    every job is idempotent."""
    await repeat(
        lambda: run_daily_jobs(ctx, utcnow()),
        seconds=ctx.settings.scheduler_tick_seconds,
        what="monitoring jobs",
        log=log,
    )


def start_daily_jobs(ctx: Context) -> asyncio.Task[None] | None:
    """The in-process fallback when no scheduler can run (no Redis), else nothing; nothing
    either where `KHAIBAO_SCHEDULED_JOBS_IN_API` is off."""
    if ctx.redis is not None:
        return None
    if not ctx.settings.scheduled_jobs_in_api:
        # Nothing closes episodes or reminds anyone unless another process runs the jobs.
        log.warning(
            "monitoring's daily jobs are left to other processes "
            "(KHAIBAO_SCHEDULED_JOBS_IN_API=false, no Redis)"
        )
        return None
    return asyncio.create_task(daily_jobs_forever(ctx))
