"""The public map page: one static page, its script and style, and the Chart.js the dashboard
vendors (MIT, `reports/static`). No CDN and no map tiles: the provinces are drawn as a tile
grid by the page's own script (README, "The public map"), so the page works on a network
that reaches only this service, and no third party learns who opens it.

Assets have versioned URLs (`?v=` content hash) and a one-year immutable cache; the page is
revalidated on every visit and carries a strict Content-Security-Policy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse

from core.errors import NotFound
from reports.dashboard import CONTENT_SECURITY_POLICY
from reports.dashboard import STATIC as REPORTS_STATIC
from web.openapi import answered

STATIC = Path(__file__).parent / "static"
_ASSETS = {
    "map.js": (STATIC, "text/javascript; charset=utf-8"),
    "map.css": (STATIC, "text/css; charset=utf-8"),
    "chart.umd.js": (REPORTS_STATIC, "text/javascript; charset=utf-8"),
    "chart.js.LICENSE.md": (REPORTS_STATIC, "text/plain; charset=utf-8"),
}
_PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(tags=["public map"])


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    version: str


@lru_cache(maxsize=1)
def assets() -> dict[str, Asset]:
    found: dict[str, Asset] = {}
    for name, (folder, media_type) in _ASSETS.items():
        body = (folder / name).read_bytes()
        found[name] = Asset(body, media_type, hashlib.sha256(body).hexdigest()[:16])
    return found


@lru_cache(maxsize=1)
def page() -> bytes:
    html = (STATIC / "map.html").read_text("utf-8")
    for name, asset in assets().items():
        html = html.replace("{{" + name + "}}", f"/map/static/{name}?v={asset.version}")
    return html.encode("utf-8")


@router.get(
    "/map",
    summary="The public epidemic map (HTML; its figures come from /v1/public/regions)",
    response_class=HTMLResponse,
    responses=answered(200, "The page", "Cache-Control"),
)
async def map_page() -> Response:
    return Response(page(), media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)


@router.get("/map/static/{name}", include_in_schema=False)
async def map_asset(
    name: Annotated[str, PathParam(max_length=64)],
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    asset = assets().get(name)
    if asset is None:
        raise NotFound()
    etag = f'"{asset.version}"'
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
    }
    if if_none_match == etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)
