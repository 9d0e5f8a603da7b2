"""HTTP validators for answers that repeat: a strong `ETag`, `If-None-Match` as RFC 9110
reads it, and the 304 that spares a phone on 3G the same bytes again. The one place every
cacheable route compares tags, so each accepts the same headers: a list of tags, weak ones
(`W/"..."`, as proxies that recompress send them back) and `*`."""

from __future__ import annotations

import hashlib

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


def not_modified(etag: str, cache_control: str, **more: str) -> Response:
    return Response(status_code=304, headers={"ETag": etag, "Cache-Control": cache_control, **more})
