"""Certificate endpoints: staff scan a certificate from abroad; admins keep the trust list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from certificates import cscas, scanning, service
from certificates.dcc_revocation import HashType
from certificates.errors import InvalidTrustEntry
from certificates.schemas import (
    CertificateScanRequest,
    CertificateScanResult,
    DccCscaCreated,
    DccCscaIn,
    DccCscaList,
    DccRevocationsCreated,
    DccRevocationsIn,
    DccRevocationsList,
    DccSignerCreated,
    DccSignerIn,
    DccSignerList,
    ShcIssuerCreated,
    ShcIssuerIn,
    ShcIssuerList,
)
from core.errors import (
    Forbidden,
    IdempotencyKeyReused,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from qr.schemas import ResourceId
from web.deps import Admin, CheckpointStaff, ContextDep, optional_key, request_language
from web.openapi import answered
from web.problems import responses

router = APIRouter(tags=["certificates"])
_AUTH = (Unauthenticated, Forbidden)
# Standard base64 of 8 bytes: 12 characters, `/` and `+` included (send `/` as `%2F`).
Kid = Annotated[str, Path(pattern=r"^[A-Za-z0-9+/]{11}=$")]
KidQuery = Annotated[str, Query(pattern=r"^[A-Za-z0-9+/]{11}=$")]
# A CSCA's id: the hex SHA-256 of its DER.
CscaId = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]


@router.post(
    "/v1/checkpoints/{checkpoint_id}/certificates",
    summary="Check a certificate from abroad (EU DCC or SMART Health Card): every check",
    response_model=CertificateScanResult,
    responses={
        **answered(200, "Every check, and the decision", "Idempotent-Replayed"),
        **responses(*_AUTH, NotFound, ValidationFailed, IdempotencyKeyReused),
    },
)
async def scan_certificate(
    checkpoint_id: ResourceId,
    body: CertificateScanRequest,
    ctx: ContextDep,
    staff: CheckpointStaff,
    request: Request,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        optional_key(
            "Optional, the staff member's own, per checkpoint: a retry with the "
            "same key and body gets the first answer (with `Idempotent-Replayed: true`), "
            "recording nothing more; another body is 409 `idempotency_key_reused`"
        ),
    ] = None,
) -> CertificateScanResult:
    lang = request_language(request)
    scanned = await scanning.scan(
        ctx, staff, checkpoint_id, body, lang=lang, idempotency_key=idempotency_key
    )
    if scanned.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return scanned.result


@router.post(
    "/v1/trust/dcc-signers",
    status_code=201,
    summary="Trust an EU DCC signer certificate for a country (again: replace it)",
    response_model=DccSignerCreated,
    responses=responses(*_AUTH, InvalidTrustEntry, ValidationFailed),
)
async def add_dcc_signer(body: DccSignerIn, ctx: ContextDep, admin: Admin) -> DccSignerCreated:
    kid, version = await service.add_dcc_signer(ctx, admin, body.certificate, body.country)
    return DccSignerCreated(kid=kid, version=version)


@router.get(
    "/v1/trust/dcc-signers",
    summary="The trusted EU DCC signers and the trust list's version",
    response_model=DccSignerList,
    responses=responses(*_AUTH),
)
async def list_dcc_signers(ctx: ContextDep, admin: Admin) -> DccSignerList:
    version, signers = await service.dcc_signers(ctx)
    return DccSignerList(version=version, signers=signers)


@router.delete(
    "/v1/trust/dcc-signers/{kid:path}",
    status_code=204,
    summary="Stop trusting an EU DCC signer",
    responses=responses(*_AUTH, NotFound, ValidationFailed),
)
async def remove_dcc_signer(kid: Kid, ctx: ContextDep, admin: Admin) -> Response:
    await service.remove_dcc_signer(ctx, admin, kid)
    return Response(status_code=204)


@router.post(
    "/v1/trust/dcc-cscas",
    status_code=201,
    summary="Trust a Country Signing CA: that country's EU DCC signers must chain to one",
    response_model=DccCscaCreated,
    responses=responses(*_AUTH, InvalidTrustEntry, ValidationFailed),
)
async def add_dcc_csca(body: DccCscaIn, ctx: ContextDep, admin: Admin) -> DccCscaCreated:
    csca_id, version = await cscas.add_dcc_csca(ctx, admin, body.certificate, body.country)
    return DccCscaCreated(id=csca_id, country=body.country, version=version)


@router.get(
    "/v1/trust/dcc-cscas",
    summary="The trusted Country Signing CAs and the trust list's version",
    response_model=DccCscaList,
    responses=responses(*_AUTH),
)
async def list_dcc_cscas(ctx: ContextDep, admin: Admin) -> DccCscaList:
    version, found = await cscas.dcc_cscas(ctx)
    return DccCscaList(version=version, cscas=found)


@router.delete(
    "/v1/trust/dcc-cscas/{csca_id}",
    status_code=204,
    summary="Stop trusting a Country Signing CA, and the EU DCC signers it vouched for",
    responses=responses(*_AUTH, NotFound, ValidationFailed),
)
async def remove_dcc_csca(csca_id: CscaId, ctx: ContextDep, admin: Admin) -> Response:
    await cscas.remove_dcc_csca(ctx, admin, csca_id)
    return Response(status_code=204)


@router.post(
    "/v1/trust/dcc-revocations",
    status_code=201,
    summary="Revoke EU DCCs of a trusted signer: its list of one hash type (replaces it)",
    response_model=DccRevocationsCreated,
    responses=responses(*_AUTH, InvalidTrustEntry, ValidationFailed),
)
async def put_dcc_revocations(
    body: DccRevocationsIn, ctx: ContextDep, admin: Admin
) -> DccRevocationsCreated:
    count, version = await service.put_dcc_revocations(ctx, admin, body)
    return DccRevocationsCreated(
        kid=body.kid, hash_type=body.hash_type, count=count, version=version
    )


@router.get(
    "/v1/trust/dcc-revocations",
    summary="The EU DCC revocation lists (of one signer with `kid`) and the trust list's version",
    response_model=DccRevocationsList,
    responses=responses(*_AUTH, ValidationFailed),
)
async def list_dcc_revocations(
    ctx: ContextDep, admin: Admin, kid: KidQuery | None = None
) -> DccRevocationsList:
    version, lists = await service.dcc_revocations(ctx, kid)
    return DccRevocationsList(version=version, lists=lists)


@router.delete(
    "/v1/trust/dcc-revocations",
    status_code=204,
    summary="Drop a signer's EU DCC revocation list of one hash type",
    responses=responses(*_AUTH, NotFound, ValidationFailed),
)
async def remove_dcc_revocations(
    ctx: ContextDep, admin: Admin, kid: KidQuery, hash_type: Annotated[HashType, Query()]
) -> Response:
    await service.remove_dcc_revocations(ctx, admin, kid, hash_type)
    return Response(status_code=204)


@router.post(
    "/v1/trust/shc-issuers",
    status_code=201,
    summary="Trust a SMART Health Card issuer: its key set and revocation lists (replaces)",
    response_model=ShcIssuerCreated,
    responses=responses(*_AUTH, InvalidTrustEntry, ValidationFailed),
)
async def add_shc_issuer(body: ShcIssuerIn, ctx: ContextDep, admin: Admin) -> ShcIssuerCreated:
    version = await service.add_shc_issuer(ctx, admin, body)
    return ShcIssuerCreated(iss=body.iss, version=version)


@router.get(
    "/v1/trust/shc-issuers",
    summary="The trusted SMART Health Card issuers and the trust list's version",
    response_model=ShcIssuerList,
    responses=responses(*_AUTH),
)
async def list_shc_issuers(ctx: ContextDep, admin: Admin) -> ShcIssuerList:
    version, issuers = await service.shc_issuers(ctx)
    return ShcIssuerList(version=version, issuers=issuers)


@router.delete(
    "/v1/trust/shc-issuers",
    status_code=204,
    summary="Stop trusting a SMART Health Card issuer",
    responses=responses(*_AUTH, NotFound, ValidationFailed),
)
async def remove_shc_issuer(
    ctx: ContextDep, admin: Admin, iss: Annotated[str, Query(max_length=512)]
) -> Response:
    await service.remove_shc_issuer(ctx, admin, iss)
    return Response(status_code=204)
