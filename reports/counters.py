"""Counters kept on write, so a report reads counter documents instead of walking millions
of declarations. Each function returns the increments a write causes. Most go in the same
atomic batch as the write they count; a declaration's, a scan's and a check-in's go through
`reports.folding` instead: its batch stores them as one pending record, and a fold adds them
to the counters soon after (see there why, and how a report still sees every one).

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
* `mon|day|province|ward|reason|event`     kind `monitoring` (episodes starting or ending
  that day), and `matt|province|ward|reason`, kind `monitoring_attention` (a gauge of the
  episodes needing attention now); see the monitoring section below

A person counts once per day, as their latest declaration of the day (`recount_declaration`):
declaring again moves them from the cells of their previous declaration that day to the new
ones (the map's `msym` too), and a cell left empty is deleted, so a flood of declarations
moves no number.

Ward-level cells are what a write touches: a busy ward gets a fraction of the country's
write rate. Even so, a ward's cell is one document that every declaration of that ward and
day would write, which is why declarations leave their counts to the fold (one transaction
adds up hundreds). Province-level cells would be hotter still. Cells are never split: the
reports publish keyed roundings of whole cells (`reports.suppression`).

Reports that do not ask for wards read daily summaries instead (`report_rollups`, built by
`reports.summaries` from these counters once a day has ended). A late write for an ended
day, such as an offline batch uploaded after midnight, also bumps the `gen|day|province`
marker, which tells readers that province's part of the day's summary is stale.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, Literal

from core.background import stop_if_cancelled
from core.clock import local_day, utcnow
from core.storage import CollectionSpec, Delete, Index, Operation, Update

log = logging.getLogger(__name__)

STATUSES = ("green", "yellow", "red")

# Every counter step rewrites its document, and SQLite then rewrites its entry in each index
# over the document. Only checkpoint counters have a `checkpoint_id`, so that index holds
# only them (`only_with`): a declaration's counters skip it. The arrivals report reads its
# counters by (kind, day) and groups by gate itself, so no index by `point_of_entry`.
COUNTERS = CollectionSpec(
    "report_counters",
    indexes=(
        Index(("kind", "day")),
        Index(("kind", "province", "day")),
        Index(("kind", "checkpoint_id", "day"), only_with="checkpoint_id"),
    ),
)
# A few hundred numbers a day: unsharded (docs/shard-plan.md).
ROLLUPS = CollectionSpec("report_rollups", indexes=(Index(("kind", "day")),), shard_key=None)


def generation_marker(day: date, province: int) -> Update:
    """Mark the day's summary for this province stale (see the module docstring)."""
    return Update(
        "report_rollups",
        f"gen|{day.isoformat()}|{province}",
        inc={"gen": 1},
        set_on_insert={"kind": "gen", "day": day.isoformat(), "province": province},
        upsert=True,
    )


def declaration_cell(
    day: date, province: int, ward: int, status: str, symptoms: Iterable[str]
) -> dict[str, Any]:
    """Where one declaration counts; the person record keeps its latest of the day."""
    return {
        "day": day.isoformat(),
        "province": province,
        "ward": ward,
        "status": status,
        "symptoms": sorted(set(symptoms)),
    }


