"""HTTP validators for answers that repeat: a strong `ETag`, `If-None-Match` as RFC 9110
reads it, and the 304 that spares a phone on 3G the same bytes again. The one place every
cacheable route compares tags, so each accepts the same headers: a list of tags, weak ones
(`W/"..."`, as proxies that recompress send them back) and `*`."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response


def etag_of(*parts: str | bytes) -> str:
    """A strong tag naming these bytes (a truncated SHA-256 of the parts)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\x00")
    return '"' + digest.hexdigest()[:32] + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: any tag in the list, compared weakly, or `*`."""
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


# The app's gzip middleware (api.app) leaves shorter answers as they are.
GZIP_MINIMUM_BYTES = 600


def wants_gzip(accept_encoding: str | None) -> bool:
    """The gzip middleware's own rule, so a tag always names what is sent."""
    return accept_encoding is not None and "gzip" in accept_encoding.lower()


@dataclass(frozen=True)
class Representation:
    """What one request gets of a cacheable answer: the headers its 200 and its 304 share
    (RFC 9110 15.4.5: a 304 sends the `ETag`, `Cache-Control` and `Vary` the 200 would),
    and whether its body goes gzipped. A strong tag names bytes, so the gzipped body has a
    tag of its own (`-gz`), and a cache told `Vary: Accept-Encoding` keeps the two apart."""

    headers: dict[str, str]
    gzipped: bool
    compressible: bool

    def fresh(self, request: Request) -> bool:
        return matches(request.headers.get("if-none-match"), self.headers["ETag"])

    def not_modified(self) -> Response:
        return Response(status_code=304, headers=self.headers)

    def send(self, body: bytes, media_type: str, *, gzipped: bytes | None = None) -> Response:
        """The 200. `gzipped`: the body already compressed, when the caller keeps it."""
        headers = dict(self.headers)
        if self.gzipped:
            # Sent encoded, the gzip middleware lets it through as it is.
            body = gzipped if gzipped is not None else gzip.compress(body, 6, mtime=0)
            headers["Content-Encoding"] = "gzip"
        elif self.compressible and len(body) >= GZIP_MINIMUM_BYTES:
            # The middleware adds `Vary: Accept-Encoding` to a plain body this long itself.
            varies = [v for v in headers["Vary"].split(", ") if v != "Accept-Encoding"]
            headers.pop("Vary")
            if varies:
                headers["Vary"] = ", ".join(varies)
        return Response(body, media_type=media_type, headers=headers)


def representation(
    request: Request,
    *,
    etag: str,
    cache_control: str,
    compressible: bool,
    vary: tuple[str, ...] = (),
    shared: Mapping[str, str] | None = None,
) -> Representation:
    """`compressible`: whether the body may go gzipped (at least `GZIP_MINIMUM_BYTES` of a
    type that compresses), so the answer varies by `Accept-Encoding`. `vary`: the other
    request headers the body depends on (`Accept-Language` when negotiated). `shared`: other
    headers the 304 repeats too (a page's Content-Security-Policy and framing rules)."""
    gzipped = compressible and wants_gzip(request.headers.get("accept-encoding"))
    headers = {
        **(shared or {}),
        "ETag": f'{etag[:-1]}-gz"' if gzipped else etag,
        "Cache-Control": cache_control,
    }
    varies = [*vary, "Accept-Encoding"] if compressible else list(vary)
    if varies:
        headers["Vary"] = ", ".join(varies)
    return Representation(headers, gzipped, compressible)


def cacheable(
    request: Request,
    body: bytes,
    *,
    cache_control: str,
    media_type: str = "application/json",
    vary: tuple[str, ...] = (),
) -> Response:
    """A cacheable answer whose bytes are at hand: tagged by them, a 304 when the client
    holds them, gzipped when it asks and they are long enough."""
    found = representation(
        request,
        etag=etag_of(body),
        cache_control=cache_control,
        compressible=len(body) >= GZIP_MINIMUM_BYTES,
        vary=vary,
    )
    return found.not_modified() if found.fresh(request) else found.send(body, media_type)


class Fixed:
    """An answer whose bytes never change while the process runs (a page, its script, the
    Swagger UI bundle): its tag and its gzipped body are computed once, when it is built at
    start-up, so a request only compares tags and picks bytes. `shared`: headers its 200 and
    its 304 both send."""

    def __init__(
        self,
        body: bytes,
        *,
        media_type: str,
        cache_control: str,
        shared: Mapping[str, str] | None = None,
    ) -> None:
        self.body = body
        self.media_type = media_type
        self.cache_control = cache_control
        self.shared = dict(shared or {})
        self.etag = etag_of(body)
        self.gzipped = gzip.compress(body, 6, mtime=0) if len(body) >= GZIP_MINIMUM_BYTES else None

    def answer(self, request: Request) -> Response:
        found = representation(
            request,
            etag=self.etag,
            cache_control=self.cache_control,
            compressible=self.gzipped is not None,
            shared=self.shared,
        )
        if found.fresh(request):
            return found.not_modified()
        return found.send(self.body, self.media_type, gzipped=self.gzipped)
