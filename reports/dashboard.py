"""The ministry's dashboard: one static page, its script and style, and Chart.js (MIT, vendored
in `static/` with its licence: no CDN, so the page works on a ministry network that blocks
them and no third party sees who opens it).

The page holds no data. It signs in with `POST /v1/auth/token`, keeps the token in memory
and calls the analyst-only reports, which are audited like any other client's. Headers, CSP
and caching are every static page's (`web.pages`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from web.pages import StaticPage

STATIC = Path(__file__).parent / "static"
PAGE = StaticPage(
    html=STATIC / "dashboard.html",
    url="/dashboard",
    assets=[
        STATIC / "chart.umd.js",
        STATIC / "dashboard.js",
        STATIC / "dashboard.css",
        STATIC / "chart.js.LICENSE.md",
    ],
    images=True,
)

router = APIRouter(tags=["reports"])
PAGE.serve(
    router, summary="The ministry's dashboard (HTML; its data comes from the analyst-only reports)"
)
