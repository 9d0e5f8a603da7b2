"""Daily summaries: one document per ended day holding every province's counts per status
and per status × symptom, built from the ward-level counters the first time a report needs
that day, then reused. A year of a national report reads 366 summaries instead of millions
of counter cells; a day's summary is a few hundred numbers.

A summary records, per province, the generation it was built at. Counting a declaration for
a day that has already ended bumps that day's and province's generation marker in the same
atomic write (`reports.counters.count_declaration`), and a province section whose recorded
generation differs from the marker is stale: the next report re-reads the counters of that
day and province only, and writes the day's summary back. Builders read the markers *before*
the counters, so a late write racing a build leaves a recorded generation that no longer
matches, and the section is rebuilt on the next read; two builders racing each other write
documents that are each consistent section by section, so whichever lands last is right or
detectably stale. Writes for the current day never touch the markers, and a day is only
summarised `ROLLUP_GRACE` after it ended, once writes in flight at midnight have landed.

Each summary cell holds the true count and the sum of its atoms' published values
(`reports.suppression`): reports publish the second, the exactness checks read the first.
The summary names the rounding it was built with; a summary built with another key or base
(or before rounding existed) counts as missing and is rebuilt.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from core.storage import Document, StorageError, Store
from reports import repository
from reports.suppression import Rounding

log = logging.getLogger(__name__)

ROLLUP_GRACE = timedelta(minutes=15)
# Days of counters read per query while building: bounds memory on a first national build.
BUILD_DAYS = 7

Markers = dict[str, dict[int, int]]  # day -> province -> generation


@dataclass
class Section:
    """One province's counts on one day: true and published, per status (and symptom)."""

    status: Counter[str] = field(default_factory=Counter)
    symptom: Counter[tuple[str, str]] = field(default_factory=Counter)
    status_published: Counter[str] = field(default_factory=Counter)
    symptom_published: Counter[tuple[str, str]] = field(default_factory=Counter)


def days_between(first: date, last: date) -> Iterator[date]:
    for offset in range((last - first).days + 1):
        yield first + timedelta(days=offset)


def day_runs(days: Sequence[date], longest: int = BUILD_DAYS) -> Iterator[tuple[date, date]]:
    """Sorted days as (first, last) runs of consecutive days, each at most `longest` long:
    yesterday plus one day a month ago reads two days of counters, not thirty."""
    start = previous = days[0]
    for day in days[1:]:
        if day != previous + timedelta(days=1) or (day - start).days >= longest:
            yield start, previous
            start = day
        previous = day
    yield start, previous


async def summary_cells(
    store: Store,
    first: date,
    last: date,
    province: int | None,
    *,
    with_symptom: bool,
    rounding: Rounding,
    exact: bool = False,
) -> list[dict[str, Any]]:
    """The non-empty cells of the ended days `first..last` (day, province, status[, symptom],
    n): `n` published, or true with `exact`."""
    cells: list[dict[str, Any]] = []
    pick = 0 if exact else 1
    for doc in await daily_summaries(store, first, last, province, rounding):
        day = doc["day"]
        if with_symptom:
            for code, status, symptom, *n in doc["symptom_cells"]:
                if province is None or code == province:
                    cells.append(
                        {
                            "day": day,
                            "province": code,
                            "status": status,
                            "symptom": symptom,
                            "n": n[pick],
                        }
                    )
        else:
            for code, status, *n in doc["cells"]:
                if province is None or code == province:
                    cells.append({"day": day, "province": code, "status": status, "n": n[pick]})
    return cells


async def daily_summaries(
    store: Store, first: date, last: date, province: int | None, rounding: Rounding
) -> list[Document]:
    """A summary per day of the range whose sections for `province` (or all) are fresh,
    rebuilding what is missing or stale."""
    markers: Markers = {}
    for marker in await repository.rollups(store, "gen", first, last):
        markers.setdefault(marker["day"], {})[int(marker["province"])] = int(marker.get("gen", 0))
    stored = {
        s["day"]: s
        for s in await repository.rollups(store, "summary", first, last)
        if s.get("rounding") == rounding.fingerprint
    }
    fresh: list[Document] = []
    missing: list[date] = []
    stale: dict[str, tuple[Document, set[int]]] = {}
    for day in days_between(first, last):
        key = day.isoformat()
        found = stored.get(key)
        if found is None:
            missing.append(day)
            continue
        recorded = {int(code): int(gen) for code, gen in found.get("gens", [])}
        current = markers.get(key, {})
        wanted = {province} if province is not None else set(recorded) | set(current)
        outdated = {code for code in wanted if recorded.get(code, 0) != current.get(code, 0)}
        if outdated:
            stale[key] = (found, outdated)
        else:
            fresh.append(found)
    if missing or stale:
        fresh.extend(await _rebuild(store, missing, stale, markers, rounding))
    return fresh


