"""The analysts' report on questions: how many by category and status, and how long an
answer takes (the median, per category and overall), over days of Vietnam time.

Published like every other count of the service (`reports.suppression`): the atoms are the
(day, category, status) cells, each rounded once with the service's keyed rounding; a
published cell is the sum of its atoms' rounded values, hidden below the threshold. So no
pair of reports over overlapping ranges recovers a small cell. A median is shown only for a
category where the true number of answered questions it is taken from reaches the
threshold (and the published number too): the rounding can publish one question as five,
and the median of one question is that citizen's own answer time. The number itself is not
shown beside it.

The report reads the questions received in the range (through the `received_at` index) and
counts them here: a help desk's questions are thousands, not the millions of declarations
that need counters kept on write. So it reports only the questions still kept: they expire
with the retention (`questions.repository`).
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from core.clock import VIETNAM, local_day, utcnow
from core.context import Context
from core.errors import Forbidden, StorageUnavailable, Unauthenticated, ValidationFailed
from questions import repository
from questions.schemas import (
    CATEGORIES,
    STATUSES,
    AnswerTime,
    Category,
    QuestionCell,
    QuestionReport,
)
from reports.audit import record_report_request
from reports.export import csv_text, filename, wants_csv
from reports.service import ReportRangeInvalid, check_range
from reports.suppression import rounding_for, suppress
from web.deps import Analyst, ContextDep
from web.problems import responses

router = APIRouter(tags=["reports"])

ANSWERED = ("answered", "published")
Group = Category | Literal["all"]


def _bounds(first: date, last: date) -> dict[str, datetime]:
    start = datetime.combine(first, time(), VIETNAM)
    end = datetime.combine(last + timedelta(days=1), time(), VIETNAM)
    return {"$gte": start, "$lt": end}


async def question_report(ctx: Context, first: date, last: date) -> QuestionReport:
    threshold = ctx.settings.small_cell_threshold
    rounding = rounding_for(ctx.settings)
    found = await repository.received_between(ctx.store, _bounds(first, last))
    atoms: Counter[tuple[str, Category, str]] = Counter()
    hours: dict[Group, list[float]] = {}
    for question in found:
        day = local_day(question["received_at"]).isoformat()
        atoms[(day, question["category"], question["status"])] += 1
        if question["status"] in ANSWERED and question.get("answer_seconds") is not None:
            taken = int(question["answer_seconds"]) / 3600
            hours.setdefault(question["category"], []).append(taken)
            hours.setdefault("all", []).append(taken)
    published: Counter[tuple[Category, str]] = Counter()
    answered: Counter[Group] = Counter()
    for (day, category, status), n in atoms.items():
        value = rounding.publish(f"questions|{day}|{category}|{status}", n)
        published[(category, status)] += value
        if status in ANSWERED:
            answered[category] += value
            answered["all"] += value
    order = [(c, s) for c in CATEGORIES for s in STATUSES if (c, s) in published]
    cells, _ = suppress(published, threshold, order)
    rows = [
        QuestionCell(category=c.key[0], status=c.key[1], count=c.count, suppressed=c.suppressed)
        for c in cells
    ]
    times = []
    for group in (*CATEGORIES, "all"):
        if group not in hours:
            continue
        # The true count, not only the rounded one: one answer rounded up to five is still
        # one person's answer time.
        hidden = len(hours[group]) < threshold or answered[group] < threshold
        median = None if hidden else round(statistics.median(hours[group]), 1)
        times.append(AnswerTime(category=group, median_hours=median, suppressed=hidden))
    return QuestionReport(
        first=first.isoformat(),
        last=last.isoformat(),
        rows=rows,
        answer_times=times,
        threshold=threshold,
    )


_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON or CSV"}
}
CSV_COLUMNS = ["measure", "category", "status", "value"]


def report_csv(report: QuestionReport) -> str:
    """One table for a spreadsheet: the counts (`questions`), then the median hours to an
    answer (`median_hours_to_answer`, status empty). A hidden count reads `<5`; a withheld
    median is an empty value (as `null` in JSON), never `<5`, which would read as hours."""
    hidden = f"<{report.threshold}"
    rows: list[list[Any]] = [
        ["questions", r.category, r.status, hidden if r.suppressed else r.count]
        for r in report.rows
    ]
    rows += [
        ["median_hours_to_answer", t.category, "", "" if t.suppressed else t.median_hours]
        for t in report.answer_times
    ]
    return csv_text(CSV_COLUMNS, rows)


@router.get(
    "/v1/reports/questions",
    summary="Questions by category and status, and the median time to answer (analyst)",
    response_model=QuestionReport,
    responses={
        **responses(
            Unauthenticated, Forbidden, ValidationFailed, ReportRangeInvalid, StorageUnavailable
        ),
        **_CSV,
    },
)
async def questions_report(
    ctx: ContextDep,
    analyst: Analyst,
    request: Request,
    first: Annotated[date, Query(alias="from", description="First day (Vietnam time)")],
    last: Annotated[date, Query(alias="to", description="Last day, inclusive")],
) -> QuestionReport | Response:
    check_range(first, last)
    now = utcnow()
    csv = wants_csv(request.headers.get("accept", ""))
    params = {"from": first.isoformat(), "to": last.isoformat(), "format": "csv" if csv else "json"}
    await record_report_request(ctx.store, analyst, "questions", params, now=now)
    report = await question_report(ctx, first, last)
    if not csv:
        return report
    attachment = filename("questions", report.first, report.last)
    return Response(
        report_csv(report).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Cache-Control": "no-store",
            "Vary": "Accept",
            "Content-Disposition": f'attachment; filename="{attachment}"',
        },
    )
