"""The one way a code is answered: as JSON or as a QR image, with validators
(`web.caching`)."""

from __future__ import annotations

from typing import Literal

from fastapi import Request, Response
from pydantic import BaseModel

from qr.images import MEDIA_TYPES, render
from web.caching import etag_of, matches, not_modified

CodeFormat = Literal["json", "png", "svg"]


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
    so a client holding the current code gets a 304 instead of the image again."""
    headers = {"ETag": etag_of(jti, image_format), "Cache-Control": cache_control}
    if matches(request.headers.get("if-none-match"), headers["ETag"]):
        return not_modified(headers["ETag"], cache_control)
    if image_format == "json":
        return Response(as_json.model_dump_json(), media_type="application/json", headers=headers)
    image = await render(text, image_format)
    return Response(image, media_type=MEDIA_TYPES[image_format], headers=headers)
