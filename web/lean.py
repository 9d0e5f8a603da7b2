"""Hot routes without FastAPI's generic request handling, derived from the endpoint.

FastAPI resolves an endpoint's parameters with a general dependency solver and parses a
body as `json.loads` followed by pydantic validation of Python objects. For most routes that
costs nothing worth noticing; for the two routes a surge is made of — a declaration and a
checkpoint scan — it was a quarter of each request's CPU (BENCHMARKS.md).

A route mounted with `LeanRoute` is served by a handler built from its endpoint's own
signature, once, when FastAPI builds the route: the endpoint stays the only entry point, and
a parameter added to it is read by the lean handler too. The kinds of parameter it reads:

* `Request`;
* the process context (`ContextDep`) and a signed-in caller (`Citizen`, `require(...)`);
* path parameters and headers, validated by pydantic against the parameter's own
  annotation and `Path(...)` / `Header(...)` constraints, as FastAPI validates them;
* one JSON body: a pydantic model, parsed from the bytes by pydantic in one pass.

A route with any other kind of parameter (a query, a cookie, `Response`, another
dependency, a route-level dependency) or a response option it does not reproduce is served
by FastAPI's own handler, as if it were a plain `APIRoute`, with a warning at start-up.
Errors keep FastAPI's order and rendering: a body that is not JSON answers 400 before
authentication is looked at, authentication 401/403 before field errors, field errors 422,
all as problem+json by `web.problems` (tests/api/test_lean_routes.py).
"""

from __future__ import annotations

import inspect
import logging
import typing
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import FastAPI, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from core.errors import MalformedBody
from core.principals import Principal, Role
from web.deps import authorise, context_of, get_context

log = logging.getLogger(__name__)

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
JSON = "application/json"


class LeanRoute(APIRoute):
    """An APIRoute served by a handler derived from its endpoint (see module doc); `lean`
    says whether it is, `not_lean` why not."""

    not_lean: str = ""
    derived: Handler | None = None  # the handler derived from the endpoint, when lean

    @property
    def lean(self) -> bool:
        return self.derived is not None

    def get_route_handler(self) -> Handler:
        try:
            handler = derive(self)
        except NotUnderstood as reason:
            if not self.not_lean:
                log.warning("%s served by FastAPI's own handler: %s", self.path, reason)
            self.derived, self.not_lean = None, str(reason)
            return super().get_route_handler()
        self.derived, self.not_lean = handler, ""
        return handler


