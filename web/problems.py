"""Render every error as RFC 9457 problem+json, in the caller's language."""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route, compile_path

from core.errors import (
    AppError,
    Forbidden,
    MalformedBody,
    NotFound,
    PayloadTooLarge,
    StorageUnavailable,
    UnsupportedContentEncoding,
    UnsupportedMediaType,
    ValidationFailed,
    all_error_types,
)
from core.i18n import Text, field_more
from core.logging import request_id
from core.storage import StorageDown
from web.deps import request_language
from web.lean import is_json

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://khaibao.example/problems/"
RETRY_AFTER = {
    "description": "Seconds to wait before trying again",
    "schema": {"type": "integer", "minimum": 0},
}


class FieldProblem(BaseModel):
    field: str
    code: str
    message: str


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str
    request_id: str | None = None
    # Left out when there are none, as in every problem the handlers send (`problem_response`),
    # never `null`: a batch item's problem reads as the same request's problem alone.
    errors: list[FieldProblem] | None = Field(default=None, exclude_if=lambda errors: not errors)


def problem_response(
    lang: str,
    *,
    status: int,
    code: str,
    title: Text,
    detail: Text,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {
        **(extra or {}),
        "type": TYPE_BASE + code,
        "title": title.pick(lang),
        "status": status,
        "detail": detail.pick(lang),
        "code": code,
        "request_id": request_id.get(),
    }
    if errors:
        body["errors"] = errors
    return Response(orjson.dumps(body), status, headers=headers, media_type=PROBLEM_JSON)


def render(error: AppError, lang: str) -> Response:
    return problem_response(
        lang,
        status=error.status,
        code=error.code,
        title=error.title,
        detail=error.detail,
        headers=error.headers,
        errors=picked(error.errors, lang),
        extra=error.extra,
    )


def picked(errors: list[dict[str, Any]] | None, lang: str) -> list[dict[str, Any]] | None:
    """Field errors with each `Text` message in the caller's language (a service that raises
    one does not know the language; the answer does)."""
    if not errors:
        return errors
    return [
        {k: v.pick(lang) if isinstance(v, Text) else v for k, v in error.items()}
        for error in errors
    ]


_FIELD_MESSAGES = {
    "missing": Text("is required", "là bắt buộc", field_more("missing")),
    "extra_forbidden": Text(
        "is not a known field", "không phải trường hợp lệ", field_more("extra_forbidden")
    ),
    "too_long": Text("is too long", "quá dài", field_more("too_long")),
    "too_short": Text("is too short", "quá ngắn", field_more("too_short")),
    "empty": Text("must not be empty", "không được để trống", field_more("empty")),
    "at_most_characters": Text(
        "must be at most {limit} characters",
        "không quá {limit} ký tự",
        field_more("at_most_characters"),
    ),
    "at_least_characters": Text(
        "must be at least {limit} characters",
        "phải có ít nhất {limit} ký tự",
        field_more("at_least_characters"),
    ),
    "at_most_items": Text(
        "must have at most {limit} items", "không quá {limit} mục", field_more("at_most_items")
    ),
    "at_least_items": Text(
        "must have at least {limit} items",
        "phải có ít nhất {limit} mục",
        field_more("at_least_items"),
    ),
    "at_least": Text(
        "must be at least {limit}", "phải lớn hơn hoặc bằng {limit}", field_more("at_least")
    ),
    "at_most": Text(
        "must be at most {limit}", "phải nhỏ hơn hoặc bằng {limit}", field_more("at_most")
    ),
    "more_than": Text("must be more than {limit}", "phải lớn hơn {limit}", field_more("more_than")),
    "less_than": Text("must be less than {limit}", "phải nhỏ hơn {limit}", field_more("less_than")),
    "whole_number": Text("must be a whole number", "phải là số nguyên", field_more("whole_number")),
    "number": Text("must be a number", "phải là số", field_more("number")),
    "true_false": Text(
        "must be true or false", "phải là true hoặc false", field_more("true_false")
    ),
    "text": Text("must be text", "phải là chuỗi ký tự", field_more("text")),
    "list": Text("must be a list", "phải là danh sách", field_more("list")),
    "object": Text("must be a JSON object", "phải là đối tượng JSON", field_more("object")),
    "choice": Text(
        "is not one of the allowed values", "không thuộc các giá trị cho phép", field_more("choice")
    ),
    "date": Text("must be a date (YYYY-MM-DD)", "phải là ngày (YYYY-MM-DD)", field_more("date")),
    "datetime": Text(
        "must be a date and time (ISO 8601)", "phải là ngày giờ (ISO 8601)", field_more("datetime")
    ),
    "zoned_datetime": Text(
        "must be a date and time with a time zone, an offset or Z (ISO 8601, e.g. "
        "2026-12-07T10:00:00+07:00)",
        "phải là ngày giờ có múi giờ, dạng +hh:mm hoặc Z (ISO 8601, ví dụ "
        "2026-12-07T10:00:00+07:00)",
        field_more("zoned_datetime"),
    ),
    "format": Text("is not in the expected format", "không đúng định dạng", field_more("format")),
}
# Pydantic's error types, by the message that tells a person what to send instead. A bound
# names its limit (ours, never the value sent).
_KINDS = {
    "string_too_long": ("at_most_characters", "max_length"),
    "string_too_short": ("at_least_characters", "min_length"),
    "too_long": ("at_most_items", "max_length"),
    "too_short": ("at_least_items", "min_length"),
    "greater_than_equal": ("at_least", "ge"),
    "less_than_equal": ("at_most", "le"),
    "greater_than": ("more_than", "gt"),
    "less_than": ("less_than", "lt"),
    **dict.fromkeys(("int_type", "int_parsing", "int_from_float"), ("whole_number", "")),
    **dict.fromkeys(("float_type", "float_parsing", "decimal_parsing"), ("number", "")),
    **dict.fromkeys(("bool_type", "bool_parsing"), ("true_false", "")),
    "string_type": ("text", ""),
    **dict.fromkeys(("list_type", "tuple_type", "set_type"), ("list", "")),
    **dict.fromkeys(("dict_type", "model_type", "model_attributes_type"), ("object", "")),
    **dict.fromkeys(("literal_error", "enum"), ("choice", "")),
    **dict.fromkeys(
        ("date_type", "date_parsing", "date_from_datetime_parsing", "date_from_datetime_inexact"),
        ("date", ""),
    ),
    **dict.fromkeys(
        ("datetime_type", "datetime_parsing", "datetime_from_date_parsing"), ("datetime", "")
    ),
    # `zoned_datetime` is ours (qr.schemas.Rfc3339), for every date-time taken as input.
    **dict.fromkeys(("zoned_datetime", "timezone_aware"), ("zoned_datetime", "")),
    "string_pattern_mismatch": ("format", ""),
}
# A length bound pydantic did not name (a bare `too_long`) still says which way it failed; a
# least of one is emptiness, said so rather than "at least 1 characters".
_UNBOUNDED = {
    "string_too_long": "too_long",
    "string_too_short": "too_short",
    "too_long": "too_long",
    "too_short": "too_short",
}
_AT_LEAST_SIZE = frozenset({"at_least_characters", "at_least_items"})
_DEFAULT_FIELD_MESSAGE = Text(
    "has an invalid value", "có giá trị không hợp lệ", field_more("invalid")
)


def field_errors(exc: RequestValidationError, lang: str) -> list[dict[str, Any]]:
    """Name each failing field; never echo the submitted value back."""
    out = []
    for error in exc.errors()[:50]:
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        # A check across fields (a model validator) names the field to fix in its context:
        # "body" tells the caller nothing.
        named = (error.get("ctx") or {}).get("field")
        if isinstance(named, str):
            location.append(named)
        kind = str(error.get("type", "invalid"))
        message = _message(kind, error.get("ctx") or {}, lang)
        ctx_reason = (error.get("ctx") or {}).get("reason")
        if kind == "value_error" and isinstance(ctx_reason, Text):
            message = ctx_reason.pick(lang)
        out.append({"field": ".".join(location) or "body", "code": kind, "message": message})
    return out


def _message(kind: str, ctx: dict[str, Any], lang: str) -> str:
    key, bound = _KINDS.get(kind, (kind, ""))
    limit = ctx.get(bound) if bound else None
    if bound and limit is None:
        key = _UNBOUNDED.get(kind, "")
    elif key in _AT_LEAST_SIZE and limit == 1:
        key = "empty"
    text = _FIELD_MESSAGES.get(key, _DEFAULT_FIELD_MESSAGE).pick(lang)
    return text if limit is None else text.replace("{limit}", str(limit))


def unreadable(request: Request) -> AppError:
    """Why a body could not be read as JSON: compressed (a phone's HTTP stack gzipping its
    upload), or not JSON at all."""
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        return UnsupportedContentEncoding()
    return MalformedBody()


# The error FastAPI (and web.lean, in step with it) gives a model when the body came as
# another media type: it is handed over as bytes, which no model accepts.
_BODY_AS_BYTES = frozenset({"model_attributes_type", "model_type"})


def _not_sent_as_json(request: Request, exc: RequestValidationError) -> bool:
    """A body whose Content-Type is not JSON: 415 rather than a field error on `body`."""
    if is_json(request.headers.get("content-type", "")):
        return False
    return any(
        tuple(e.get("loc", ())) == ("body",) and e.get("type") in _BODY_AS_BYTES
        for e in exc.errors()
    )


class AllowedMethods:
    """What `Allow` names on a 405: every method some route serves at the path, not only
    the first route whose template fit it (Starlette's), which named `POST` alone on
    `OPTIONS /v1/questions` although `GET` is served there too. `HEAD` is served wherever
    `GET` is (api.middleware.HeadAsGet). Built from the app's routes on the first 405:
    walking them all builds FastAPI's context of each, which no other request needs."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._table: list[tuple[re.Pattern[str], frozenset[str]]] | None = None

    def at(self, path: str) -> str:
        if self._table is None:
            self._table = [
                (compile_path(context.path)[0], frozenset(route.methods or ()))
                for context in iter_route_contexts(self._app.routes)
                if isinstance(route := context.original_route, Route) and context.path
            ]
        methods: set[str] = set()
        for pattern, served in self._table:
            if pattern.match(path):
                methods |= served
        if "GET" in methods:
            methods.add("HEAD")
        return ", ".join(sorted(methods))


def methods_taken(allow: str) -> Text:
    """A 405's `detail`: the methods the address takes, as its `Allow` names them
    ("This address takes GET, HEAD or POST.")."""
    methods = [m.strip() for m in allow.split(",") if m.strip()]

    def listed(last: str) -> str:
        if len(methods) == 1:
            return methods[0]
        return ", ".join(methods[:-1]) + f" {last} " + methods[-1]

    return Text(f"This address takes {listed('or')}.", f"Địa chỉ này chỉ nhận {listed('hoặc')}.")


def install(app: FastAPI) -> None:
    allowed = AllowedMethods(app)

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> Response:
        if isinstance(exc, MalformedBody):  # the lean routes' unreadable body
            exc = unreadable(request)
        return render(exc, request_language(request))

    @app.exception_handler(StorageDown)
    async def _storage_down(request: Request, exc: StorageDown) -> Response:
        log.error("storage unavailable", extra={"fields": {"error": type(exc).__name__}})
        return render(StorageUnavailable(), request_language(request))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        lang = request_language(request)
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return render(unreadable(request), lang)
        if _not_sent_as_json(request, exc):
            return render(UnsupportedMediaType(), lang)
        return render(ValidationFailed(errors=field_errors(exc, lang)), lang)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        lang = request_language(request)
        if exc.status_code == 400:  # FastAPI could not read the body (e.g. not UTF-8)
            return render(unreadable(request), lang)
        if exc.status_code == 404:
            return render(NotFound(), lang)
        if exc.status_code == 403:
            return render(Forbidden(), lang)
        if exc.status_code == 413:
            return render(PayloadTooLarge(), lang)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed.at(request.scope["path"]) or headers.get("Allow", "")
        title = Text("Request not accepted", "Yêu cầu không được chấp nhận")
        detail = title
        if exc.status_code == 405 and headers.get("Allow"):
            detail = methods_taken(headers["Allow"])
        return problem_response(
            lang,
            status=exc.status_code,
            code=f"http_{exc.status_code}",
            title=title,
            detail=detail,
            headers=headers,
        )

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error")
        text = Text("Something went wrong on our side", "Hệ thống gặp lỗi")
        # Sent by Starlette's outermost handler, past the edge's middlewares
        # (api.middleware.AnswerHeaders): the headers every answer carries are set here.
        return problem_response(
            request_language(request),
            status=500,
            code="internal",
            title=text,
            detail=text,
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )


def responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each possible problem, so the OpenAPI document shows them."""
    by_status: dict[int, list[str]] = {}
    for error in errors:
        by_status.setdefault(error.status, []).append(error.code)
    return {
        status: problem_answer(
            "Problem: " + ", ".join(sorted(codes)), retry_after=status in (429, 503)
        )
        for status, codes in by_status.items()
    }


def problem_answer(
    description: str, schema: type[BaseModel] = Problem, *, retry_after: bool = False
) -> dict[str, Any]:
    """One error answer for `responses=`: problem+json (the only type an error is sent as)
    with `schema` (Problem, or a problem extended with more members)."""
    answer: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{schema.__name__}"}}},
    }
    if schema is not Problem:
        answer["model"] = schema  # registers its schema; web.openapi keeps it under problem+json
    if retry_after:
        answer["headers"] = {"Retry-After": RETRY_AFTER}
    return answer


def error_catalogue() -> list[dict[str, Any]]:
    return [{"code": e.code, "status": e.status, "title": e.title.en} for e in all_error_types()]
