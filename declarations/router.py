"""Declaration endpoints: declare (one, or a phone's offline queue), read back, people."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, FastAPI, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.convertors import StringConvertor, register_url_convertor

from accounts.sessions import AccountErased
from core.errors import (
    AppError,
    Forbidden,
    IdempotencyKeyReused,
    MalformedBody,
    NotFound,
    PayloadTooLarge,
    StorageUnavailable,
    Unauthenticated,
    ValidationFailed,
)
from core.idempotency import IDEMPOTENCY_KEY_LENGTH, IDEMPOTENCY_KEY_PATTERN, IDEMPOTENCY_KEY_RULE
from core.logging import request_id
from declarations import batch, service, views
from declarations.errors import (
    DeclarationContended,
    IdempotencyKeyInvalid,
    IdempotencyKeyMissing,
    PersonBeingErased,
    SecondAccountHolder,
    TooManyPeople,
)
from declarations.rules import rules_for
from declarations.schemas import (
    BatchIn,
    BatchItemResult,
    BatchOut,
    DeclarationDetail,
    DeclarationIn,
    DeclarationList,
    DeclarationOut,
    PeopleList,
)
from web.deps import Citizen, ContextDep, request_language
from web.lean import LeanRoute
from web.openapi import answered, required_header
from web.problems import TYPE_BASE, FieldProblem, Problem, field_errors, picked, responses


class _DeclarationId(StringConvertor):
    """A path segment that is not `batch`: `GET /v1/declarations/batch` would otherwise
    reach `GET /v1/declarations/{declaration_id}` (401, or 404 for an id "batch") instead
    of answering `405 Allow: POST` like every other POST-only route."""

    regex = "(?!batch(?:/|$))[^/]+"


register_url_convertor("declaration_id", _DeclarationId())

# As api.app.BODY_LIMITS lets through at the edge: 50 queued forms fit with room to spare.
BATCH_MAX_BODY_BYTES = 1024 * 1024


@asynccontextmanager
async def _check_rules(app: FastAPI) -> AsyncIterator[None]:
    """A broken rules file stops start-up (RulesError names the rule), not the first request."""
    rules_for(app.state.context)
    yield


router = APIRouter(prefix="/v1", tags=["declarations"], lifespan=_check_rules)
# The route of every surge, on a router of its own that the app includes before all others
# (FastAPI tries routes in order: api/domains.py, HOT_ROUTERS), served by a handler derived
# from the endpoint that skips FastAPI's dependency solver (web/lean.py).
hot_router = APIRouter(prefix="/v1", tags=["declarations"], route_class=LeanRoute)
_SIGNED_IN = (Unauthenticated, Forbidden)
_DECLARING = (
    *_SIGNED_IN,
    AccountErased,  # a token that outlived `DELETE /v1/me`, declaring a new person
    ValidationFailed,
    MalformedBody,
    PayloadTooLarge,
    IdempotencyKeyMissing,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    DeclarationContended,
    TooManyPeople,
    SecondAccountHolder,  # `self` with another identity number than the holder's
    PersonBeingErased,  # `DELETE /v1/people/{id}` interrupted; asking again finishes it
    StorageUnavailable,
)
# Read as optional so the service answers its own problem (400 idempotency_key_missing or
# _invalid, not a generic 422); the document declares it required, with its shape.
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", include_in_schema=False)]
IDEMPOTENCY_KEY_HEADER = required_header(
    "Idempotency-Key",
    pattern=IDEMPOTENCY_KEY_PATTERN,
    max_length=IDEMPOTENCY_KEY_LENGTH[1],
    description="{min}-{max} characters of {characters}".format(**IDEMPOTENCY_KEY_RULE)
    + " — one per declaration; a retry with the same key and body returns the first answer "
    "(with `Idempotent-Replayed: true`).",
)


@hot_router.post(
    "/declarations",
    status_code=201,
    summary="Declare health for yourself or a dependant",
    response_model=DeclarationOut,
    responses={
        **answered(201, "Declared", "Location", "Idempotent-Replayed"),
        **responses(*_DECLARING),
    },
    openapi_extra=IDEMPOTENCY_KEY_HEADER,
)
async def declare(
    body: DeclarationIn,
    ctx: ContextDep,
    citizen: Citizen,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    result = await service.submit_declaration(
        ctx, citizen, body, idempotency_key or "", lang=request_language(request)
    )
    headers = {"Location": f"/v1/declarations/{result.declaration.id}"}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(result.body, result.status_code, headers, media_type="application/json")


@router.post(
    "/declarations/batch",
    summary="Send declarations queued offline; each item answered on its own",
    response_model=BatchOut,
    responses=responses(*_SIGNED_IN, ValidationFailed, MalformedBody, PayloadTooLarge),
    max_body_size=BATCH_MAX_BODY_BYTES,
)
async def declare_batch(
    body: BatchIn, ctx: ContextDep, citizen: Citizen, request: Request
) -> BatchOut:
    lang = request_language(request)
    outcomes = await batch.submit_batch(ctx, citizen, body.items, lang=lang)
    return BatchOut(
        results=[
            _result(index, item.idempotency_key, outcome, lang)
            for index, (item, outcome) in enumerate(zip(body.items, outcomes, strict=True))
        ]
    )


@router.get(
    "/declarations/{declaration_id:declaration_id}",
    summary="One of your declarations",
    response_model=DeclarationDetail,
    responses=responses(*_SIGNED_IN, NotFound),
)
async def get_declaration(
    declaration_id: Annotated[str, Path(max_length=64)],
    ctx: ContextDep,
    citizen: Citizen,
    request: Request,
) -> DeclarationDetail:
    lang = request_language(request)
    return await views.get_declaration(ctx, citizen, declaration_id, lang=lang)


@router.get(
    "/declarations",
    summary="Your declarations, most recent first, optionally for one person",
    response_model=DeclarationList,
    responses=responses(*_SIGNED_IN, ValidationFailed, NotFound),
)
async def list_declarations(
    ctx: ContextDep,
    citizen: Citizen,
    request: Request,
    person_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> DeclarationList:
    lang = request_language(request)
    return await views.list_declarations(ctx, citizen, person_id=person_id, limit=limit, lang=lang)


@router.get(
    "/people",
    summary="The people this account declares for, with their current status",
    response_model=PeopleList,
    responses=responses(*_SIGNED_IN),
)
async def list_people(ctx: ContextDep, citizen: Citizen, request: Request) -> PeopleList:
    return await views.list_people(ctx, citizen, lang=request_language(request))


def _result(index: int, key: str, outcome: batch.BatchOutcome, lang: str) -> BatchItemResult:
    """One item's answer: what the single endpoint would have sent for it."""
    # As sent, also when refused as invalid: the phone's own string for its own queue item
    # (at most 128 characters, by BatchItemIn), answered only to it and written nowhere.
    shown_key = key
    if isinstance(outcome, service.SubmitResult):
        return BatchItemResult(
            index=index,
            idempotency_key=shown_key,
            status_code=outcome.status_code,
            replayed=outcome.replayed,
            declaration=outcome.declaration,
        )
    error = outcome if isinstance(outcome, AppError) else _invalid(outcome, lang)
    problem = Problem(
        type=TYPE_BASE + error.code,
        title=error.title.pick(lang),
        status=error.status,
        detail=error.detail.pick(lang),
        code=error.code,
        request_id=request_id.get(),
        errors=[FieldProblem.model_validate(e) for e in picked(error.errors, lang) or []] or None,
    )
    return BatchItemResult(
        index=index, idempotency_key=shown_key, status_code=error.status, error=problem
    )


def _invalid(exc: ValidationError, lang: str) -> ValidationFailed:
    return ValidationFailed(errors=field_errors(RequestValidationError(exc.errors()), lang))
