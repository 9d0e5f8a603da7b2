"""The ministry's dashboard: one static page, its script and style, and Chart.js (MIT, vendored
in `static/` with its licence: no CDN, so the page works on a ministry network that blocks
them and no third party sees who opens it).

The page holds no data. It signs in with `POST /v1/auth/token`, keeps the token in memory
and calls the analyst-only reports, which are audited like any other client's. Assets are
served under versioned URLs (`?v=` content hash) with a one-year immutable cache; the page
itself is revalidated on every visit and carries a strict Content-Security-Policy.
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
from web.openapi import answered

STATIC = Path(__file__).parent / "static"
_MEDIA_TYPES = {
    "chart.umd.js": "text/javascript; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "chart.js.LICENSE.md": "text/plain; charset=utf-8",
}
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
_PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(tags=["reports"])


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    version: str


@lru_cache(maxsize=1)
def assets() -> dict[str, Asset]:
    found: dict[str, Asset] = {}
    for name, media_type in _MEDIA_TYPES.items():
        body = (STATIC / name).read_bytes()
        found[name] = Asset(body, media_type, hashlib.sha256(body).hexdigest()[:16])
    return found


@lru_cache(maxsize=1)
def page() -> bytes:
    html = (STATIC / "dashboard.html").read_text("utf-8")
    for name, asset in assets().items():
        html = html.replace("{{" + name + "}}", f"/dashboard/static/{name}?v={asset.version}")
    return html.encode("utf-8")


@router.get(
    "/dashboard",
    summary="The ministry's dashboard (HTML; its data comes from the analyst-only reports)",
    response_class=HTMLResponse,
    responses=answered(200, "The page", "Cache-Control"),
)
async def dashboard() -> Response:
    return Response(page(), media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)


@router.get("/dashboard/static/{name}", include_in_schema=False)
async def dashboard_asset(
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
