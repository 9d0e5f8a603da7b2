"""QR endpoints: a person's code, the public key set, and the revocation list."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response

from core.clock import utcnow
from core.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from qr import caching, service
from qr.keys import JWKS_MAX_AGE_SECONDS
from qr.revocations import revoked_since
from qr.schemas import JwkSet, PersonCode, ResourceId, RevocationList, RevokedToken, Rfc3339
from web import caching as web_caching
from web.deps import CheckpointStaff, Citizen, ContextDep
from web.openapi import NOT_MODIFIED, answered, headers
from web.problems import responses

router = APIRouter(tags=["qr"])

# `format=png` / `format=svg`: the image itself (bytes; SVG is text), else the JSON code.
IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The code as JSON, or its QR image",
        "content": {
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "image/svg+xml": {"schema": {"type": "string"}},
        },
        "headers": headers("ETag", "Cache-Control", "Vary"),
    },
    **NOT_MODIFIED,
}
JWKS_CACHE = f"public, max-age={JWKS_MAX_AGE_SECONDS}"  # a new key waits for it: qr.rotation


@router.get(
    "/v1/people/{person_id}/qr",
    summary="A person's signed QR code, as JSON or as a PNG/SVG image",
    response_model=PersonCode,
    responses={
        **IMAGE_RESPONSES,
        **responses(Unauthenticated, Forbidden, NotFound, ValidationFailed),
    },
)
async def person_qr(
    person_id: ResourceId,
    ctx: ContextDep,
    caller: Citizen,
    request: Request,
    format: caching.CodeFormat = "json",
) -> Response:
    code = await service.person_code(ctx, caller, person_id)
    # Revalidated on every showing, never kept fresh: a confirmed case or a tracing hold
    # replaces the code at any moment, and a phone that is online must then show the new
    # one. While the code is unchanged the answer is a 304 with no body.
    return await caching.code_response(
        request,
        jti=code.jti,
        text=code.token,
        as_json=PersonCode(token=code.token, status=code.status, expires_at=code.expires_at),
        image_format=format,
        cache_control="private, no-cache",
    )


@router.get(
    "/.well-known/jwks.json",
    summary="Public keys that verify live QR tokens (current and still-published earlier ones)",
    response_model=JwkSet,
    responses={
        **answered(200, "The published keys", "ETag", "Cache-Control", "Vary"),
        **NOT_MODIFIED,
    },
)
async def jwks(ctx: ContextDep, request: Request) -> Response:
    body = orjson.dumps({"keys": await service.published_keys(ctx)})
    return web_caching.cacheable(request, body, cache_control=JWKS_CACHE)


@router.get(
    "/v1/revocations",
    summary="Ids of QR tokens revoked since a time, for checkpoint scanners working offline",
    description=(
        "Checkpoint staff only: a scanner signs in and syncs before going offline. A code's "
        "`jti` is readable by anyone who photographed it, so an open list would tell them "
        "that its holder's status worsened."
    ),
    response_model=RevocationList,
    responses=responses(Unauthenticated, Forbidden, ValidationFailed),
)
async def revocations(
    ctx: ContextDep,
    scanner: CheckpointStaff,
    since: Annotated[
        Rfc3339 | None,
        Query(description="RFC 3339 with a time zone, e.g. the previous answer's `until`"),
    ] = None,
) -> RevocationList:
    page = await revoked_since(ctx.store, since, now=utcnow())
    return RevocationList(
        revoked=[RevokedToken(jti=jti, revoked_at=at) for jti, at in page.revoked],
        until=page.until,
        more=page.more,
    )
