"""Hot routes without FastAPI's generic request handling.

FastAPI resolves an endpoint's parameters with a general dependency solver and parses a
body as `json.loads` followed by pydantic validation of Python objects. For most routes that
costs nothing worth noticing; for the two routes a surge is made of — a declaration and a
checkpoint scan — it was a quarter of each request's CPU (BENCHMARKS.md).

A `LeanRoute` keeps the endpoint exactly as written: its signature still declares the
contract (OpenAPI, `response_model`, documented errors) and its body is still the only
implementation. What changes is who calls it: an explicit *resolver*, attached with
`@resolved_by(...)`, reads the request with the helpers below and calls the endpoint with
the arguments FastAPI would have passed. Errors keep FastAPI's order and rendering: a body
that is not JSON answers 400 before authentication is looked at, authentication 401/403
before field errors, field errors 422, all as problem+json by `web.problems`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from core.errors import MalformedBody
from core.principals import Principal, Role
from web.deps import authorise, context_of

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
E = TypeVar("E", bound=Callable[..., Awaitable[Any]])
Resolver = Callable[[Request], Coroutine[Any, Any, Response]]
JSON = "application/json"


class LeanRoute(APIRoute):
    """An APIRoute served by its endpoint's resolver when it has one (see module doc)."""

    def get_route_handler(self) -> Resolver:
        resolver: Resolver | None = getattr(self.endpoint, "lean_resolver", None)
        return resolver if resolver is not None else super().get_route_handler()


def resolved_by(resolver: Resolver) -> Callable[[E], E]:
    """Mark an endpoint as served by `resolver` when mounted with `LeanRoute`."""

    def mark(endpoint: E) -> E:
        endpoint.lean_resolver = resolver  # type: ignore[attr-defined]
        return endpoint

    return mark


async def signed_in(request: Request, *roles: Role) -> Principal:
    """What the `web.deps.require(*roles)` dependency answers, without the solver."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return await authorise(context_of(request), scheme, token.strip(), roles)


class Arguments:
    """An endpoint's path parameters and body, read and validated by hand. Field errors are
    collected, as FastAPI collects them, and raised together (422) by the first `value()`
    — which a resolver calls after authentication, so a stranger learns nothing from them."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.errors: list[dict[str, Any]] = []

    def path(self, name: str, pattern: re.Pattern[str]) -> Parsed[str]:
        value = str(self.request.path_params[name])
        if pattern.fullmatch(value):
            return Parsed(self, value)
        self.errors.append({"type": "string_pattern_mismatch", "loc": ("path", name), "msg": ""})
        return Parsed(self, None)

    async def body(self, model: type[M], context: dict[str, Any] | None = None) -> Parsed[M]:
        """The body as `model`, read the way FastAPI reads a required JSON body, except that
        pydantic parses the bytes itself instead of validating what `json.loads` built."""
        raw = await self.request.body()
        if not raw:
            self.errors.append({"type": "missing", "loc": ("body",), "msg": "Field required"})
            return Parsed(self, None)
        if not _is_json(self.request.headers.get("content-type", "")):
            # FastAPI hands a body of another type to validation as bytes: a field error.
            self.errors.append({"type": "model_attributes_type", "loc": ("body",), "msg": ""})
            return Parsed(self, None)
        try:
            return Parsed(self, model.model_validate_json(raw, context=context))
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise MalformedBody()  # FastAPI: before anything else, authentication included
        self.errors.extend(_as_fastapi_names(e) for e in errors)
        return Parsed(self, None)


class Parsed(Generic[T]):
    def __init__(self, arguments: Arguments, value: T | None) -> None:
        self._arguments = arguments
        self._value = value

    def value(self) -> T:
        if self._arguments.errors or self._value is None:
            raise RequestValidationError(self._arguments.errors)
        return self._value


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """What FastAPI sends for a `response_model` endpoint's return value."""
    return Response(model.model_dump_json(by_alias=True), status_code, media_type=JSON)


def _as_fastapi_names(error: Any) -> dict[str, Any]:
    """A pydantic error on parsed JSON, named as FastAPI names it: under `body`, and a value
    that is not an object where one is expected is `model_attributes_type` (FastAPI
    validates with `from_attributes`)."""
    kind = "model_attributes_type" if error["type"] == "model_type" else error["type"]
    return {**error, "type": kind, "loc": ("body", *error["loc"])}


def _is_json(content_type: str) -> bool:
    """`application/json` or `application/<anything>+json`, parameters ignored."""
    media = content_type.split(";", 1)[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))
