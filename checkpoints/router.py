"""Checkpoint endpoints: venues, staff scans, citizen check-ins and confirmed cases."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from checkpoints import checkins, service, tracing
from checkpoints.case_record import ChooseRecord
from checkpoints.checkins import CheckinContended, InvalidVenueToken
from checkpoints.schemas import (
    CaseRequest,
    CheckinRequest,
    CreatedCase,
    CreatedCheckpoint,
    NewCheckpoint,
    RecordChoice,
    ScanRequest,
    ScanResult,
    VenueCode,
    Visit,
)
from checkpoints.tracing import CaseContended
from core.errors import (
    Forbidden,
    IdempotencyKeyReused,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from core.principals import Principal
from qr import caching
from qr.router import IMAGE_RESPONSES
from qr.schemas import ResourceId
from web.deps import (
    Admin,
    CheckpointStaff,
    Citizen,
    ContextDep,
    HealthOfficer,
    optional_key,
    request_language,
    require,
)
from web.lean import LeanRoute
from web.openapi import answered
from web.problems import problem_answer, responses

router = APIRouter(tags=["checkpoints"])
# A clerk's queue waits on scans: their route is on a router the app includes before all
# but the declaration's (api/domains.py, HOT_ROUTERS), served by a handler derived from the
# endpoint that skips FastAPI's dependency solver (web/lean.py).
hot_router = APIRouter(tags=["checkpoints"], route_class=LeanRoute)
_AUTH = (Unauthenticated, Forbidden)
REPLAYED = {"Idempotent-Replayed": "true"}


@router.post(
    "/v1/checkpoints",
    status_code=201,
    summary="Register a checkpoint (venue) and get its signed poster code",
    response_model=CreatedCheckpoint,
    responses={
        **answered(201, "Registered", "Idempotent-Replayed"),
        **responses(*_AUTH, ValidationFailed, IdempotencyKeyReused),
    },
)
async def create_checkpoint(
    body: NewCheckpoint,
    ctx: ContextDep,
    admin: Admin,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        optional_key(
            "Optional, the admin's own, one per venue registered: a retry with the same "
            "key and body gets the first answer (the same `id` and poster, with "
            "`Idempotent-Replayed: true`), registering nothing again; another body is 409 "
            "`idempotency_key_reused`"
        ),
    ] = None,
) -> CreatedCheckpoint:
    registered = await service.create_checkpoint(ctx, admin, body, idempotency_key=idempotency_key)
    if registered.replayed:
        response.headers.update(REPLAYED)
    return registered.checkpoint


@router.get(
    "/v1/checkpoints/{checkpoint_id}/qr",
    summary="The venue poster: QR image (PNG or SVG) or its code as JSON",
    response_model=VenueCode,
    responses={**IMAGE_RESPONSES, **responses(*_AUTH, NotFound, ValidationFailed)},
)
async def venue_qr(
    checkpoint_id: ResourceId,
    ctx: ContextDep,
    caller: Annotated[Principal, Depends(require("admin", "checkpoint_staff"))],
    request: Request,
    format: caching.CodeFormat = "png",
) -> Response:
    poster = await service.venue_poster(ctx, caller, checkpoint_id)
    return await caching.code_response(
        request,
        jti=poster.jti,
        text=poster.token,
        as_json=VenueCode(venue_token=poster.token, expires_at=poster.expires_at),
        image_format=format,
        cache_control="private, max-age=3600",
    )


@hot_router.post(
    "/v1/checkpoints/{checkpoint_id}/scans",
    summary="Check a personal QR code at this checkpoint: allow or deny, with a short reason",
    response_model=ScanResult,
    responses={
        **answered(200, "Allow or deny", "Idempotent-Replayed"),
        **responses(*_AUTH, NotFound, ValidationFailed, IdempotencyKeyReused),
    },
)
async def scan(
    checkpoint_id: ResourceId,
    body: ScanRequest,
    ctx: ContextDep,
    staff: CheckpointStaff,
    request: Request,
    idempotency_key: Annotated[
        str | None,
        optional_key(
            "Optional, the staff member's own, per checkpoint: a retry with the "
            "same key and body gets the first answer (with `Idempotent-Replayed: true`), "
            "recording and counting nothing more; another body is 409 `idempotency_key_reused`"
        ),
    ] = None,
) -> ScanResult | Response:
    lang = request_language(request)
    scanned = await service.scan(
        ctx, staff, checkpoint_id, body, lang=lang, idempotency_key=idempotency_key
    )
    if scanned.replayed:
        # A Response of its own for the header: the lean handler takes no `Response`.
        replayed = scanned.result.model_dump_json()
        return Response(replayed, headers=REPLAYED, media_type="application/json")
    return scanned.result


@router.post(
    "/v1/checkins",
    status_code=201,
    summary="Check in at a venue by its poster code (again within the stay window: extended)",
    description=(
        "`201` for a new visit and for an earlier one within the stay window, extended "
        "(`extended: true`, the same `id`): the contract fixes `201`, and apps written "
        "against it test for it."
    ),
    response_model=Visit,
    responses=responses(*_AUTH, NotFound, InvalidVenueToken, ValidationFailed, CheckinContended),
)
async def check_in(
    body: CheckinRequest, ctx: ContextDep, citizen: Citizen, request: Request
) -> Visit:
    return await checkins.check_in(
        ctx, citizen, body.venue_token, body.person_id, lang=request_language(request)
    )


@router.post(
    "/v1/cases",
    status_code=201,
    summary="Confirm a case: the person turns red, their contacts yellow and are notified",
    description=(
        "By `person_id`, that record. By `id_number`, never the number alone (anyone can "
        "type someone else's on a form): with the patient's `phone` (a dependant's: the "
        "declaring account's), the record declared by the account signed in with it; "
        "otherwise 409 `choose_record` lists every record with that number, masked, to "
        "confirm one by `person_id`. Contacts come only from the confirmed record's own "
        "scans and check-ins. `confirmed_at` must lie within the exposure lookback window. "
        "Confirming the same person again within the window answers the same case."
    ),
    response_model=CreatedCase,
    responses={
        **responses(*_AUTH, NotFound, ValidationFailed, CaseContended),
        # A problem with more members (the masked candidates): its own schema.
        409: problem_answer(f"Problem: {ChooseRecord.code} (the candidates, masked)", RecordChoice),
    },
)
async def confirm_case(body: CaseRequest, ctx: ContextDep, officer: HealthOfficer) -> CreatedCase:
    outcome = await tracing.confirm_case(ctx, officer, body)
    return CreatedCase(
        id=outcome.id,
        contacts=outcome.contacts,
        notified=outcome.notified,
        confirmed_at=outcome.confirmed_at,
    )
