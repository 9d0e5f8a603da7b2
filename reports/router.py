"""HTTP endpoints of the reports domain: the analyst-only reports and the dashboard."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response

from core.clock import local_day, utcnow
from core.errors import Forbidden, StorageUnavailable, Unauthenticated, ValidationFailed
from reports import service
from reports.arrivals_monitoring import (
    ArrivalGroupingInvalid,
    MonitoringGroupingInvalid,
    arrival_report,
    monitoring_report,
    parse_arrival_group_by,
    parse_monitoring_group_by,
)
from reports.audit import ReportName, record_report_request
from reports.dashboard import router as dashboard_router
from reports.export import filename, to_csv, wants_csv
from reports.schemas import ArrivalReport, CheckpointReport, DeclarationReport, MonitoringReport
from reports.service import (
    ProvinceUnknown,
    Report,
    ReportGroupingInvalid,
    ReportRangeAfterToday,
    ReportRangeInvalid,
)
from reports.suppression import METHOD, Rounding, rounding_for
from web.deps import Analyst, ContextDep
from web.openapi import headers
from web.problems import responses

router = APIRouter(tags=["reports"])
router.include_router(dashboard_router)

_ACCESS = (Unauthenticated, Forbidden, ValidationFailed, ReportRangeInvalid, StorageUnavailable)
_DECLARATION_ERRORS = responses(*_ACCESS, ReportGroupingInvalid, ProvinceUnknown)
_CHECKPOINT_ERRORS = responses(*_ACCESS)
_CSV: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "JSON or CSV (Accept: text/csv)",
        "headers": headers("Cache-Control"),
    }
}
From = Annotated[date, Query(alias="from", description="First day, YYYY-MM-DD (Vietnam time)")]
To = Annotated[date, Query(alias="to", description="Last day, inclusive")]


@router.get(
    "/v1/reports/declarations",
    summary="Declarations counted by day, province, ward, status or symptom (analyst)",
    response_model=DeclarationReport,
    responses={**_DECLARATION_ERRORS, **_CSV},
)
async def declarations_report(
    ctx: ContextDep,
    analyst: Analyst,
    request: Request,
    first: From,
    last: To,
    group_by: Annotated[
        str,
        Query(
            max_length=64,
            description="One or two of day, province, ward, status, symptom, comma-separated",
        ),
    ] = "day",
    province: Annotated[int | None, Query(description="Only this province (code)")] = None,
) -> Response:
    service.check_range(first, last)
    query = service.DeclarationQuery(first, last, service.parse_group_by(group_by), province)
    service.check_province(province)

    async def build(rounding: Rounding, now: datetime) -> Report:
        counts = await service.declaration_counts(ctx.store, query, now=now, rounding=rounding)
        return service.declaration_report(query, counts, ctx.settings.small_cell_threshold)

    return await _answer(ctx, analyst, request, "declarations", query.audit_params(), build)


@router.get(
    "/v1/reports/checkpoints",
    summary="Scans and check-ins per checkpoint and decision (analyst)",
    response_model=CheckpointReport,
    responses={**_CHECKPOINT_ERRORS, **_CSV},
)
async def checkpoints_report(
    ctx: ContextDep,
    analyst: Analyst,
    request: Request,
    first: From,
    last: To,
    checkpoint: Annotated[
        str | None,
        Query(max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="Only this checkpoint"),
    ] = None,
) -> Response:
    params = {**_period(first, last), "checkpoint": checkpoint}
    threshold = ctx.settings.small_cell_threshold
    return await _answer(
        ctx,
        analyst,
        request,
        "checkpoints",
        params,
        lambda rounding, _: service.checkpoint_report(
            ctx.store, first, last, checkpoint, threshold, rounding
        ),
    )


@router.get(
    "/v1/reports/arrivals",
    summary="Travellers arriving by day, point of entry, nationality or status (analyst)",
    response_model=ArrivalReport,
    responses={**responses(*_ACCESS, ArrivalGroupingInvalid), **_CSV},
)
async def arrivals_report(
    ctx: ContextDep,
    analyst: Analyst,
    request: Request,
    first: From,
    last: To,
    group_by: Annotated[
        str,
        Query(
            max_length=64,
            description="One or two of day, point_of_entry, nationality, status, comma-separated",
        ),
    ] = "day",
) -> Response:
    period = _period(first, last)
    dimensions = parse_arrival_group_by(group_by)
    threshold = ctx.settings.small_cell_threshold
    return await _answer(
        ctx,
        analyst,
        request,
        "arrivals",
        {**period, "group_by": list(dimensions)},
        lambda rounding, _: arrival_report(ctx.store, first, last, dimensions, threshold, rounding),
    )


@router.get(
    "/v1/reports/monitoring",
    summary="People under medical monitoring by day, province, ward or reason, and the "
    "episodes needing attention (analyst)",
    response_model=MonitoringReport,
    responses={**responses(*_ACCESS, ReportRangeAfterToday, MonitoringGroupingInvalid), **_CSV},
)
async def monitoring_report_route(
    ctx: ContextDep,
    analyst: Analyst,
    request: Request,
    first: From,
    last: To,
    group_by: Annotated[
        str,
        Query(
            max_length=64,
            description="One or two of day, province, ward, reason, comma-separated",
        ),
    ] = "day",
) -> Response:
    period = _period(first, last)
    # Who is followed on a day to come is not known yet: refused, as the map refuses it.
    service.check_ends_by(last, local_day(utcnow()))
    dimensions = parse_monitoring_group_by(group_by)
    threshold = ctx.settings.small_cell_threshold
    return await _answer(
        ctx,
        analyst,
        request,
        "monitoring",
        {**period, "group_by": list(dimensions)},
        lambda rounding, _: monitoring_report(
            ctx.store, first, last, dimensions, threshold, rounding
        ),
    )


def _period(first: date, last: date) -> dict[str, Any]:
    """The checked date range, as the audit entry records it."""
    service.check_range(first, last)
    return {"from": first.isoformat(), "to": last.isoformat()}


async def _answer(
    ctx: ContextDep,
    analyst: Analyst,
    request: Request,
    report: ReportName,
    params: dict[str, Any],
    build: Callable[[Rounding, datetime], Awaitable[Report]],
) -> Response:
    """What every report does once its parameters are valid: record the request (before a
    count is read), build the report with the service's rounding, render JSON or CSV as the
    client accepts."""
    csv = wants_csv(request.headers.get("accept", ""))
    now = utcnow()
    await _audit(ctx, analyst, report, params, csv=csv, now=now)
    rounding = rounding_for(ctx.settings)
    found = await build(rounding, now)
    found.meta["rounding"] = {"method": METHOD, "base": rounding.base}
    return _render(found, report, csv)


async def _audit(
    ctx: ContextDep,
    analyst: Analyst,
    report: ReportName,
    params: dict[str, Any],
    *,
    csv: bool,
    now: datetime,
) -> None:
    """Who asked for what: the validated parameters and the format, never the rows."""
    params = {**params, "format": "csv" if csv else "json"}
    await record_report_request(ctx.store, analyst, report, params, now=now)


def _render(report: Report, name: str, csv: bool) -> Response:
    headers = {"Cache-Control": "no-store", "Vary": "Accept"}
    if csv:
        attachment = filename(name, report.meta["from"], report.meta["to"])
        headers["Content-Disposition"] = f'attachment; filename="{attachment}"'
        return Response(
            to_csv(report).encode("utf-8"), media_type="text/csv; charset=utf-8", headers=headers
        )
    body = {
        **report.meta,
        "threshold": report.threshold,
        "rows": report.rows,
        "total": {
            "count": report.total.count,
            "shown_cells": report.total.shown_cells,
            "suppressed_cells": report.total.suppressed_cells,
            "basis": "sum_of_shown_cells",
        },
    }
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)
