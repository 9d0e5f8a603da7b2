"""QR images: PNG (Pillow) and SVG (one path), error correction M, four-module quiet zone."""

from __future__ import annotations

import asyncio
import io
from itertools import groupby
from typing import Literal

import qrcode
from qrcode.constants import ERROR_CORRECT_M

ImageFormat = Literal["png", "svg"]
MEDIA_TYPES: dict[str, str] = {"png": "image/png", "svg": "image/svg+xml"}
# 8 px per module: a personal code (~version 15, 77 modules) is about 680 px square,
# sharp on a phone screen and on a printed poster alike.
PNG_BOX_PIXELS = 8
QUIET_ZONE = 4  # modules of light border, the minimum ISO/IEC 18004 asks for


def _code(text: str, **options: int) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=QUIET_ZONE, **options)
    code.add_data(text)
    code.make(fit=True)
    return code


def svg_of(modules: list[list[bool]]) -> str:
    """The matrix (quiet zone included) as one stroked path of horizontal runs.

    qrcode's SvgPathImage writes a closed square per dark module (`M4,4H5V5H4z`): about
    50 KB for a personal code, most of a second on 3G. Here each run of dark modules in a
    row is one line one module thick, drawn through the middle of the row (`y.5`), and the
    next run in the row is a relative move (`m2 0h3`): about 9 KB, under 2 KB gzipped.
    Integers only, a viewBox so it scales to any size, a white square behind it so the
    quiet zone stays light on a dark page, and crispEdges so no seam shows between rows.
    """
    size = len(modules)
    runs: list[str] = []
    for y, row in enumerate(modules):
        x, pen = 0, -1
        for dark, group in groupby(row):
            length = sum(1 for _ in group)
            if dark:
                runs.append(f"M{x} {y}.5h{length}" if pen < 0 else f"m{x - pen} 0h{length}")
                pen = x + length
            x += length
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}"'
        ' shape-rendering="crispEdges">'
        f'<path fill="#fff" d="M0 0h{size}v{size}H0z"/>'
        f'<path stroke="#000" d="{"".join(runs)}"/></svg>'
    )


def _render(text: str, image_format: ImageFormat) -> bytes:
    if image_format == "svg":
        return svg_of(_code(text).get_matrix()).encode()
    buffer = io.BytesIO()
    _code(text, box_size=PNG_BOX_PIXELS).make_image().save(buffer, format="PNG")
    return buffer.getvalue()


async def render(text: str, image_format: ImageFormat) -> bytes:
    """Rendering takes milliseconds of CPU: keep it off the event loop."""
    return await asyncio.to_thread(_render, text, image_format)