def _counters_of(cell: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The counter documents a cell adds one to: day × province × ward × status, the same
    per symptom, and the map's day × ward when it names a symptom; each with what it holds
    when created."""
    base = {k: cell[k] for k in ("day", "province", "ward", "status")}
    key = "|".join(str(base[k]) for k in ("day", "province", "ward", "status"))
    counters = {f"decl|{key}": {"kind": "declarations", **base}}
    for symptom in cell["symptoms"]:
        counters[f"sym|{key}|{symptom}"] = {"kind": "symptoms", "symptom": symptom, **base}
    if cell["symptoms"]:
        where = {k: cell[k] for k in ("day", "province", "ward")}
        counters[_map_counter_id("map_symptoms", **where)] = {"kind": "map_symptoms", **where}
    return counters


def emptied(collection: str, counter_id: str) -> list[Operation]:
    """After a step down: the cell deleted if it is now at zero (an empty cell does not
    exist, as before any step), whether the steps were applied inline or by a fold."""
    if collection != "report_counters":
        return []
    return [Delete(collection, {"_id": counter_id, "n": 0})]


class InlineCounting:
    """Counter steps for a store that commits one transaction at a time (SQLite,
    `Store.serialises_writes`): the steps go in the write's own batch, since no two writes
    can conflict on a cell there, and a pending record and its fold (`reports.folding`)
    would be two more writes for nothing. So nothing is ever left to fold; `leftover`, run
    once at start, folds what a version that did leave steps pending may have left."""

    def __init__(self, leftover: Callable[[], Awaitable[object]] | None = None) -> None:
        self._leftover = leftover
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._leftover is not None:
            self._task = asyncio.get_running_loop().create_task(
                self._fold_leftover(self._leftover), name="counter-fold-leftover"
            )

    async def _fold_leftover(self, leftover: Callable[[], Awaitable[object]]) -> None:
        try:
            await leftover()
        except Exception:
            stop_if_cancelled()
            log.exception("folding steps left pending at start failed; a report's read folds them")

    def steps(self, steps: Iterable[Update], *, now: datetime) -> list[Operation]:
        ops: list[Operation] = []
        for step in steps:
            ops.append(step)
            if any(value < 0 for value in step.inc.values()):
                ops.extend(emptied(step.collection, step.id))
        return ops

    def kick(self) -> None:
        return None  # nothing waits to be folded

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait([self._task], timeout=5)


def _add_one(counter_id: str, fields: dict[str, Any]) -> Update:
    return Update("report_counters", counter_id, inc={"n": 1}, set_on_insert=fields, upsert=True)


def count_declaration(
    day: date, province: int, ward: int, status: str, symptoms: Iterable[str]
) -> list[Update]:
    """One declaration, its person's first that day: day × province × ward × status, the
    same per symptom, and the map's cell when it names a symptom."""
    cell = declaration_cell(day, province, ward, status, symptoms)
    ops = [_add_one(counter_id, fields) for counter_id, fields in _counters_of(cell).items()]
    if day < local_day(utcnow()):
        ops.append(generation_marker(day, province))
    return ops


def recount_declaration(
    previous: Mapping[str, Any] | None, cell: Mapping[str, Any]
) -> list[Update]:
    """A person's latest declaration of `cell["day"]`, their `previous` one that day (or
    None, or another day's) no longer counting: one less in each counter only the previous
    fills, one more in each only the new one fills. The same form again changes no counter.

    This is the decision, made in the declaration's transaction from the person record it
    reads; the steps are applied later by `reports.folding`, in any order: a step down
    creates its cell if it is not there yet (it carries what the cell holds), and the fold
    deletes a cell its steps leave at zero, so a report cannot tell it ever existed."""
    day = date.fromisoformat(cell["day"])
    if previous is None or previous.get("day") != cell["day"]:
        return count_declaration(
            day, cell["province"], cell["ward"], cell["status"], cell["symptoms"]
        )
    before, after = _counters_of(previous), _counters_of(cell)
    ops: list[Update] = []
    for counter_id in sorted(before.keys() - after.keys()):
        ops.append(
            Update(
                "report_counters",
                counter_id,
                inc={"n": -1},
                set_on_insert=before[counter_id],
                upsert=True,
            )
        )
    for counter_id in sorted(after.keys() - before.keys()):
        ops.append(_add_one(counter_id, after[counter_id]))
    if ops and day < local_day(utcnow()):
        provinces = sorted({int(previous["province"]), int(cell["province"])})
        ops.extend(generation_marker(day, province) for province in provinces)
    return ops


MapKind = Literal["map_symptoms", "map_cases"]
MAP_KINDS: tuple[MapKind, ...] = ("map_cases", "map_symptoms")
_MAP_PREFIX: dict[MapKind, str] = {"map_symptoms": "msym", "map_cases": "mcase"}


def _map_counter_id(kind: MapKind, *, day: str, province: int, ward: int) -> str:
    return f"{_MAP_PREFIX[kind]}|{day}|{province}|{ward}"


def _count_for_map(day: date, province: int, ward: int, kind: MapKind) -> Update:
    """A day × ward cell of the public map: a counter like the others (`n`), no status."""
    return Update(
        "report_counters",
        _map_counter_id(kind, day=day.isoformat(), province=province, ward=ward),
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


# -- monitoring ------------------------------------------------------------------------------
#
# * `mon|day|province|ward|reason|event`  kind `monitoring`: episodes that start (`start`) or
#   stop (`end`) being followed on that day, where and why. People under monitoring on day D
#   are the starts on or before D less the ends on or before D (`reports.monitoring`).
# * `matt|province|ward|reason`           kind `monitoring_attention`: a gauge of the active
#   episodes needing attention now (fever, symptoms, an unwell visit, silence).

MONITORING_REASONS = ("contact", "entry", "case", "other")


def _monitoring_event(
    day: date, province: int, ward: int, reason: str, event: Literal["start", "end"]
) -> Update:
    return Update(
        "report_counters",
        f"mon|{day.isoformat()}|{province}|{ward}|{reason}|{event}",
        inc={"n": 1},
        set_on_insert={
            "kind": "monitoring",
            "day": day.isoformat(),
            "province": province,
            "ward": ward,
            "reason": reason,
            "event": event,
        },
        upsert=True,
    )


def count_monitoring_opened(episode: Mapping[str, Any]) -> list[Update]:
    """A new episode (its document as inserted): followed from its first day on."""
    return [
        _monitoring_event(
            date.fromisoformat(episode["starts_on"]),
            int(episode["province"]),
            int(episode["ward"]),
            str(episode["reason"]),
            "start",
        )
    ]


def count_monitoring_closed(episode: Mapping[str, Any], closed_on: date) -> list[Update]:
    """An active episode closing on `closed_on` (Vietnam day): it counted through that day,
    or through its last day if that came first, and not before its start. A flagged episode
    leaves the attention gauge too."""
    starts = date.fromisoformat(episode["starts_on"])
    last = min(closed_on, date.fromisoformat(episode["ends_on"]))
    stop = max(starts, last + timedelta(days=1))
    province, ward, reason = int(episode["province"]), int(episode["ward"]), str(episode["reason"])
    ops = [_monitoring_event(stop, province, ward, reason, "end")]
    if episode.get("flags"):
        ops.append(_attention(province, ward, reason, -1))
    return ops


def count_monitoring_attention(
    episode: Mapping[str, Any], before: Iterable[str], after: Iterable[str]
) -> list[Update]:
    """An active episode's flags changing: into or out of the attention gauge."""
    was, now = bool(list(before)), bool(list(after))
    if was == now:
        return []
    province, ward, reason = int(episode["province"]), int(episode["ward"]), str(episode["reason"])
    return [_attention(province, ward, reason, 1 if now else -1)]


def _attention(province: int, ward: int, reason: str, step: int) -> Update:
    return Update(
        "report_counters",
        f"matt|{province}|{ward}|{reason}",
        inc={"n": step},
        set_on_insert={
            "kind": "monitoring_attention",
            "province": province,
            "ward": ward,
            "reason": reason,
        },
        upsert=True,
    )
