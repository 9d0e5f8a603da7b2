"""HTTP endpoints of the reports domain: two analyst-only reports and the dashboard."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response

from core.clock import utcnow
from core.errors import Forbidden, StorageUnavailable, Unauthenticated, ValidationFailed
from reports import service
from reports.audit import ReportName, record_report_request
from reports.dashboard import router as dashboard_router
from reports.export import filename, to_csv
from reports.schemas import CheckpointReport, DeclarationReport
from reports.service import ProvinceUnknown, Report, ReportGroupingInvalid, ReportRangeInvalid
from reports.suppression import METHOD, rounding_for
from web.deps import Analyst, ContextDep
from web.problems import responses

router = APIRouter(tags=["reports"])
router.include_router(dashboard_router)

_ACCESS = (Unauthenticated, Forbidden, ValidationFailed, ReportRangeInvalid, StorageUnavailable)
_DECLARATION_ERRORS = responses(*_ACCESS, ReportGroupingInvalid, ProvinceUnknown)
_CHECKPOINT_ERRORS = responses(*_ACCESS)
_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON or CSV"}
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
    now = utcnow()
    csv = wants_csv(request.headers.get("accept", ""))
    await _audit(ctx, analyst, "declarations", query.audit_params(), csv=csv, now=now)
    rounding = rounding_for(ctx.settings)
    counts = await service.declaration_counts(ctx.store, query, now=now, rounding=rounding)
    report = service.declaration_report(query, counts, ctx.settings.small_cell_threshold)
    report.meta["rounding"] = {"method": METHOD, "base": rounding.base}
    return _render(report, "declarations", csv)


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
    service.check_range(first, last)
    csv = wants_csv(request.headers.get("accept", ""))
    params = {"from": first.isoformat(), "to": last.isoformat(), "checkpoint": checkpoint}
    await _audit(ctx, analyst, "checkpoints", params, csv=csv, now=utcnow())
    rounding = rounding_for(ctx.settings)
    report = await service.checkpoint_report(
        ctx.store, first, last, checkpoint, ctx.settings.small_cell_threshold, rounding
    )
    report.meta["rounding"] = {"method": METHOD, "base": rounding.base}
    return _render(report, "checkpoints", csv)


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


def wants_csv(accept: str) -> bool:
    """True when the client prefers text/csv over JSON (q-values respected, JSON by default)."""
    quality: dict[str, float] = {}
    for part in accept.split(","):
        media, *parameters = (piece.strip() for piece in part.split(";"))
        q = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        quality[media.lower()] = q
    csv = quality.get("text/csv", 0.0)
    return csv > 0 and csv >= quality.get("application/json", 0.0)


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
