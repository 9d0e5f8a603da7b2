"""The reports on arrivals at the border and on medical monitoring, from the counters the
entry and monitoring domains write in their own atomic batches (`reports.counters`).

Published like every other count (`reports.suppression`): each counter cell, or each derived
atom (people under monitoring in one ward for one reason on one day), is rounded once with
the service's key; a published cell is the sum of its atoms' rounded values, hidden below
the threshold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal, cast

from core.i18n import Text
from core.storage import Store
from reports import repository
from reports.counters import MONITORING_REASONS, STATUSES
from reports.folding import fold_before_reading
from reports.service import (
    MAX_GROUP_BY,
    Key,
    Report,
    ReportGroupingInvalid,
    _field_error,
    province_name,
    ward_name,
)
from reports.suppression import Rounding, Total, suppress

ArrivalDimension = Literal["day", "point_of_entry", "nationality", "status"]
ARRIVAL_DIMENSIONS: tuple[ArrivalDimension, ...] = (
    "day",
    "point_of_entry",
    "nationality",
    "status",
)
MonitoringDimension = Literal["day", "province", "ward", "reason"]
MONITORING_DIMENSIONS: tuple[MonitoringDimension, ...] = ("day", "province", "ward", "reason")
Measure = Literal["under_monitoring", "needs_attention"]
MEASURES: tuple[Measure, ...] = ("under_monitoring", "needs_attention")


class ArrivalGroupingInvalid(ReportGroupingInvalid):
    detail = Text(
        "`group_by` takes one or two of: " + ", ".join(ARRIVAL_DIMENSIONS) + ", each at most once.",
        "`group_by` nhận một hoặc hai trong: " + ", ".join(ARRIVAL_DIMENSIONS) + ", không lặp lại.",
    )


class MonitoringGroupingInvalid(ReportGroupingInvalid):
    detail = Text(
        "`group_by` takes one or two of: "
        + ", ".join(MONITORING_DIMENSIONS)
        + ", each at most once.",
        "`group_by` nhận một hoặc hai trong: "
        + ", ".join(MONITORING_DIMENSIONS)
        + ", không lặp lại.",
    )


def _parse(raw: str, allowed: Sequence[str], error: type[ReportGroupingInvalid]) -> tuple[str, ...]:
    parts = [part.strip() for part in raw.split(",")]
    if (
        not 1 <= len(parts) <= MAX_GROUP_BY
        or len(set(parts)) != len(parts)
        or any(part not in allowed for part in parts)
    ):
        raise error(errors=_field_error("group_by", "report_group_by_invalid", error.detail))
    return tuple(parts)


def parse_arrival_group_by(raw: str) -> tuple[ArrivalDimension, ...]:
    parts = _parse(raw, ARRIVAL_DIMENSIONS, ArrivalGroupingInvalid)
    return tuple(cast(ArrivalDimension, p) for p in parts)


def parse_monitoring_group_by(raw: str) -> tuple[MonitoringDimension, ...]:
    parts = _parse(raw, MONITORING_DIMENSIONS, MonitoringGroupingInvalid)
    return tuple(cast(MonitoringDimension, p) for p in parts)


_ORDERS: dict[str, dict[str, int]] = {
    "status": {name: i for i, name in enumerate(STATUSES)},
    "reason": {name: i for i, name in enumerate(MONITORING_REASONS)},
    "measure": {name: i for i, name in enumerate(MEASURES)},
}


def _sort_value(dimension: str, value: Any) -> Any:
    order = _ORDERS.get(dimension)
    if order is not None:
        return (order.get(value, len(order)), str(value))
    return (0, value) if value is not None else (1, "")


def _columns(group_by: Sequence[str]) -> list[str]:
    columns: list[str] = []
    for dimension in group_by:
        columns.append(dimension)
        if dimension in ("province", "ward"):
            columns.append(f"{dimension}_name")
    return columns


def _row(group_by: Sequence[str], key: Key) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for dimension, value in zip(group_by, key, strict=True):
        row[dimension] = value
        if dimension == "province":
            row["province_name"] = province_name(value) if value is not None else None
        elif dimension == "ward":
            row["ward_name"] = ward_name(value) if value is not None else None
    return row


def _table(
    group_by: Sequence[str], counts: Counter[Key], threshold: int
) -> tuple[list[dict[str, Any]], Total]:
    order = sorted(
        counts, key=lambda key: tuple(_sort_value(d, v) for d, v in zip(group_by, key, strict=True))
    )
    cells, total = suppress(counts, threshold, order)
    rows = []
    for cell in cells:
        row = _row(group_by, cell.key)
        row["count"] = cell.count
        row["suppressed"] = cell.suppressed
        rows.append(row)
    return rows, total


# -- arrivals --------------------------------------------------------------------------------


async def arrival_report(
    store: Store,
    first: date,
    last: date,
    group_by: tuple[ArrivalDimension, ...],
    threshold: int,
    rounding: Rounding,
) -> Report:
    """Travellers declared to arrive, companions included, by the chosen dimensions: each
    day × gate × nationality × status counter is an atom."""
    await fold_before_reading(store)  # arrivals declared until now count
    counts: Counter[Key] = Counter()
    for doc in await repository.counters_of(store, "arrivals", first, last):
        n = int(doc["n"])
        if n > 0:
            counts[tuple(doc[d] for d in group_by)] += rounding.publish(str(doc["_id"]), n)
    rows, total = _table(group_by, counts, threshold)
    return Report(
        columns=[*_columns(group_by), "count"],
        rows=rows,
        total=total,
        threshold=threshold,
        meta={
            "from": first.isoformat(),
            "to": last.isoformat(),
            "group_by": list(group_by),
            "unit": "travellers",
        },
    )


# -- monitoring ------------------------------------------------------------------------------

Place = tuple[int, int, str]  # province, ward, reason


@dataclass(frozen=True)
class MonitoringAtoms:
    """True counts before rounding: people under monitoring per (day, province, ward, reason),
    and the episodes needing attention now per (province, ward, reason)."""

    active: dict[tuple[date, int, int, str], int]
    started: dict[tuple[date, int, int, str], int]
    attention: dict[Place, int]


async def monitoring_atoms(store: Store, first: date, last: date) -> MonitoringAtoms:
    """From the start/end counters up to `last`: who is followed on each day `first..last`
    (starts on or before the day, less ends on or before it), and the starts of each day.
    The days before `first` come summed per place from the database."""
    await fold_before_reading(store)  # episodes opened and closed until now count
    before: dict[Place, int] = {}
    for row in await repository.monitoring_before(store, first):
        place = (int(row["province"]), int(row["ward"]), str(row["reason"]))
        n = int(row["n"])
        before[place] = before.get(place, 0) + (n if row["event"] == "start" else -n)
    deltas: dict[Place, dict[date, int]] = {}
    started: dict[tuple[date, int, int, str], int] = {}
    for doc in await repository.counters_of(store, "monitoring", first, last):
        place = (int(doc["province"]), int(doc["ward"]), str(doc["reason"]))
        day, n = date.fromisoformat(doc["day"]), int(doc["n"])
        step = n if doc["event"] == "start" else -n
        per_day = deltas.setdefault(place, {})
        per_day[day] = per_day.get(day, 0) + step
        if doc["event"] == "start":
            started[(day, *place)] = started.get((day, *place), 0) + n
    active: dict[tuple[date, int, int, str], int] = {}
    span = (last - first).days + 1
    for place in sorted(before.keys() | deltas.keys()):
        running, per_day = before.get(place, 0), deltas.get(place, {})
        for i in range(span):
            day = first + timedelta(days=i)
            running += per_day.get(day, 0)
            if running > 0:
                active[(day, *place)] = running
    attention = {
        (int(doc["province"]), int(doc["ward"]), str(doc["reason"])): int(doc["n"])
        for doc in await repository.counters_of(store, "monitoring_attention")
        if int(doc["n"]) > 0
    }
    return MonitoringAtoms(active, started, attention)


def active_atom(day: date, province: int, ward: int, reason: str) -> str:
    return f"mact|{day.isoformat()}|{province}|{ward}|{reason}"


async def under_monitoring_by_ward(
    store: Store, first: date, last: date
) -> dict[tuple[date, int, int], int]:
    """People under monitoring per (day, province, ward), every reason together, true counts
    (the public map rounds them as its own atoms)."""
    found: dict[tuple[date, int, int], int] = {}
    for (day, province, ward, _), n in (await monitoring_atoms(store, first, last)).active.items():
        found[(day, province, ward)] = found.get((day, province, ward), 0) + n
    return found


async def monitoring_report(
    store: Store,
    first: date,
    last: date,
    group_by: tuple[MonitoringDimension, ...],
    threshold: int,
    rounding: Rounding,
) -> Report:
    """Rows of two measures. `under_monitoring`: people followed on each day when grouped by
    day; otherwise everyone followed at some time in the range (those followed on `from`
    and those who started after it). `needs_attention`: active episodes needing attention
    now, by the dimensions other than day."""
    atoms = await monitoring_atoms(store, first, last)
    followed: Counter[Key] = Counter()
    for (day, province, ward, reason), n in atoms.active.items():
        dims = {"day": day.isoformat(), "province": province, "ward": ward, "reason": reason}
        if "day" in group_by or day == first:
            atom = active_atom(day, province, ward, reason)
            followed[tuple(dims[d] for d in group_by)] += rounding.publish(atom, n)
    if "day" not in group_by:
        for (day, province, ward, reason), n in atoms.started.items():
            if day > first:
                dims = {"province": province, "ward": ward, "reason": reason}
                atom = f"mon|{day.isoformat()}|{province}|{ward}|{reason}|start"
                followed[tuple(dims[d] for d in group_by)] += rounding.publish(atom, n)
    places = [d for d in group_by if d != "day"]
    needing: Counter[Key] = Counter()
    for (province, ward, reason), n in atoms.attention.items():
        dims = {"province": province, "ward": ward, "reason": reason}
        key = tuple(dims[d] for d in places)
        needing[key] += rounding.publish(f"matt|{province}|{ward}|{reason}", n)
    rows: list[dict[str, Any]] = []
    shown = hidden = 0
    total_followed = 0
    for measure, group, counts in (
        ("under_monitoring", list(group_by), followed),
        ("needs_attention", places, needing),
    ):
        # Attention is a figure of now: its rows leave the day column empty.
        table, total = _table(group, counts, threshold)
        for row in table:
            rows.append({"measure": measure, **row})
        shown += total.shown_cells
        hidden += total.suppressed_cells
        if measure == "under_monitoring":
            total_followed = total.count
    return Report(
        columns=["measure", *_columns(group_by), "count"],
        rows=rows,
        total=Total(count=total_followed, shown_cells=shown, suppressed_cells=hidden),
        threshold=threshold,
        meta={
            "from": first.isoformat(),
            "to": last.isoformat(),
            "group_by": list(group_by),
            "unit": "people",
        },
    )
