"""The one way a code is answered: as JSON or as a QR image, with validators
(`web.caching`)."""

from __future__ import annotations

from typing import Literal

from fastapi import Request, Response
from pydantic import BaseModel

from qr.images import MEDIA_TYPES, render
from web.caching import GZIP_MINIMUM_BYTES, etag_of, representation

CodeFormat = Literal["json", "png", "svg"]
MEDIA_JSON = "application/json"


async def code_response(
    request: Request,
    *,
    jti: str,
    text: str,
    as_json: BaseModel,
    image_format: CodeFormat,
    cache_control: str,
) -> Response:
    """A signed code as JSON or as its QR image. The ETag names the token and the format,
    so a client holding the current code gets a 304 instead of the image again; the SVG
    (about 10 KB) goes gzipped to a client that asks, under a tag of its own (so does the
    JSON, were it long enough); a PNG is compressed already."""
    etag = etag_of(jti, image_format)
    if image_format == "json":
        body = as_json.model_dump_json().encode()
        found = representation(
            request,
            etag=etag,
            cache_control=cache_control,
            compressible=len(body) >= GZIP_MINIMUM_BYTES,
        )
        return found.not_modified() if found.fresh(request) else found.send(body, MEDIA_JSON)
    found = representation(
        request, etag=etag, cache_control=cache_control, compressible=image_format == "svg"
    )
    if found.fresh(request):
        return found.not_modified()
    return found.send(await render(text, image_format), MEDIA_TYPES[image_format])
