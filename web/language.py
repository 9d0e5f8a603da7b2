"""The language of a request: its Accept-Language header, negotiated by `core.i18n` (the one
place that reads the header's weights, also used by the edge middleware on raw headers)."""

from __future__ import annotations

from starlette.requests import Request

from core.i18n import negotiate


def request_language(request: Request) -> str:
    return negotiate(request.headers.get("accept-language"))
