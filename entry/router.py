"""Entry declaration endpoints: the gates, the form in eight languages, declaring without
an account, and the border scan."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response

from core.errors import (
    Forbidden,
    IdempotencyKeyReused,
    MalformedBody,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    StorageUnavailable,
    Unauthenticated,
    ValidationFailed,
)
from core.i18n import language_of
from core.idempotency import IDEMPOTENCY_KEY_LENGTH, IDEMPOTENCY_KEY_PATTERN, IDEMPOTENCY_KEY_RULE
from entry import border, points, service
from entry.errors import (
    EntryContended,
    EntryKeyInvalid,
    EntryKeyMissing,
    NotABorderCheckpoint,
    NotAnEntryCode,
    UnknownEntryCode,
)
from entry.form import entry_form_json
from entry.i18n import LANGUAGES
from entry.schemas import (
    EntryDeclarationIn,
    EntryDeclarationOut,
    EntryScanIn,
    EntryScanOut,
    NewPointIn,
    PointList,
    PointOfEntry,
)
from qr.schemas import ResourceId
from web import caching
from web.deps import Admin, CheckpointStaff, ContextDep, client_address, request_language
from web.openapi import NOT_MODIFIED, answered, required_header
from web.problems import responses

router = APIRouter(tags=["entry"])
_AUTH = (Unauthenticated, Forbidden)
_PUBLIC_CACHE = "public, max-age=300"
_FORM_CACHE = "public, max-age=3600"
PointId = Annotated[str, Path(pattern=r"^poe_[a-z0-9_]{1,24}$")]


@router.get(
    "/v1/entry/points",
    summary="Border gates: airports, seaports and land border gates",
    response_model=PointList,
    responses={
        **answered(200, "The open gates", "ETag", "Cache-Control", "Vary"),
        **NOT_MODIFIED,
    },
)
async def list_points(ctx: ContextDep, request: Request) -> Response:
    found = await points.open_points(ctx)
    gates = PointList(items=[PointOfEntry(**p.view()) for p in found], source=points.source())
    return caching.cacheable(request, gates.model_dump_json().encode(), cache_control=_PUBLIC_CACHE)


@router.post(
    "/v1/entry/points",
    status_code=201,
    summary="Add or reopen a border gate (admin)",
    response_model=PointOfEntry,
    responses=responses(*_AUTH, ValidationFailed),
)
async def add_point(body: NewPointIn, ctx: ContextDep, admin: Admin) -> PointOfEntry:
    point = await points.add_point(ctx, body.model_dump(), by=admin)
    return PointOfEntry(**point.view())


@router.delete(
    "/v1/entry/points/{point_id}",
    status_code=204,
    summary="Retire a border gate (admin); its declarations stay",
    responses=responses(*_AUTH, NotFound),
)
async def retire_point(point_id: PointId, ctx: ContextDep, admin: Admin) -> Response:
    await points.retire_point(ctx, point_id, by=admin)
    return Response(status_code=204)


@router.get(
    "/v1/entry/form",
    summary="The entry form's fields, labels, help texts and choices in one language",
    response_model=dict[str, Any],
    responses={**answered(200, "The form", "ETag", "Cache-Control", "Vary"), **NOT_MODIFIED},
)
async def form(
    request: Request,
    lang: Annotated[
        str | None,
        Query(
            max_length=35,
            description=f"One of {', '.join(LANGUAGES)}, read as Accept-Language reads a tag "
            "(`vi-VN`, `vi_VN` and `zh-Hans-CN` are `vi`, `vi`, `zh`); anything else gets "
            "English. Without it, the best language of Accept-Language",
        ),
    ] = None,
) -> Response:
    if lang is not None:
        body = entry_form_json(language_of(lang) or "en")
        return caching.cacheable(request, body, cache_control=_FORM_CACHE)
    # A traveller's phone already says which languages they read.
    body = entry_form_json(request_language(request))
    return caching.cacheable(request, body, cache_control=_FORM_CACHE, vary=("Accept-Language",))


@router.post(
    "/v1/entry-declarations",
    status_code=201,
    summary="Declare at the border, for yourself and the family travelling with you",
    response_model=EntryDeclarationOut,
    openapi_extra=required_header(
        "Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        max_length=IDEMPOTENCY_KEY_LENGTH[1],
        description="{min}-{max} characters of {characters}".format(**IDEMPOTENCY_KEY_RULE)
        + " — one per form; a retry with the same key and body gets the first answer again "
        "(with `Idempotent-Replayed: true`).",
    ),
    responses={
        **answered(201, "Declared", "Cache-Control", "Idempotent-Replayed"),
        **responses(
            ValidationFailed,
            MalformedBody,
            PayloadTooLarge,
            EntryKeyMissing,
            EntryKeyInvalid,
            IdempotencyKeyReused,
            RateLimited,
            EntryContended,
            StorageUnavailable,
        ),
    },
)
async def declare_entry(
    body: EntryDeclarationIn,
    ctx: ContextDep,
    request: Request,
    # Read as optional so the service answers its own problem (400 entry_key_missing or
    # _invalid); the document declares it required, with its shape (openapi_extra above).
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", include_in_schema=False)
    ] = None,
) -> Response:
    result = await service.submit(
        ctx,
        body,
        idempotency_key,
        address=client_address(request),
        lang=request_language(request),
    )
    headers = {"Cache-Control": "no-store"}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(result.body, result.status_code, headers=headers, media_type="application/json")


@router.post(
    "/v1/checkpoints/{checkpoint_id}/entry-scans",
    summary="Scan an arrival's QR code or typed code at a border checkpoint",
    response_model=EntryScanOut,
    responses=responses(
        *_AUTH, NotAnEntryCode, ValidationFailed, NotFound, NotABorderCheckpoint, UnknownEntryCode
    ),
)
async def entry_scan(
    checkpoint_id: ResourceId,
    body: EntryScanIn,
    ctx: ContextDep,
    staff: CheckpointStaff,
    request: Request,
) -> EntryScanOut:
    return await border.border_scan(ctx, staff, checkpoint_id, body, lang=request_language(request))
