"""The ministry's dashboard: one static page, its script and style, and Chart.js (MIT, vendored
in `static/` with its licence: no CDN, so the page works on a ministry network that blocks
them and no third party sees who opens it).

The page holds no data. It signs in with `POST /v1/auth/token`, keeps the token in memory
and calls the analyst-only reports, which are audited like any other client's. Assets are
served under versioned URLs (`?v=` content hash) with a one-year immutable cache; the page
itself is revalidated on every visit and carries a strict Content-Security-Policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse

from web.openapi import answered
from web.pages import StaticPage

STATIC = Path(__file__).parent / "static"
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
PAGE = StaticPage(
    html=STATIC / "dashboard.html",
    url="/dashboard",
    assets=[
        STATIC / "chart.umd.js",
        STATIC / "dashboard.js",
        STATIC / "dashboard.css",
        STATIC / "chart.js.LICENSE.md",
    ],
    headers={
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
    },
)

router = APIRouter(tags=["reports"])


@router.get(
    "/dashboard",
    summary="The ministry's dashboard (HTML; its data comes from the analyst-only reports)",
    response_class=HTMLResponse,
    responses=answered(200, "The page", "Cache-Control"),
)
async def dashboard() -> Response:
    return PAGE.page()


@router.get("/dashboard/static/{name}", include_in_schema=False)
async def dashboard_asset(
    name: Annotated[str, PathParam(max_length=64)],
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    return PAGE.asset(name, if_none_match)
