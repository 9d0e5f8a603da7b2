"""QR images: PNG (Pillow) and SVG (one path), error correction M, four-module quiet zone."""

from __future__ import annotations

import asyncio
import io
from typing import Literal

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M

ImageFormat = Literal["png", "svg"]
MEDIA_TYPES: dict[str, str] = {"png": "image/png", "svg": "image/svg+xml"}
# 8 px per module: a personal code (~version 15, 77 modules) is about 680 px square,
# sharp on a phone screen and on a printed poster alike.
PNG_BOX_PIXELS = 8


def _render(text: str, image_format: ImageFormat) -> bytes:
    if image_format == "svg":
        code = qrcode.QRCode(
            error_correction=ERROR_CORRECT_M,
            border=4,
            image_factory=qrcode.image.svg.SvgPathImage,
        )
        code.add_data(text)
        code.make(fit=True)
        svg: bytes = code.make_image().to_string(encoding="unicode").encode()
        return svg
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=PNG_BOX_PIXELS, border=4)
    code.add_data(text)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer, format="PNG")
    return buffer.getvalue()


async def render(text: str, image_format: ImageFormat) -> bytes:
    """Rendering takes milliseconds of CPU: keep it off the event loop."""
    return await asyncio.to_thread(_render, text, image_format)
