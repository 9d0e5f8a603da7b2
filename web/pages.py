"""Static HTML pages served from a package folder: the dashboard, the public map, the
questions page. Each page carries the same strict headers (a Content-Security-Policy that
admits only this service's own files and API, no framing, no referrer); a page states only
its cache policy and whether it draws images. Its script, style and licence files get
versioned URLs (`?v=` content hash), a one-year immutable cache and an `ETag`, so a new
release is picked up at once and an unchanged asset is never fetched twice; the page itself
has an `ETag` too, so a return visit revalidates it with a 304 instead of the whole page.

Files are read, tagged and gzipped once, when the page is built at start-up (`web.caching.
Fixed`): they ship with the package and never change while it runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse

from core.errors import NotFound
from web.caching import Fixed
from web.openapi import NOT_MODIFIED, answered

MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
}
HTML = "text/html; charset=utf-8"
ASSET_CACHE = "public, max-age=31536000, immutable"


def content_security_policy(*, images: bool) -> str:
    """Scripts, styles and API calls from this service only, nothing inline, no frames.
    `images`: the page draws (charts as data: and blob: URLs)."""
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            *(["img-src 'self' data: blob:"] if images else []),
            "connect-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        )
    )


@dataclass(frozen=True)
class Asset:
    answer: Fixed
    version: str


class StaticPage:
    """One HTML page whose `{{name}}` placeholders become `<url>/static/<name>?v=<hash>`.
    `cache_control` is the page's own (its assets are immutable); by default it is
    revalidated on every visit."""

    def __init__(
        self,
        *,
        html: Path,
        url: str,
        assets: Sequence[Path],
        cache_control: str = "no-cache",
        images: bool = False,
    ) -> None:
        self._url = url
        self.assets: dict[str, Asset] = {}
        for path in assets:
            body = path.read_bytes()
            answer = Fixed(body, media_type=MEDIA_TYPES[path.suffix], cache_control=ASSET_CACHE)
            self.assets[path.name] = Asset(answer, hashlib.sha256(body).hexdigest()[:16])
        page = html.read_text("utf-8")
        for name, asset in self.assets.items():
            page = page.replace("{{" + name + "}}", f"{url}/static/{name}?v={asset.version}")
        self.page = Fixed(
            page.encode("utf-8"),
            media_type=HTML,
            cache_control=cache_control,
            # On the 304 too: `X-Content-Type-Options` is every answer's (api.middleware).
            shared={
                "Content-Security-Policy": content_security_policy(images=images),
                "X-Frame-Options": "DENY",
                "Referrer-Policy": "no-referrer",
            },
        )

    def serve(self, router: APIRouter, *, summary: str) -> None:
        """`GET <url>` (the page, in the OpenAPI document) and `GET <url>/static/{name}`."""

        async def page(request: Request) -> Response:
            return self.page.answer(request)

        async def asset(
            request: Request, name: Annotated[str, PathParam(max_length=64)]
        ) -> Response:
            found = self.assets.get(name)
            if found is None:
                raise NotFound()
            return found.answer.answer(request)

        router.add_api_route(
            self._url,
            page,
            methods=["GET"],
            summary=summary,
            response_class=HTMLResponse,
            responses={
                **answered(200, "The page", "ETag", "Cache-Control", "Vary"),
                **NOT_MODIFIED,
            },
        )
        router.add_api_route(
            f"{self._url}/static/{{name}}", asset, methods=["GET"], include_in_schema=False
        )