class DirectRoute(Route):
    """A lean route's path served straight from the app's own route list."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # FastAPI's router names the matched route in the scope only for its own routes;
        # the metrics (api/middleware.py) label a request by it, and without it the two
        # hottest routes were counted as "unmatched".
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def serve_directly(app: FastAPI, hot: Sequence[BaseRoute]) -> int:
    """Put each lean route of `hot` (the entries of the app's route list that the hot
    routers' inclusions added) first in the app's own route list as a plain Starlette
    `Route` that calls its derived handler: a request for it is then matched at the app's
    first try and served without FastAPI's nested routing (the included router, its route,
    the request/response wrapper with its exit stack), which was ≈ 9 % of a declaration's
    CPU. The FastAPI route stays where it was, for the OpenAPI document (which reads FastAPI
    routes only) and for any method the direct route does not take. Returns how many.

    Only `hot` is walked: walking every route builds FastAPI's context of each, a fifth of
    a second per app (a thousand apps in the tests); FastAPI builds the rest when first
    routed to. tests/api/test_lean_routes.py holds every lean route to the hot routers."""
    direct: list[BaseRoute] = []
    for context in iter_route_contexts(hot):
        route = context.original_route
        if isinstance(route, LeanRoute) and route.derived is not None and context.path:
            methods = sorted(route.methods or ())
            direct.append(
                DirectRoute(context.path, route.derived, methods=methods, name=route.name)
            )
    app.router.routes[0:0] = direct
    return len(direct)


def check_inclusions(routes: Sequence[BaseRoute]) -> None:
    """Stop start-up where a lean route was included with dependencies of the inclusion
    (`include_router(..., dependencies=...)`): its handler, derived from the route itself,
    would not run them."""
    for context in iter_route_contexts(routes):
        route = context.original_route
        included = list(getattr(context, "dependencies", None) or [])
        if isinstance(route, LeanRoute) and route.lean and included != route.dependencies:
            raise RuntimeError(f"{route.path}: a lean route included with dependencies")


class NotUnderstood(Exception):
    """A parameter or option of the route that the lean handler does not reproduce."""


# -- reading one request ------------------------------------------------------------------


class Arguments:
    """One request's parameters, read and validated by hand. Field errors are collected, as
    FastAPI collects them (parameters first, then the body), and raised together (422) once
    every parameter is read — after authentication, so a stranger learns nothing from them."""

    __slots__ = ("body", "body_errors", "errors", "request")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.errors: list[dict[str, Any]] = []
        self.body_errors: list[dict[str, Any]] = []
        self.body: BaseModel | None = None

    def validated(self, where: str, name: str, adapter: TypeAdapter[Any], raw: Any) -> Any:
        try:
            return adapter.validate_python(raw)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        self.errors.extend({**e, "loc": (where, name, *e["loc"])} for e in errors)
        return None

    def missing(self, where: str, name: str) -> None:
        self.errors.append({"type": "missing", "loc": (where, name), "msg": "Field required"})

    async def read_body(self, model: type[BaseModel]) -> None:
        """The body as `model`, read the way FastAPI reads a required JSON body, except that
        pydantic parses the bytes itself instead of validating what `json.loads` built."""
        raw = await self.request.body()
        if not raw:
            self.body_errors.append({"type": "missing", "loc": ("body",), "msg": "Field required"})
            return
        if not is_json(self.request.headers.get("content-type", "")):
            # FastAPI hands a body of another type to validation as bytes: a field error.
            self.body_errors.append({"type": "model_attributes_type", "loc": ("body",), "msg": ""})
            return
        try:
            self.body = model.model_validate_json(raw)
            return
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise MalformedBody()  # FastAPI: before anything else, authentication included
        self.body_errors.extend(_as_fastapi_names(e) for e in errors)

    def check(self) -> None:
        """422 with every field error, once all parameters are read."""
        if self.errors or self.body_errors:
            raise RequestValidationError(self.errors + self.body_errors)


# -- deriving the handler from the endpoint -----------------------------------------------


Reader = Callable[[Request, Arguments], Any]  # a value, or an awaitable of one if `awaits`


@dataclass(frozen=True)
class _Param:
    name: str
    read: Reader
    awaits: bool = False


def derive(route: APIRoute) -> Handler:
    """The lean handler of `route`, or NotUnderstood."""
    endpoint = route.endpoint
    if not inspect.iscoroutinefunction(endpoint):
        raise NotUnderstood("the endpoint is not `async def`")
    if route.dependencies:
        raise NotUnderstood("route-level dependencies")
    hints = typing.get_type_hints(endpoint, include_extras=True)
    body_model: type[BaseModel] | None = None
    reads: list[_Param] = []
    for parameter in inspect.signature(endpoint).parameters.values():
        hint = hints.get(parameter.name, parameter.annotation)
        if isinstance(parameter.default, params.Param | params.Depends | params.Body):
            raise NotUnderstood(f"`{parameter.name}`: a marker as default value")
        base, markers = _split(hint)
        if inspect.isclass(base) and issubclass(base, BaseModel) and not markers:
            if body_model is not None:
                raise NotUnderstood("more than one body parameter")
            body_model = base
            reads.append(_Param(parameter.name, lambda request, args: args.body))
        else:
            reads.append(_reader(route, parameter, base, markers))
    respond = _responder(route)
    model = body_model

    async def handle(request: Request) -> Response:
        arguments = Arguments(request)
        # The body first: FastAPI reads it (and answers 400 to bytes that are not JSON)
        # before it solves any dependency.
        if model is not None:
            await arguments.read_body(model)
        kwargs = {}
        for param in reads:  # in the signature's order, as FastAPI solves dependencies
            value = param.read(request, arguments)
            kwargs[param.name] = await value if param.awaits else value
        arguments.check()
        return respond(await endpoint(**kwargs))

    # Named as the endpoint: what a route reached, a traceback or a profile says.
    handle.__name__, handle.__qualname__ = endpoint.__name__, endpoint.__qualname__
    return handle


def _split(hint: Any) -> tuple[Any, list[Any]]:
    """`Annotated[base, *markers]` as (base, markers); any other hint as (hint, [])."""
    if typing.get_origin(hint) is Annotated:
        base, *markers = typing.get_args(hint)
        return base, list(markers)
    return hint, []


def _reader(route: APIRoute, parameter: inspect.Parameter, base: Any, markers: list[Any]) -> _Param:
    name = parameter.name
    if base is Request and not markers:
        return _Param(name, lambda request, arguments: request)
    if len(markers) != 1:
        raise NotUnderstood(f"`{name}`: not a parameter kind the lean handler reads")
    marker = markers[0]
    if isinstance(marker, params.Depends):
        dependency = marker.dependency
        if dependency is get_context:
            return _Param(name, lambda request, arguments: context_of(request))
        roles = getattr(dependency, "roles", None)
        if roles is not None:  # web.deps.require(*roles)
            return _Param(name, lambda request, arguments: signed_in(request, *roles), True)
        raise NotUnderstood(f"`{name}`: a dependency other than the context or the caller")
    if isinstance(marker, params.Path) and name in route.param_convertors:
        adapter: TypeAdapter[Any] = TypeAdapter(Annotated[base, marker])
        return _Param(
            name,
            lambda request, arguments: arguments.validated(
                "path", name, adapter, request.path_params[name]
            ),
        )
    if isinstance(marker, params.Header) and not _is_sequence(base):
        alias = marker.alias or (name.replace("_", "-") if marker.convert_underscores else name)
        adapter = TypeAdapter(Annotated[base, marker])
        required = parameter.default is inspect.Parameter.empty
        default = None if required else parameter.default
        key = alias.lower()

        def header(request: Request, arguments: Arguments) -> Any:
            raw = request.headers.get(key)
            if raw is None:
                if required:
                    arguments.missing("header", alias)
                return default
            return arguments.validated("header", alias, adapter, raw)

        return _Param(name, header)
    raise NotUnderstood(f"`{name}`: not a parameter kind the lean handler reads")


def _responder(route: APIRoute) -> Callable[[Any], Response]:
    """What FastAPI sends for the endpoint's return value, for the options reproduced."""
    model = route.response_model
    if (
        route.response_model_include is not None
        or route.response_model_exclude is not None
        or not route.response_model_by_alias
        or route.response_model_exclude_unset
        or route.response_model_exclude_defaults
        or route.response_model_exclude_none
    ):
        raise NotUnderstood("response_model options")
    status_code = route.status_code or 200
    adapter = model if inspect.isclass(model) and issubclass(model, BaseModel) else None

    def respond(result: Any) -> Response:
        if isinstance(result, Response):
            return result
        if adapter is None:
            raise TypeError(f"{route.path}: a lean endpoint returns a Response or its model")
        validated = result if type(result) is adapter else adapter.model_validate(result)
        return Response(validated.model_dump_json(by_alias=True), status_code, media_type=JSON)

    return respond


async def signed_in(request: Request, *roles: Role) -> Principal:
    """What the `web.deps.require(*roles)` dependency answers, without the solver."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return await authorise(context_of(request), scheme, token.strip(), roles)


def _is_sequence(base: Any) -> bool:
    return typing.get_origin(base) in (list, tuple, set, frozenset)


def _as_fastapi_names(error: Any) -> dict[str, Any]:
    """A pydantic error on parsed JSON, named as FastAPI names it: under `body`, and a value
    that is not an object where one is expected is `model_attributes_type` (FastAPI
    validates with `from_attributes`)."""
    kind = "model_attributes_type" if error["type"] == "model_type" else error["type"]
    return {**error, "type": kind, "loc": ("body", *error["loc"])}


def is_json(content_type: str) -> bool:
    """`application/json` or `application/<anything>+json`, parameters ignored."""
    media = content_type.split(";", 1)[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))
