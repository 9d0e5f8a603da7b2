"""Static HTML pages served from a package folder: the dashboard, the public map, the
questions page. Each page carries the same strict headers (a Content-Security-Policy that
admits only this service's own files and API, no framing, no referrer); a page states only
its cache policy and whether it draws images. Its script, style and licence files get
versioned URLs (`?v=` content hash), a one-year immutable cache and an `ETag`, so a new
release is picked up at once and an unchanged asset is never fetched twice.

Files are read on first use and kept for the life of the process: they ship with the
package and never change while it runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse

from core.errors import NotFound
from web.caching import matches
from web.openapi import answered

MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
}
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
    body: bytes
    media_type: str
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
        self._html = html
        self._url = url
        self._files = tuple(assets)
        self.headers: Mapping[str, str] = {
            "Content-Security-Policy": content_security_policy(images=images),
            "Cache-Control": cache_control,
            "X-Frame-Options": "DENY",  # `X-Content-Type-Options`: every answer's (api.middleware)
            "Referrer-Policy": "no-referrer",
        }

    def serve(self, router: APIRouter, *, summary: str) -> None:
        """`GET <url>` (the page, in the OpenAPI document) and `GET <url>/static/{name}`."""

        async def page() -> Response:
            return self.page()

        async def asset(
            name: Annotated[str, PathParam(max_length=64)],
            if_none_match: Annotated[str | None, Header()] = None,
        ) -> Response:
            return self.asset(name, if_none_match)

        router.add_api_route(
            self._url,
            page,
            methods=["GET"],
            summary=summary,
            response_class=HTMLResponse,
            responses=answered(200, "The page", "Cache-Control"),
        )
        router.add_api_route(
            f"{self._url}/static/{{name}}", asset, methods=["GET"], include_in_schema=False
        )

    @cached_property
    def assets(self) -> dict[str, Asset]:
        found: dict[str, Asset] = {}
        for path in self._files:
            body = path.read_bytes()
            version = hashlib.sha256(body).hexdigest()[:16]
            found[path.name] = Asset(body, MEDIA_TYPES[path.suffix], version)
        return found

    @cached_property
    def body(self) -> bytes:
        html = self._html.read_text("utf-8")
        for name, asset in self.assets.items():
            html = html.replace("{{" + name + "}}", f"{self._url}/static/{name}?v={asset.version}")
        return html.encode("utf-8")

    def page(self) -> Response:
        return Response(self.body, media_type="text/html; charset=utf-8", headers=self.headers)

    def asset(self, name: str, if_none_match: str | None) -> Response:
        asset = self.assets.get(name)
        if asset is None:
            raise NotFound()
        etag = f'"{asset.version}"'
        headers = {"Cache-Control": ASSET_CACHE, "ETag": etag}
        if matches(if_none_match, etag):
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)
