"""Counters kept on write, so a report reads counter documents instead of walking millions
of declarations. Each function returns the increments to put in the same atomic batch as
the write they count.

Layout of `report_counters` (one document per cell, `n` incremented with `$inc`):

* `decl|day|province|ward|status`           kind `declarations`
* `sym|day|province|ward|status|symptom`    kind `symptoms` (one per symptom a declaration
  names, so symptom combines with any other dimension)
* `cp|day|checkpoint|event|decision`        kind `checkpoints`
* `msym|day|province|ward`                  kind `map_symptoms`: declarations naming a
  symptom, for the public map (`publicmap`)
* `mcase|day|province|ward`                 kind `map_cases`: cases confirmed that day,
  where the person lives, for the public map
* `arr|day|point|nationality|status`       kind `arrivals` (travellers declared to arrive
  that day at that point of entry, companions included)

Ward-level cells are what a write touches: a busy ward gets a fraction of the country's
write rate, so counters stay cheap inside MongoDB transactions. Province-level cells would be
hot documents that every transaction in a city fights over.

Reports that do not ask for wards read daily summaries instead (`report_rollups`, built by
`reports.summaries` from these counters once a day has ended). A late write for an ended
day, such as an offline batch uploaded after midnight, also bumps the `gen|day|province`
marker, which tells readers that province's part of the day's summary is stale.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Literal

from core.clock import local_day, utcnow
from core.storage import CollectionSpec, Index, Update

STATUSES = ("green", "yellow", "red")

COUNTERS = CollectionSpec(
    "report_counters",
    indexes=(
        Index(("kind", "day")),
        Index(("kind", "province", "day")),
        Index(("kind", "checkpoint_id", "day")),
        Index(("kind", "point_of_entry", "day")),
    ),
)
ROLLUPS = CollectionSpec("report_rollups", indexes=(Index(("kind", "day")),))


def generation_marker(day: date, province: int) -> Update:
    """Mark the day's summary for this province stale (see the module docstring)."""
    return Update(
        "report_rollups",
        f"gen|{day.isoformat()}|{province}",
        inc={"gen": 1},
        set_on_insert={"kind": "gen", "day": day.isoformat(), "province": province},
        upsert=True,
    )


def count_declaration(
    day: date, province: int, ward: int, status: str, symptoms: Iterable[str]
) -> list[Update]:
    """One declaration: day × province × ward × status, and the same per symptom."""
    base = {"day": day.isoformat(), "province": province, "ward": ward, "status": status}
    key = f"{base['day']}|{province}|{ward}|{status}"
    ops = [
        Update(
            "report_counters",
            f"decl|{key}",
            inc={"n": 1},
            set_on_insert={"kind": "declarations", **base},
            upsert=True,
        )
    ]
    for symptom in sorted(set(symptoms)):
        ops.append(
            Update(
                "report_counters",
                f"sym|{key}|{symptom}",
                inc={"n": 1},
                set_on_insert={"kind": "symptoms", "symptom": symptom, **base},
                upsert=True,
            )
        )
    if symptoms:
        ops.append(_count_for_map(day, province, ward, "map_symptoms"))
    if day < local_day(utcnow()):
        ops.append(generation_marker(day, province))
    return ops


MapKind = Literal["map_symptoms", "map_cases"]
MAP_KINDS: tuple[MapKind, ...] = ("map_cases", "map_symptoms")
_MAP_PREFIX: dict[MapKind, str] = {"map_symptoms": "msym", "map_cases": "mcase"}


def _count_for_map(day: date, province: int, ward: int, kind: MapKind) -> Update:
    """A day × ward cell of the public map: a counter like the others (`n`), no status."""
    return Update(
        "report_counters",
        f"{_MAP_PREFIX[kind]}|{day.isoformat()}|{province}|{ward}",
        inc={"n": 1},
        set_on_insert={"kind": kind, "day": day.isoformat(), "province": province, "ward": ward},
        upsert=True,
    )


# A case dated further back than this is a late count for the map's totals before its
# window (`publicmap.snapshot`): it bumps a marker that makes the next build read them all.
MAP_LATE_DAYS = 50
MAP_LATE_MARKER = "map|late"


def count_case(day: date, province: int, ward: int) -> list[Update]:
    """One confirmed case, on the day it was confirmed, in the ward the person declared."""
    ops = [_count_for_map(day, province, ward, "map_cases")]
    if (local_day(utcnow()) - day).days > MAP_LATE_DAYS:
        ops.append(
            Update(
                "report_counters",
                MAP_LATE_MARKER,
                inc={"n": 1},
                set_on_insert={"kind": "map_late"},
                upsert=True,
            )
        )
    return ops


def count_checkpoint_event(
    day: date, checkpoint_id: str, event: Literal["scan", "checkin", "entry_scan"], decision: str
) -> Update:
    """One scan (decision allow/deny), border scan of an entry declaration (allow/refer) or
    check-in (decision `checkin`) at a checkpoint."""
    return Update(
        "report_counters",
        f"cp|{day.isoformat()}|{checkpoint_id}|{event}|{decision}",
        inc={"n": 1},
        set_on_insert={
            "kind": "checkpoints",
            "day": day.isoformat(),
            "checkpoint_id": checkpoint_id,
            "event": event,
            "decision": decision,
        },
        upsert=True,
    )


def count_arrivals(
    day: date, point_of_entry: str, nationalities: Iterable[str], status: str
) -> list[Update]:
    """One entry declaration: each traveller on it, by arrival day, gate, nationality and
    the form's status."""
    per_nationality: dict[str, int] = {}
    for nationality in nationalities:
        per_nationality[nationality] = per_nationality.get(nationality, 0) + 1
    return [
        Update(
            "report_counters",
            f"arr|{day.isoformat()}|{point_of_entry}|{nationality}|{status}",
            inc={"n": count},
            set_on_insert={
                "kind": "arrivals",
                "day": day.isoformat(),
                "point_of_entry": point_of_entry,
                "nationality": nationality,
                "status": status,
            },
            upsert=True,
        )
        for nationality, count in sorted(per_nationality.items())
    ]
