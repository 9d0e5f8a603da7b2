"""The public map page: one static page, its script and style, and the Chart.js the dashboard
vendors (MIT, `reports/static`). No CDN and no map tiles: the provinces are drawn as a tile
grid by the page's own script (README, "The public map"), so the page works on a network
that reaches only this service, and no third party learns who opens it.

Headers, CSP and caching are every static page's (`web.pages`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from reports.dashboard import STATIC as REPORTS_STATIC
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
    images=True,
)

router = APIRouter(tags=["public map"])
PAGE.serve(
    router, summary="The public epidemic map (HTML; its figures come from /v1/public/regions)"
)
