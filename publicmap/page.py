"""The public map page: one static page, its script and style, and the Chart.js the dashboard
vendors (MIT, `reports/static`). No CDN and no map tiles: the provinces are drawn as a tile
grid by the page's own script (README, "The public map"), so the page works on a network
that reaches only this service, and no third party learns who opens it.

Assets have versioned URLs (`?v=` content hash) and a one-year immutable cache; the page is
revalidated on every visit and carries a strict Content-Security-Policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse

from reports.dashboard import CONTENT_SECURITY_POLICY
from reports.dashboard import STATIC as REPORTS_STATIC
from web.openapi import answered
from web.pages import StaticPage

STATIC = Path(__file__).parent / "static"
PAGE = StaticPage(
    html=STATIC / "map.html",
    url="/map",
    assets=[
        STATIC / "map.js",
        STATIC / "map.css",
        REPORTS_STATIC / "chart.umd.js",
        REPORTS_STATIC / "chart.js.LICENSE.md",
    ],
    headers={
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
    },
)

router = APIRouter(tags=["public map"])


@router.get(
    "/map",
    summary="The public epidemic map (HTML; its figures come from /v1/public/regions)",
    response_class=HTMLResponse,
    responses=answered(200, "The page", "Cache-Control"),
)
async def map_page() -> Response:
    return PAGE.page()


@router.get("/map/static/{name}", include_in_schema=False)
async def map_asset(
    name: Annotated[str, PathParam(max_length=64)],
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    return PAGE.asset(name, if_none_match)
