"""The map's published snapshot: every figure any answer can show, built from the counters by
the refresh job, stored once for all processes, and rendered from memory.

Atoms (`reports.suppression`): a ward's confirmed cases on one day, its declarations naming
a symptom on one day, and the people under monitoring in it on one day. The snapshot holds
each non-empty atom's rounded value for the `WINDOW_DAYS` ending today (the 30 dates one may
ask for, and the 30-day trend and 7-day sums behind the earliest of them), plus each ward's
rounded cases before that window. Every figure an answer shows — a ward's, a province's, a
day of the trend — is a sum of these rounded values, so answers for two dates, or for a
province and its wards, combine only into more sums of rounded atoms: no suppressed figure
can be recovered from them (SECURITY.md, "Published figures").

Never a scan of declarations: cases and symptoms come from `mcase|`/`msym|day|province|ward`
counters,
which a declaration and a confirmed case increment in their own atomic writes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from core.clock import local_day
from core.context import Context
from core.storage import Document
from publicmap import repository
from reports.folding import fold_before_reading
from reports.suppression import rounding_for

DATES = 30  # the dates one may ask for: today and the 29 days before
TREND_DAYS = 30
WINDOW_DAYS = DATES + TREND_DAYS - 1  # covers the 7-day sums too (7 <= TREND_DAYS)

# Columns of a snapshot cell: [province, ward, day offset, then (rounded, non-empty) per
# measure]. Offsets count from the window's first day.
CASES, SYMPTOMS, MONITORING = 0, 1, 2
MEASURES = ("cases", "symptomatic", "monitoring")


@dataclass(frozen=True)
class Snapshot:
    version: str
    built_at: datetime
    today: date
    first_day: date
    threshold: int
    base: int
    cells: list[list[int]]  # [province, ward, offset, cases, c?, symptoms, s?, monitored, m?]
    before: list[list[int]]  # [province, ward, rounded cases before the window, non-empty?]
    rounding: str = ""
    late: int = 0

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Snapshot:
        return cls(
            version=str(doc["version"]),
            built_at=doc["built_at"],
            today=date.fromisoformat(doc["today"]),
            first_day=date.fromisoformat(doc["first_day"]),
            threshold=int(doc["threshold"]),
            base=int(doc["base"]),
            cells=[list(map(int, cell)) for cell in doc["cells"]],
            before=[list(map(int, row)) for row in doc["before"]],
            rounding=str(doc.get("rounding", "")),
            late=int(doc.get("late", 0)),
        )


async def under_monitoring(
    ctx: Context, first: date, last: date
) -> dict[tuple[date, int, int], int]:
    """People under medical monitoring on each day `first..last`, per (day, province, ward)
    of the episode's address: true counts from the monitoring counters kept on write (never
    a scan of episodes); the snapshot rounds each as an atom like every other."""
    return await repository.under_monitoring(ctx.store, first, last)


async def build(
    ctx: Context, now: datetime, previous: Snapshot | None = None
) -> tuple[Document, str]:
    """The snapshot document for `now` and its version (a hash of its content, so a rebuild
    that found nothing new keeps every ETag valid).

    The first build of a day reads every map counter, for the cases before the window; the
    later builds of that day take those from `previous` and read only the window's counters,
    unless a case dated long ago was counted since (its marker moved)."""
    await fold_before_reading(ctx.store)  # declarations acknowledged until now count
    rounding = rounding_for(ctx.settings)
    today = local_day(now)
    first_day = today - timedelta(days=WINDOW_DAYS - 1)
    atoms: dict[tuple[int, int, int], list[int]] = {}
    before: dict[tuple[int, int], list[int]] = {}
    late = await repository.late_cases(ctx.store)
    reuse = (
        previous is not None
        and previous.today == today
        and previous.rounding == rounding.fingerprint
        and previous.late == late
    )
    if previous is not None and reuse:
        before = {(p, w): [n, present] for p, w, n, present in previous.before}

    def add(key: tuple[int, int, int], measure: int, atom: str, n: int) -> None:
        if n > 0:
            cell = atoms.setdefault(key, [0] * (2 * len(MEASURES)))
            cell[2 * measure] = rounding.publish(atom, n)
            cell[2 * measure + 1] = 1

    for doc in await repository.counters(ctx.store, first_day if reuse else None, today):
        province, ward, day = int(doc["province"]), int(doc["ward"]), date.fromisoformat(doc["day"])
        atom, n = str(doc["_id"]), int(doc["n"])
        if doc["kind"] == "map_cases" and day < first_day:
            if n > 0:
                row = before.setdefault((province, ward), [0, 0])
                row[0] += rounding.publish(atom, n)
                row[1] = 1
        elif day >= first_day:
            measure = CASES if doc["kind"] == "map_cases" else SYMPTOMS
            add((province, ward, (day - first_day).days), measure, atom, n)
    for (day, province, ward), n in (await under_monitoring(ctx, first_day, today)).items():
        key = (province, ward, (day - first_day).days)
        add(key, MONITORING, f"mon|{day.isoformat()}|{province}|{ward}", n)

    content: Document = {
        "today": today.isoformat(),
        "first_day": first_day.isoformat(),
        "threshold": ctx.settings.small_cell_threshold,
        "base": rounding.base,
        "rounding": rounding.fingerprint,
        "late": late,
        "cells": [[*key, *values] for key, values in sorted(atoms.items())],
        "before": [[*key, *values] for key, values in sorted(before.items())],
    }
    version = hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()[:20]
    return {**content, "version": version}, version
