"""The monitoring episodes the worklist rows of `khaibao bench` read: 100,000 nationally.

Issue 19 asks that the officer's worklist of a ward answer from an index when the country
has 100,000 people under follow-up. Opening them through the API would take 100,000
officer requests and benchmark opening instead, so seeding takes a documented fast path, as
`load.inprocess.faq` does: each episode is made by the service's own
`monitoring.service.episode_document` (its urgency key by `monitoring.episodes.urgency_key`,
a closed one's fields by `closing_fields`) and written through the storage port in batches
of `BATCH`, into the database of the running server. Report counters and daily reports are not
written: the worklist reads neither.

What is seeded, from a fixed seed:

* provinces drawn with `load.data`'s population weights, a ward drawn within each, so all
  34 provinces and most of their wards hold episodes; `WARD_SHARE` of them in one ward
  (`load.seed_staff.OFFICER_AREA`, Hà Nội), as a market cluster fills a ward;
* `ACTIVE_SHARE` active, started within the last 14 days; the rest closed in the last month
  (mostly completed, some became cases, a few lost);
* reasons: contacts found by tracing, arrivals, cases, other; at home, a facility, a hotel;
* of the active ones, `ATTENTION` needing attention: a fever, a visit that found the person
  unwell, symptoms, or no report for days (overdue), so the worklist's first pages are the
  urgent ones, as on a bad day.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from core.clock import local_day, utcnow
from core.context import Context
from core.storage import Document, Operation
from load.data import provinces
from load.inprocess.store import settings_for
from load.seed_staff import OFFICER_AREA
from monitoring import repository
from monitoring.episodes import urgency_key
from monitoring.service import Subject, closing_fields, episode_document
from runtime.context import build_context, close_context

EPISODES = 100_000
BATCH = 1_000
# An outbreak ward: 1,000 of the 100,000, where the national average is about 30.
WARD_SHARE = 0.01
ACTIVE_SHARE = 0.85
# Of the active episodes, what the latest report (or the silence job) said. "no_report":
# overdue, no report for one to three days.
ATTENTION = (("fever", 0.03), ("seen_not_ok", 0.02), ("symptoms", 0.05), ("no_report", 0.10))
REASONS = (("contact", 60), ("entry", 20), ("case", 8), ("other", 12))
PLACES = (("home", 80), ("facility", 12), ("hotel", 8))
OUTCOMES = (("completed", 90), ("became_case", 6), ("lost", 2), ("cancelled", 2))
OPENED_BY = {"contact": "tracing", "entry": "entry", "case": "officer", "other": "officer"}


@dataclass
class Seeded:
    """What the seeding wrote, for the bench's line and the test."""

    episodes: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_reason: Counter[str] = field(default_factory=Counter)
    needing_attention: int = 0  # active, with a flag
    active_in_ward: int = 0  # active, in OFFICER_AREA
    active_in_province: int = 0  # active, in OFFICER_AREA's province
    provinces: set[int] = field(default_factory=set)
    wards: set[int] = field(default_factory=set)
    seconds: float = 0.0

    def count(self, episode: Document) -> None:
        self.episodes += 1
        self.by_status[episode["status"]] += 1
        self.by_reason[episode["reason"]] += 1
        self.provinces.add(episode["province"])
        self.wards.add(episode["ward"])
        if episode["status"] == "active":
            self.needing_attention += bool(episode["flags"])
            if episode["province"] == OFFICER_AREA[0]:
                self.active_in_province += 1
                self.active_in_ward += episode["ward"] == OFFICER_AREA[1]


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([name for name, _ in weighted], [w for _, w in weighted])[0]


def _attention(rng: random.Random) -> set[str]:
    draw, flags = rng.random(), set()
    for flag, share in ATTENTION:
        if draw < share:
            flags.add(flag)
            break
        draw -= share
    if "fever" in flags and rng.random() < 0.5:
        flags.add("symptoms")  # a fever rarely comes alone
    return flags


def episode(ctx: Context, rng: random.Random, number: int, today: date, now: datetime) -> Document:
    """One episode as the service stores it, then moved on by the reports it had."""
    codes, weights, wards = provinces()
    if rng.random() < WARD_SHARE:
        province, ward = OFFICER_AREA
    else:
        province = rng.choices(codes, weights)[0]
        ward = rng.choice(wards[province])
    reason = _pick(rng, REASONS)
    active = rng.random() < ACTIVE_SHARE
    started = today - timedelta(days=rng.randint(0, 13) if active else rng.randint(14, 44))
    subject = (
        Subject(None, None, f"edc_BENCH{number:020d}")
        if reason == "entry"
        else Subject(f"per_BENCH{number:020d}", f"acc_BENCH{number:020d}", None)
    )
    document = episode_document(
        ctx,
        subject,
        reason=reason,
        place="hotel" if reason == "entry" and rng.random() < 0.5 else _pick(rng, PLACES),
        province=province,
        ward=ward,
        street=None,
        starts_on=started,
        days=None,  # the ministry's default for the reason
        opened_by=OPENED_BY[reason],
        officer_id=None,
        team=None,
        now=now - timedelta(days=(today - started).days),
    )
    if not active:  # closed by the daily job the day after its last day
        ended = date.fromisoformat(document["ends_on"])
        closed = now - timedelta(days=max(0, (today - ended).days - 1))
        return {**document, **closing_fields(ctx, _pick(rng, OUTCOMES), closed)}
    flags = _attention(rng) if started < today else set()
    silent = rng.randint(1, 3) if "no_report" in flags else 0
    last_day = max(today - timedelta(days=silent + 1 if silent else rng.randint(0, 1)), started)
    reported = last_day >= started and not (silent and last_day == started)
    temperature = round(rng.uniform(38.0, 39.5) if "fever" in flags else rng.uniform(36.2, 37.3), 1)
    return {
        **document,
        "flags": sorted(flags),
        "no_report": "no_report" in flags,
        "last_report_day": last_day.isoformat() if reported else document["last_report_day"],
        "last_report_at": now - timedelta(days=(today - last_day).days) if reported else None,
        "latest_temperature": temperature if reported else None,
        "urgency_key": urgency_key(flags, document["ends_on"], document["_id"]),
    }


def episodes(
    ctx: Context, count: int, *, seed: int = 2021, now: datetime | None = None
) -> Iterator[Document]:
    now = now or utcnow()
    rng, today = random.Random(f"{seed}:worklist"), local_day(now)
    for number in range(count):
        yield episode(ctx, rng, number, today, now)


async def seed_worklist(ctx: Context, count: int = EPISODES, *, seed: int = 2021) -> Seeded:
    """Write `count` episodes through `ctx.store`, `BATCH` to a write."""
    seeded, started = Seeded(), time.monotonic()
    batch: list[Operation] = []
    for document in episodes(ctx, count, seed=seed):
        seeded.count(document)
        batch.append(repository.insert_episode(document))
        if len(batch) == BATCH:
            await ctx.store.write(batch)
            batch = []
    if batch:
        await ctx.store.write(batch)
    seeded.seconds = time.monotonic() - started
    return seeded


def seed_worklist_sync(env: dict[str, str], count: int = EPISODES) -> Seeded:
    """Into the database of the server started with `env`, through a context opened as the
    service's CLI opens one."""

    async def run() -> Seeded:
        ctx = await build_context(settings_for(env))
        try:
            return await seed_worklist(ctx, count)
        finally:
            await close_context(ctx)

    return asyncio.run(run())
