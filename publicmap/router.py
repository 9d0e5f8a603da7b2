"""HTTP endpoints of the public map: the regional figures (no sign-in) and the `/map` page."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from core.errors import StorageUnavailable, ValidationFailed
from publicmap import service
from publicmap.page import router as page_router
from publicmap.schemas import Regions
from publicmap.service import Level, MapDateOutOfRange, MapProvinceRequired
from reports.service import ProvinceUnknown
from web import caching
from web.deps import ContextDep
from web.openapi import answered, headers
from web.problems import responses

router = APIRouter(tags=["public map"])
router.include_router(page_router)
# A national audience opening the map at once is a surge: its route is included first
# (api.domains.HOT_ROUTERS), so a request finds it without walking every other route.
hot_router = APIRouter(tags=["public map"])

_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    **answered(200, "The figures", "ETag", "Cache-Control"),
    304: {
        "description": "Not modified: the `If-None-Match` tag is still current",
        "headers": headers("ETag", "Cache-Control"),
    },
}
_ERRORS = responses(
    ValidationFailed, MapDateOutOfRange, MapProvinceRequired, ProvinceUnknown, StorageUnavailable
)


@hot_router.get(
    "/v1/public/regions",
    summary="Epidemic figures per province, or per ward of a province (public, cacheable)",
    response_model=Regions,
    responses={**_ERRORS, **_NOT_MODIFIED},
)
async def regions(
    ctx: ContextDep,
    level: Annotated[Level, Query(description="province: the 34 provinces; ward: one's wards")] = (
        "province"
    ),
    province: Annotated[int | None, Query(description="The province (code) for level=ward")] = None,
    day: Annotated[
        date | None, Query(alias="date", description="YYYY-MM-DD within the last 30 days")
    ] = None,
    # No length limits on these two: they are only compared, never stored, and a limit the
    # server could not enforce the same way on every path made the document lie.
    if_none_match: Annotated[str | None, Header(include_in_schema=False)] = None,
    accept_encoding: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    snapshot = await service.current(ctx)
    question = service.question(snapshot, level, province, day)
    gzipped = service.wants_gzip(accept_encoding)
    headers = {
        "Cache-Control": f"public, max-age={ctx.settings.map_refresh_seconds}",
        "Access-Control-Allow-Origin": "*",
        "ETag": service.etag_of(snapshot, question, gzipped=gzipped),
    }
    if caching.matches(if_none_match, headers["ETag"]):
        # As its 200 would say (the middleware's, for a plain one): RFC 9110 15.4.5.
        return Response(status_code=304, headers={**headers, "Vary": "Accept-Encoding"})
    answer = service.answer(ctx, snapshot, question)
    if gzipped:  # the gzip middleware lets an encoded body through, and adds Vary otherwise
        headers["Content-Encoding"] = "gzip"
        headers["Vary"] = "Accept-Encoding"
        return Response(answer.gzipped, media_type="application/json", headers=headers)
    return Response(answer.body, media_type="application/json", headers=headers)
