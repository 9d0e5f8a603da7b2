"""HTTP validators for responses that repeat (ETag, If-None-Match, 304), and the one way a
code is answered: as JSON or as a QR image, with validators."""

from __future__ import annotations

import hashlib
from typing import Literal

from fastapi import Request, Response
from pydantic import BaseModel

from qr.images import MEDIA_TYPES, render

CodeFormat = Literal["json", "png", "svg"]


def etag_of(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\x00")
    return '"' + digest.hexdigest()[:32] + '"'


def matches(request: Request, etag: str) -> bool:
    """RFC 9110 weak comparison of If-None-Match against our (strong) ETag."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in candidates or etag in candidates


def not_modified(etag: str, cache_control: str) -> Response:
    return Response(status_code=304, headers={"ETag": etag, "Cache-Control": cache_control})


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
    if matches(request, headers["ETag"]):
        return not_modified(headers["ETag"], cache_control)
    if image_format == "json":
        return Response(as_json.model_dump_json(), media_type="application/json", headers=headers)
    image = await render(text, image_format)
    return Response(image, media_type=MEDIA_TYPES[image_format], headers=headers)