async def _rebuild(
    store: Store,
    missing: Sequence[date],
    stale: Mapping[str, tuple[Document, set[int]]],
    markers: Markers,
    rounding: Rounding,
) -> list[Document]:
    read: dict[str, dict[int, Section]] = {}
    for first, last in day_runs(missing) if missing else ():
        await _read_sections(store, read, first, last, None, rounding)
    for key, (_, outdated) in stale.items():
        day = date.fromisoformat(key)
        await _read_sections(store, read, day, day, sorted(outdated), rounding)
    summaries: list[Document] = []
    for day in missing:
        key = day.isoformat()
        summaries.append(_summary(key, read.get(key, {}), markers.get(key, {}), rounding))
    for key, (doc, outdated) in stale.items():
        sections = {c: s for c, s in _sections_of(doc).items() if c not in outdated}
        sections.update(read.get(key, {}))
        gens = {int(code): int(gen) for code, gen in doc.get("gens", []) if code not in outdated}
        gens.update({c: g for c, g in markers.get(key, {}).items() if c in outdated})
        summaries.append(_summary(key, sections, gens, rounding))
    try:
        await repository.save_summaries(store, summaries)
    except StorageError:
        # The report is still right; the next one rebuilds what could not be saved.
        log.warning("report summaries not saved", extra={"fields": {"count": len(summaries)}})
    return summaries


async def _read_sections(
    store: Store,
    into: dict[str, dict[int, Section]],
    first: date,
    last: date,
    provinces: Sequence[int] | None,
    rounding: Rounding,
) -> None:
    for doc in await repository.declaration_counters(store, "declarations", first, last, provinces):
        n = int(doc["n"])
        if n > 0:
            section = into.setdefault(doc["day"], {}).setdefault(int(doc["province"]), Section())
            section.status[doc["status"]] += n
            section.status_published[doc["status"]] += rounding.publish(doc["_id"], n)
    for doc in await repository.declaration_counters(store, "symptoms", first, last, provinces):
        n = int(doc["n"])
        if n > 0:
            section = into.setdefault(doc["day"], {}).setdefault(int(doc["province"]), Section())
            key = (doc["status"], doc["symptom"])
            section.symptom[key] += n
            section.symptom_published[key] += rounding.publish(doc["_id"], n)


def _sections_of(doc: Document) -> dict[int, Section]:
    sections: dict[int, Section] = {}
    for code, status, n, published in doc.get("cells", []):
        section = sections.setdefault(int(code), Section())
        section.status[status] += int(n)
        section.status_published[status] += int(published)
    for code, status, symptom, n, published in doc.get("symptom_cells", []):
        section = sections.setdefault(int(code), Section())
        section.symptom[(status, symptom)] += int(n)
        section.symptom_published[(status, symptom)] += int(published)
    return sections


def _summary(
    day: str, sections: Mapping[int, Section], gens: Mapping[int, int], rounding: Rounding
) -> Document:
    ordered = sorted(sections.items())
    return {
        "_id": f"sum|{day}",
        "kind": "summary",
        "day": day,
        "rounding": rounding.fingerprint,
        "gens": [[code, gen] for code, gen in sorted(gens.items()) if gen],
        "cells": [
            [code, s, n, section.status_published[s]]
            for code, section in ordered
            for s, n in _sorted(section.status)
        ],
        "symptom_cells": [
            [code, s, symptom, n, section.symptom_published[(s, symptom)]]
            for code, section in ordered
            for (s, symptom), n in _sorted(section.symptom)
        ],
    }


def _sorted(counts: Counter[Any]) -> Iterable[tuple[Any, int]]:
    return sorted((key, n) for key, n in counts.items() if n)
