"""HTTP endpoints of personal data rights: export, access log, erasure, consented sharing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response

from core.errors import (
    Forbidden,
    IdempotencyKeyReused,
    NotFound,
    StorageUnavailable,
    Unauthenticated,
    ValidationFailed,
)
from rights import access_log as access_log_service
from rights import erasure, export, sharing
from rights.errors import ConsentTooLong, ExportLimitReached, OrganisationUnknown
from rights.schemas import (
    AccessLog,
    ConsentIn,
    ConsentOut,
    Export,
    OrganisationId,
    OrganisationIn,
    OrganisationOut,
    OrganisationStatuses,
    ResourceId,
)
from web.deps import Admin, Citizen, ContextDep, Organisation, optional_key, request_language
from web.openapi import answered
from web.problems import responses

router = APIRouter(tags=["personal data rights"])

_SIGNED_IN = (Unauthenticated, Forbidden, ValidationFailed, StorageUnavailable)


@router.get(
    "/v1/me/export",
    summary="Everything held about my account and its people, decrypted (citizen)",
    response_model=Export,
    responses=responses(*_SIGNED_IN, ExportLimitReached),
)
async def my_export(ctx: ContextDep, citizen: Citizen) -> Export:
    return await export.export(ctx, citizen)


@router.get(
    "/v1/me/access-log",
    summary="Who (role, checkpoint or organisation) looked at my people's data, and when",
    response_model=AccessLog,
    responses=responses(*_SIGNED_IN),
)
async def my_access_log(ctx: ContextDep, citizen: Citizen, request: Request) -> AccessLog:
    return await access_log_service.access_log(ctx, citizen, lang=request_language(request))


@router.delete(
    "/v1/people/{person_id}",
    status_code=204,
    summary="Erase one of my people: records deleted or made anonymous, codes revoked",
    response_class=Response,
    responses=responses(*_SIGNED_IN, NotFound),
)
async def erase_person(person_id: ResourceId, ctx: ContextDep, citizen: Citizen) -> Response:
    await erasure.erase_person(ctx, citizen, person_id)
    return Response(status_code=204)


@router.delete(
    "/v1/me",
    status_code=204,
    summary="Erase my account and all its people (a second call is also a 204)",
    response_class=Response,
    responses=responses(*_SIGNED_IN),
)
async def erase_me(ctx: ContextDep, citizen: Citizen) -> Response:
    await erasure.erase_account(ctx, citizen)
    return Response(status_code=204)


@router.post(
    "/v1/organisations",
    status_code=201,
    summary="Register an organisation that people may consent to share their status with",
    response_model=OrganisationOut,
    responses={
        **answered(201, "Registered", "Idempotent-Replayed"),
        **responses(*_SIGNED_IN, IdempotencyKeyReused),
    },
)
async def create_organisation(
    ctx: ContextDep,
    admin: Admin,
    body: OrganisationIn,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        optional_key(
            "Optional, the admin's own, one per organisation registered: a retry with the "
            "same key and body gets the first answer (the same `id`, with "
            "`Idempotent-Replayed: true`), registering nothing again; another body is 409 "
            "`idempotency_key_reused`"
        ),
    ] = None,
) -> OrganisationOut:
    registered = await sharing.create_organisation(
        ctx, admin, body, idempotency_key=idempotency_key
    )
    if registered.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return registered.organisation


@router.post(
    "/v1/consents",
    status_code=201,
    summary="Let an organisation see one of my people's status colour for some days",
    response_model=ConsentOut,
    responses={
        **answered(201, "Granted", "Idempotent-Replayed"),
        **responses(
            *_SIGNED_IN, NotFound, OrganisationUnknown, ConsentTooLong, IdempotencyKeyReused
        ),
    },
)
async def grant_consent(
    ctx: ContextDep,
    citizen: Citizen,
    body: ConsentIn,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        optional_key(
            "Optional, 1-128 characters of A-Z a-z 0-9 _ - : . — one per consent "
            "given; a retry with the same key and body returns the first answer (with "
            "`Idempotent-Replayed: true`), granting nothing again"
        ),
    ] = None,
) -> ConsentOut:
    granted = await sharing.grant(ctx, citizen, body, idempotency_key=idempotency_key)
    if granted.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return granted.consent


@router.delete(
    "/v1/consents/{consent_id}",
    status_code=204,
    summary="Revoke a consent at once (revoking again is also a 204)",
    response_class=Response,
    responses=responses(*_SIGNED_IN, NotFound),
)
async def revoke_consent(consent_id: ResourceId, ctx: ContextDep, citizen: Citizen) -> Response:
    await sharing.revoke(ctx, citizen, consent_id)
    return Response(status_code=204)


@router.get(
    "/v1/organisations/{organisation_id}/statuses",
    summary="The status colour of each person consenting to this organisation, by reference",
    response_model=OrganisationStatuses,
    responses=responses(*_SIGNED_IN, NotFound),
)
async def organisation_statuses(
    organisation_id: OrganisationId, ctx: ContextDep, caller: Organisation
) -> OrganisationStatuses:
    return await sharing.statuses(ctx, caller, organisation_id)
