"""Static HTML pages served from a package folder: the dashboard, the public map, the
questions page. The page itself is revalidated on every visit (its caller picks the
headers, CSP included); its script, style and licence files get versioned URLs (`?v=` content
hash), a one-year immutable cache and an `ETag`, so a new release is picked up at once and
an unchanged asset is never fetched twice.

Files are read on first use and kept for the life of the process: they ship with the
package and never change while it runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from fastapi import Response

from core.errors import NotFound

MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
}
ASSET_CACHE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    version: str


class StaticPage:
    """One HTML page whose `{{name}}` placeholders become `<url>/static/<name>?v=<hash>`."""

    def __init__(
        self, *, html: Path, url: str, assets: Sequence[Path], headers: Mapping[str, str]
    ) -> None:
        self._html = html
        self._url = url
        self._files = tuple(assets)
        self._headers = dict(headers)

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
        return Response(self.body, media_type="text/html; charset=utf-8", headers=self._headers)

    def asset(self, name: str, if_none_match: str | None) -> Response:
        asset = self.assets.get(name)
        if asset is None:
            raise NotFound()
        etag = f'"{asset.version}"'
        headers = {"Cache-Control": ASSET_CACHE, "ETag": etag, "X-Content-Type-Options": "nosniff"}
        if if_none_match == etag:
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)
