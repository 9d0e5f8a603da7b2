"""The rules of the ministry reports: what may be asked, which counters answer it, and how
the answer is added up and shaped.

Reports never read declarations. A query over days `from..to` is answered from the daily
summaries (`reports.summaries`) for every day that ended more than `ROLLUP_GRACE` ago, and
from the ward-level counters (`reports.counters`) for the days after that and for every
query grouped by ward.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from operator import itemgetter
from typing import Any, Literal, cast

from vietnam_provinces import Province, ProvinceCode, Ward, WardCode

from core.clock import local_day
from core.errors import ValidationFailed
from core.i18n import Text
from core.storage import Store
from people.vocabulary import SYMPTOMS
from reports import repository
from reports.counters import STATUSES
from reports.folding import fold_before_reading
from reports.summaries import ROLLUP_GRACE, summary_cells
from reports.suppression import Cell, Rounding, Total, suppress

Dimension = Literal["day", "province", "ward", "status", "symptom"]
DIMENSIONS: tuple[Dimension, ...] = ("day", "province", "ward", "status", "symptom")
MAX_GROUP_BY = 2
MAX_RANGE_DAYS = 366
PROVINCE_CODES: tuple[int, ...] = tuple(sorted(int(p.code) for p in Province.iter_all()))

Key = tuple[Any, ...]


class ReportRangeInvalid(ValidationFailed):
    code = "report_range_invalid"
    title = Text("Invalid date range", "Khoảng ngày không hợp lệ")
    detail = Text(
        f"`from` must be on or before `to`, and the range at most {MAX_RANGE_DAYS} days.",
        f"`from` phải không sau `to`, và khoảng ngày tối đa {MAX_RANGE_DAYS} ngày.",
    )


class ReportRangeAfterToday(ValidationFailed):
    """A report of figures that exist only for days that have come (people under monitoring
    are counted from episodes' starts and ends): a day after today would be a projection,
    and each such day a fresh rounding of the same true count (`reports.suppression`)."""

    code = "report_range_after_today"
    title = Text("Date range after today", "Khoảng ngày sau hôm nay")
    detail = Text(
        "`to` must be today or earlier (Vietnam time): there are no figures for days to come.",
        "`to` phải là hôm nay hoặc trước đó (giờ Việt Nam): chưa có số liệu cho những ngày tới.",
    )


class ReportGroupingInvalid(ValidationFailed):
    code = "report_group_by_invalid"
    title = Text("Invalid grouping", "Cách nhóm không hợp lệ")
    detail = Text(
        "`group_by` takes one or two of: " + ", ".join(DIMENSIONS) + ", each at most once.",
        "`group_by` nhận một hoặc hai trong: " + ", ".join(DIMENSIONS) + ", không lặp lại.",
    )


class ProvinceUnknown(ValidationFailed):
    code = "province_unknown"
    title = Text("Unknown province", "Không có tỉnh này")
    detail = Text(
        "`province` must be a current province code (e.g. 1 for Hà Nội).",
        "`province` phải là mã tỉnh hiện hành (ví dụ 1 là Hà Nội).",
    )


def _field_error(name: str, code: str, message: Text) -> list[dict[str, Any]]:
    return [{"field": name, "code": code, "message": message}]  # in the caller's language


def check_range(first: date, last: date) -> None:
    if first > last or (last - first).days + 1 > MAX_RANGE_DAYS:
        raise ReportRangeInvalid(
            errors=_field_error("to", "report_range_invalid", ReportRangeInvalid.detail)
        )


def check_ends_by(last: date, today: date) -> None:
    """`to` no later than `today` (Vietnam's day)."""
    if last > today:
        raise ReportRangeAfterToday(
            errors=_field_error("to", ReportRangeAfterToday.code, ReportRangeAfterToday.detail)
        )


def parse_group_by(raw: str) -> tuple[Dimension, ...]:
    """`day,province` → ("day", "province"); anything else is refused without echoing it."""
    parts = [part.strip() for part in raw.split(",")]
    if (
        not 1 <= len(parts) <= MAX_GROUP_BY
        or len(set(parts)) != len(parts)
        or any(part not in DIMENSIONS for part in parts)
    ):
        raise ReportGroupingInvalid(
            errors=_field_error("group_by", "report_group_by_invalid", ReportGroupingInvalid.detail)
        )
    return tuple(cast(Dimension, part) for part in parts)


def check_province(code: int | None) -> None:
    if code is not None and code not in PROVINCE_CODES:
        raise ProvinceUnknown(
            errors=_field_error("province", "province_unknown", ProvinceUnknown.detail)
        )


def province_name(code: int) -> str | None:
    try:
        return Province.from_code(ProvinceCode(code)).name
    except ValueError:
        return None


def ward_name(code: int) -> str | None:
    try:
        return Ward.from_code(WardCode(code)).name
    except ValueError:
        return None


# -- declarations --------------------------------------------------------------------------


@dataclass(frozen=True)
class DeclarationQuery:
    first: date
    last: date
    group_by: tuple[Dimension, ...]
    province: int | None = None

    @property
    def unit(self) -> Literal["declarations", "symptom_mentions"]:
        """With symptoms, a declaration naming two symptoms counts once under each."""
        return "symptom_mentions" if "symptom" in self.group_by else "declarations"

    def audit_params(self) -> dict[str, Any]:
        return {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "group_by": list(self.group_by),
            "province": self.province,
        }


@dataclass
class Report:
    """A suppressed table, ready for JSON or CSV."""

    columns: list[str]
    rows: list[dict[str, Any]]
    total: Total
    threshold: int
    meta: dict[str, Any] = field(default_factory=dict)


def _key_of(group_by: Sequence[str]) -> Callable[[Mapping[str, Any]], Key]:
    get = itemgetter(*group_by)
    if len(group_by) == 1:
        return lambda doc: (get(doc),)
    return cast(Callable[[Mapping[str, Any]], Key], get)


async def declaration_counts(
    store: Store,
    query: DeclarationQuery,
    *,
    now: datetime,
    rounding: Rounding,
    exact: bool = False,
    use_summaries: bool = True,
) -> Counter[Key]:
    """Counts per non-empty group, before suppression: sums of the atoms' published values
    (a group whose atoms all rounded to 0 is present with 0), or with `exact` the true counts
    (the benchmark's and the tests' cross-check; never published). `use_summaries=False`
    reads the ward-level counters for every day."""
    await fold_before_reading(store)  # declarations acknowledged until now count
    key_of = _key_of(query.group_by)
    counts: Counter[Key] = Counter()
    open_from = query.first
    if use_summaries and "ward" not in query.group_by:
        closed_last = min(query.last, local_day(now - ROLLUP_GRACE) - timedelta(days=1))
        if query.first <= closed_last:
            for cell in await summary_cells(
                store,
                query.first,
                closed_last,
                query.province,
                with_symptom="symptom" in query.group_by,
                rounding=rounding,
                exact=exact,
            ):
                counts[key_of(cell)] += cell["n"]
        open_from = max(query.first, closed_last + timedelta(days=1))
    if open_from <= query.last:
        kind: Literal["declarations", "symptoms"] = (
            "symptoms" if "symptom" in query.group_by else "declarations"
        )
        for doc in await repository.declaration_counters(
            store, kind, open_from, query.last, query.province
        ):
            n = int(doc["n"])
            if n > 0:
                counts[key_of(doc)] += n if exact else rounding.publish(doc["_id"], n)
    return counts


_STATUS_ORDER = {name: i for i, name in enumerate(STATUSES)}
_SYMPTOM_ORDER = {name: i for i, name in enumerate(SYMPTOMS)}


def _sort_value(dimension: str, value: Any) -> Any:
    if dimension == "status":
        return (_STATUS_ORDER.get(value, len(_STATUS_ORDER)), str(value))
    if dimension == "symptom":
        return (_SYMPTOM_ORDER.get(value, len(_SYMPTOM_ORDER)), str(value))
    return value


def declaration_columns(group_by: Sequence[Dimension]) -> list[str]:
    columns: list[str] = []
    for dimension in group_by:
        columns.append(dimension)
        if dimension in ("province", "ward"):
            columns.append(f"{dimension}_name")
    return [*columns, "count"]


def declaration_report(
    query: DeclarationQuery, counts: Mapping[Key, int], threshold: int
) -> Report:
    group_by = query.group_by
    order = sorted(
        counts, key=lambda key: tuple(_sort_value(d, v) for d, v in zip(group_by, key, strict=True))
    )
    cells, total = suppress(counts, threshold, order)
    rows = [_declaration_row(group_by, cell) for cell in cells]
    return Report(
        columns=declaration_columns(group_by),
        rows=rows,
        total=total,
        threshold=threshold,
        meta={
            "from": query.first.isoformat(),
            "to": query.last.isoformat(),
            "group_by": list(group_by),
            "province": query.province,
            "province_name": province_name(query.province) if query.province else None,
            "unit": query.unit,
        },
    )


def _declaration_row(group_by: Sequence[Dimension], cell: Cell[Key]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for dimension, value in zip(group_by, cell.key, strict=True):
        row[dimension] = value
        if dimension == "province":
            row["province_name"] = province_name(value)
        elif dimension == "ward":
            row["ward_name"] = ward_name(value)
    row["count"] = cell.count
    row["suppressed"] = cell.suppressed
    return row


# -- checkpoints ---------------------------------------------------------------------------

CHECKPOINT_COLUMNS = ["checkpoint_id", "checkpoint_name", "event", "decision", "count"]


async def checkpoint_report(
    store: Store,
    first: date,
    last: date,
    checkpoint_id: str | None,
    threshold: int,
    rounding: Rounding,
) -> Report:
    """Scans (allow/deny) and check-ins per checkpoint, summed over the range: each day's
    counter is an atom, rounded as `reports.suppression` explains."""
    await fold_before_reading(store)  # scans and check-ins acknowledged until now count
    counts: Counter[Key] = Counter()
    for doc in await repository.checkpoint_counters(store, first, last, checkpoint_id):
        n = int(doc["n"])
        if n > 0:
            key = (doc["checkpoint_id"], doc["event"], doc["decision"])
            counts[key] += rounding.publish(doc["_id"], n)
    cells, total = suppress(counts, threshold, sorted(counts))
    names = await repository.checkpoint_names(store, (key[0] for key in counts))
    rows = []
    for cell in cells:
        checkpoint, event, decision = cell.key
        row: dict[str, Any] = {"checkpoint_id": checkpoint}
        if checkpoint in names:
            row["checkpoint_name"] = names[checkpoint]
        row.update(event=event, decision=decision, count=cell.count, suppressed=cell.suppressed)
        rows.append(row)
    return Report(
        columns=CHECKPOINT_COLUMNS,
        rows=rows,
        total=total,
        threshold=threshold,
        meta={"from": first.isoformat(), "to": last.isoformat(), "checkpoint": checkpoint_id},
    )
