"""The OpenAPI document the mobile and scanner teams generate their clients from.

Routes declare what they can: `web.problems.responses()` for their problems, `headers()`
below for the response headers they send, `required_header()` for a header the service
itself insists on. What holds for every operation is applied here, once, by rule, so a
route that lands tomorrow gets it too:

* `operation_id(route)`: a stable, readable id from the method and path (`declarations_create`,
  `people_qr_get`), or the name in `OPERATION_IDS` where the rule reads badly;
* `finish(document)`: every error answer is `application/problem+json` with the `Problem`
  schema (or the route's own extension of it), 429 and 503 name `Retry-After`, an operation
  without a security requirement says so (`security: []`), an operation's tags are unique.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, GetJsonSchemaHandler
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import CoreSchema

from web.problems import PROBLEM_JSON, RETRY_AFTER, FieldProblem, Problem

SCHEMAS = "#/components/schemas/"
PROBLEM_REF = {"$ref": SCHEMAS + "Problem"}

# Where the rule below reads badly: (method, path) → id. Keep ids once published: a generated
# client's function names are these.
OPERATION_IDS: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "health_live",
    ("GET", "/readyz"): "health_ready",
    ("GET", "/metrics"): "metrics_get",
    ("POST", "/v1/auth/otp"): "auth_otp_request",
    ("POST", "/v1/auth/token"): "auth_token_create",
    ("POST", "/v1/auth/refresh"): "auth_token_refresh",
    ("GET", "/v1/rules"): "rules_get",
    ("GET", "/.well-known/jwks.json"): "jwks_get",
    ("GET", "/dashboard"): "dashboard_page",
    ("GET", "/map"): "public_map_page",
    ("GET", "/hoi-dap"): "faq_page",
    ("GET", "/v1/entry/form"): "entry_form_get",
    ("GET", "/v1/reports/declarations"): "reports_declarations_get",
    ("GET", "/v1/reports/checkpoints"): "reports_checkpoints_get",
    ("GET", "/v1/reports/questions"): "reports_questions_get",
    ("GET", "/v1/reports/arrivals"): "reports_arrivals_get",
    ("GET", "/v1/reports/monitoring"): "reports_monitoring_get",
    ("GET", "/v1/me/export"): "me_export_get",
    ("GET", "/v1/me/access-log"): "me_access_log_get",
    ("POST", "/v1/questions/{question_id}/answer"): "questions_answer",
    ("POST", "/v1/questions/{question_id}/duplicate"): "questions_mark_duplicate",
    ("POST", "/v1/questions/{question_id}/reject"): "questions_reject",
    ("GET", "/v1/questions/mine"): "questions_mine_list",
    ("POST", "/v1/monitoring/{episode_id}/close"): "monitoring_close",
    ("GET", "/v1/people/{person_id}/monitoring"): "people_monitoring_list",
}
_VERBS = {"POST": "create", "PUT": "replace", "PATCH": "update", "DELETE": "delete"}
_NOT_A_WORD = re.compile(r"[^a-z0-9]+")
OPERATION_ID = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def operation_id(route: APIRoute) -> str:
    """`<the path's words>_<verb>`: the literal segments of the path (`/v1` left out) and
    the method — GET of a path that names one thing (it has a path parameter) `get`, of a
    collection `list`; POST `create`; DELETE `delete`."""
    method = sorted(route.methods or {"GET"})[0]
    named = OPERATION_IDS.get((method, route.path_format))
    if named is not None:
        return named
    words = [
        _NOT_A_WORD.sub("_", segment.lower()).strip("_")
        for segment in route.path_format.split("/")
        if segment and segment != "v1" and not segment.startswith("{")
    ]
    if method == "GET":
        verb = "get" if "{" in route.path_format else "list"
    else:
        verb = _VERBS.get(method, method.lower())
    return "_".join([*filter(None, words), verb])


# -- schemas ----------------------------------------------------------------------------------


def reference(handler: GetJsonSchemaHandler, model: type[BaseModel]) -> JsonSchemaValue:
    """A `$ref` to `model`'s schema (added to the document's components), for a
    `__get_pydantic_json_schema__` that documents a value as that model. (Calling `handler`
    itself would inline the model's schema: a generated client would get an anonymous copy.)"""
    generator: GenerateJsonSchema = getattr(handler, "generate_json_schema")  # noqa: B009
    return generator.generate_inner(model.__pydantic_core_schema__)


@dataclass(frozen=True)
class ShownAs:
    """`Annotated[T, ShownAs(Model)]`: read as T, documented as a reference to `Model`."""

    model: type[BaseModel]

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return reference(handler, self.model)


# -- response headers -------------------------------------------------------------------------

HEADERS: dict[str, dict[str, Any]] = {
    "Retry-After": RETRY_AFTER,
    "Idempotent-Replayed": {
        "description": "`true` when this is the answer to an earlier request with the same "
        "Idempotency-Key, sent again (nothing new was stored)",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "ETag": {
        "description": "Names this version of the answer; send it back as If-None-Match",
        "schema": {"type": "string"},
    },
    "Cache-Control": {
        "description": "How long (and whether) the answer may be kept",
        "schema": {"type": "string"},
    },
    "Vary": {
        "description": "The request headers the answer depends on (`Accept-Encoding`, and "
        "`Accept-Language` when the language was negotiated); a 304 repeats it",
        "schema": {"type": "string"},
    },
    "Location": {"description": "The created resource", "schema": {"type": "string"}},
}


def headers(*names: str) -> dict[str, Any]:
    """A response's `headers` object for the OpenAPI document."""
    return {name: HEADERS[name] for name in names}


# The 304 of a cacheable route (`web.caching`): the same validators as its 200, no body.
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {
        "description": "Not modified: the `If-None-Match` tag is still current",
        "headers": headers("ETag", "Cache-Control", "Vary"),
    }
}


def answered(status: int, description: str, *names: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a success answer that sends these headers (its body: the route's
    response_model)."""
    return {status: {"description": description, "headers": headers(*names)}}


def required_header(
    name: str, *, pattern: str, max_length: int, description: str
) -> dict[str, Any]:
    """`openapi_extra=` for a header the service requires and checks itself (so the route
    reads it as optional, to answer its own problem, and hides that parameter from the
    document: `Header(include_in_schema=False)`)."""
    return {
        "parameters": [
            {
                "name": name,
                "in": "header",
                "required": True,
                "description": description,
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": max_length,
                    "pattern": pattern,
                },
            }
        ]
    }


# -- the whole document -------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Serve `finish(...)` of FastAPI's document as `/openapi.json`, built once."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finish(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    openapi_version=app.openapi_version,
                    summary=app.summary,
                    description=app.description,
                    routes=app.routes,
                    tags=app.openapi_tags,
                    servers=app.servers,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def finish(document: dict[str, Any]) -> dict[str, Any]:
    """The rules every operation follows (module doc)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in (Problem, FieldProblem):
        schema = model.model_json_schema(ref_template=SCHEMAS + "{model}")
        schema.pop("$defs", None)
        schemas.setdefault(model.__name__, schema)
    for operation in _operations(document):
        operation["tags"] = list(dict.fromkeys(operation.get("tags", [])))
        operation.setdefault("security", [])
        for status, response in operation.get("responses", {}).items():
            if status[:1] in ("4", "5"):
                _as_problem(response)
            elif len(response.get("content") or {}) > 1:
                _binary_first(response)
            if status in ("429", "503"):
                response.setdefault("headers", {}).setdefault("Retry-After", HEADERS["Retry-After"])
    _drop_unused(document, ("HTTPValidationError", "ValidationError"))
    return document


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        operation
        for item in document.get("paths", {}).values()
        for method, operation in item.items()
        if method in ("get", "put", "post", "delete", "patch", "head", "options")
    ]


def _as_problem(response: dict[str, Any]) -> None:
    """An error answer as the server sends it: problem+json only, with the route's own
    problem schema (an extension of Problem) where it declared one, else Problem."""
    content = response.get("content") or {}
    refs = [
        media["schema"]["$ref"]
        for media in content.values()
        if isinstance(media, dict) and "$ref" in media.get("schema", {})
    ]
    own = next(({"$ref": ref} for ref in refs if ref != PROBLEM_REF["$ref"]), None)
    response["content"] = {PROBLEM_JSON: {"schema": own or dict(PROBLEM_REF)}}


def _binary_first(response: dict[str, Any]) -> None:
    """An answer that is JSON or an image (a QR code) lists the binary type first: generators
    that keep one type per answer (openapi-python-client) then hand back bytes for both,
    where JSON first made them decode a PNG as JSON text and crash."""
    content = response["content"]
    binary = [t for t, m in content.items() if m.get("schema", {}).get("format") == "binary"]
    response["content"] = {
        t: content[t] for t in [*binary, *(t for t in content if t not in binary)]
    }


def _drop_unused(document: dict[str, Any], names: tuple[str, ...]) -> None:
    schemas = document["components"]["schemas"]
    for name in names:
        if name in schemas and not _refers_to(document, SCHEMAS + name, skip=name):
            del schemas[name]


def _refers_to(node: Any, ref: str, *, skip: str) -> bool:
    if isinstance(node, dict):
        return any(
            (key == "$ref" and value == ref) or (key != skip and _refers_to(value, ref, skip=skip))
            for key, value in node.items()
        )
    if isinstance(node, list):
        return any(_refers_to(value, ref, skip=skip) for value in node)
    return False
