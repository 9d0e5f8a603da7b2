"""The OpenAPI UI at `/docs`, and the service's icon, served from installed packages only;
`/`, the address uvicorn prints, points at them.

FastAPI's own `/docs` page loads Swagger UI from a CDN: on a ministry or district office's
closed network it is a blank page. Here the script and style come from the `swagger-ui-py`
package (Swagger UI 5, which reads OpenAPI 3.1, Apache-2.0: its licence is served beside
the assets at `/docs/assets/LICENSE`), so the page works with no internet at all."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, RedirectResponse

from core.errors import NotFound
from web.caching import Fixed

router = APIRouter(include_in_schema=False)

ASSETS_URL = "/docs/assets"
_SWAGGER_UI = Path(str(files("swagger_ui"))) / "static"
# Assets change only with the installed package; a day keeps office proxies useful.
_CACHE = "public, max-age=86400"
# The only files served from the package: a name outside this table is a 404, never a path.
# Read, tagged and gzipped once, at start-up (the bundle is 1.5 MB, 0.4 MB gzipped).
ASSETS: dict[str, Fixed] = {
    name: Fixed(path.read_bytes(), media_type=media_type, cache_control=_CACHE)
    for name, path, media_type in (
        ("swagger-ui-bundle.js", _SWAGGER_UI / "swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", _SWAGGER_UI / "swagger-ui.css", "text/css"),
        ("LICENSE", _SWAGGER_UI / "LICENSE", "text/plain; charset=utf-8"),
    )
}
FAVICON = Fixed(
    (Path(__file__).parent / "static" / "favicon.ico").read_bytes(),
    media_type="image/x-icon",
    cache_control=_CACHE,
)

# Never inside another site's frame (clickjacking a signed-in "Try it out"). Only framing is
# restricted: the page's own inline script, which FastAPI writes, must run. Revalidated on
# every visit, as the other pages (web.pages), and sent on its 304 too.
PAGE = Fixed(
    bytes(
        get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Khaibao API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url="/favicon.ico",
        ).body
    ),
    media_type="text/html; charset=utf-8",
    cache_control="no-cache",
    shared={
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": "frame-ancestors 'none'",
        "Referrer-Policy": "no-referrer",
    },
)


# What `/` lists for a program (or `curl`); a browser is sent to the documentation.
INDEX = {
    "service": "Khaibao health-declaration API",
    "docs": "/docs",
    "openapi": "/openapi.json",
    "health": "/healthz",
}


@router.get("/")
async def index(request: Request) -> Response:
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/docs", status_code=307)
    return JSONResponse(INDEX)


@router.get("/docs")
async def docs(request: Request) -> Response:
    return PAGE.answer(request)


@router.get(f"{ASSETS_URL}/{{name}}")
async def docs_asset(request: Request, name: str) -> Response:
    asset = ASSETS.get(name)
    if asset is None:
        raise NotFound()
    return asset.answer(request)


@router.get("/favicon.ico")
async def favicon(request: Request) -> Response:
    return FAVICON.answer(request)
