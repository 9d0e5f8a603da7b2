"""Certificates from abroad: the trust list admins keep (EU signers and their revocation
lists, SMART issuers), each change audited and moving the trust-list version. What a
checkpoint's scan verifies against is in `certificates.scanning`.
"""

from __future__ import annotations

import base64
import logging
from datetime import datetime
from typing import Any

from certificates import cscas, repository
from certificates.csca import not_issued_by_a_csca
from certificates.dcc_revocation import HashType, entry_text, parse_hashes
from certificates.errors import InvalidTrustEntry, certificate_der
from certificates.schemas import (
    DccRevocationsIn,
    DccRevocationsOut,
    DccSignerOut,
    ShcIssuerIn,
    ShcIssuerOut,
)
from certificates.trust import (
    DccSigner,
    TrustEntryInvalid,
    check_subject_country,
    kid_text,
    parse_crl,
    parse_jwks,
)
from core.clock import utcnow
from core.context import Context
from core.errors import NotFound
from core.i18n import Text
from core.principals import Principal
from core.storage import Operation, PreconditionFailed
from reports.audit import audited_change

log = logging.getLogger(__name__)


def dcc_signer_fields(
    certificate: str, country: str, *, now: datetime
) -> tuple[DccSigner, dict[str, Any]]:
    """The stored form of an EU signer: checked as verification will read it."""
    der = certificate_der(certificate)
    try:
        signer = DccSigner.from_der(der, country)
        # Checked on admission only: a signer stored before the rule still loads.
        check_subject_country(signer.certificate, country)
    except TrustEntryInvalid as error:
        raise InvalidTrustEntry.of(error) from None
    fields = {
        "country": country,
        "certificate": base64.b64encode(der).decode(),
        "not_before": signer.not_before.isoformat(),
        "not_after": signer.not_after.isoformat(),
        "may_sign": sorted(signer.may_sign) if signer.may_sign is not None else None,
        "added_at": now,
    }
    return signer, fields


def shc_issuer_fields(body: ShcIssuerIn, *, now: datetime) -> dict[str, Any]:
    """The stored form of a SMART issuer: only the public key fields and the parsed lists,
    never the document as posted."""
    crls = body.crl if isinstance(body.crl, list) else [body.crl] if body.crl else []
    try:
        keys = parse_jwks(body.jwks)
        parsed = [parse_crl(crl, keys) for crl in crls]
    except TrustEntryInvalid as error:
        raise InvalidTrustEntry.of(error) from None
    public = [
        {"kid": kid, **{k: v for k, v in key.as_dict(private=False).items() if k in _JWK}}
        for kid, key in keys.items()
    ]
    stored_crls = [
        {
            "kid": kid,
            "method": "rid",
            "ctr": revocations.version,
            "rids": [
                rid if before is None else f"{rid}.{before:.0f}"
                for rid, before in revocations.rids.items()
            ],
        }
        for kid, revocations in parsed
    ]
    return {
        "jwks": {"keys": public},
        "crls": stored_crls,
        "country": body.country,
        "added_at": now,
    }


_JWK = ("kty", "crv", "x", "y")


_OTHER_COUNTRY = TrustEntryInvalid(
    "country",
    "this signer is trusted for another country: remove it first",
    "người ký này đang được tin cậy cho quốc gia khác: hãy xóa nó trước",
)


async def add_dcc_signer(
    ctx: Context, admin: Principal, certificate: str, country: str
) -> tuple[str, int]:
    now = utcnow()
    signer, fields = dcc_signer_fields(certificate, country, now=now)
    kid = kid_text(signer.kid)
    previous = await repository.dcc_signer(ctx.store, kid)
    # Relabelling a trusted signer would move the certificates it signed to another country.
    if previous is not None and previous["country"] != country:
        raise InvalidTrustEntry.of(_OTHER_COUNTRY)
    csca = await cscas.vouching(ctx.store, signer.certificate, country)
    fields["csca"] = csca
    params = {"kid": kid, "country": country, "csca": csca}
    audit = audited_change(admin, "trust.dcc_signer.put", params, now=now)
    ops: list[Operation] = [repository.put_dcc_signer(kid, fields), audit]
    if csca is not None:
        # Held: a CSCA removed meanwhile rolls this back instead of leaving the signer behind.
        ops.insert(0, repository.dcc_csca_held(csca))
    try:
        return kid, await repository.commit_change(ctx.store, ops, now=now)
    except PreconditionFailed:
        raise InvalidTrustEntry(field="certificate", reason=not_issued_by_a_csca(country)) from None


async def remove_dcc_signer(ctx: Context, admin: Principal, kid: str) -> int:
    if await repository.dcc_signer(ctx.store, kid) is None:
        raise NotFound()
    now = utcnow()
    audit = audited_change(admin, "trust.dcc_signer.delete", {"kid": kid}, now=now)
    # Its revocation lists go with it: a signer trusted again starts from the lists loaded then.
    ops: list[Operation] = [
        repository.delete_dcc_signer(kid),
        repository.delete_dcc_revocations(kid),
        audit,
    ]
    return await repository.commit_change(ctx.store, ops, now=now)


async def dcc_signers(ctx: Context) -> tuple[int, list[DccSignerOut]]:
    version = await repository.trust_version(ctx.store)
    documents = await repository.dcc_signers(ctx.store)
    return version, [
        DccSignerOut(
            kid=d["_id"],
            country=d["country"],
            not_before=d["not_before"],
            not_after=d["not_after"],
            may_sign=d.get("may_sign"),
            certificate=d["certificate"],
            added_at=d["added_at"],
            csca=d.get("csca"),
        )
        for d in documents
    ]


_UNKNOWN_KID = Text(
    "no trusted EU signer has this kid", "không có người ký EU tin cậy nào có kid này"
)


async def put_dcc_revocations(
    ctx: Context, admin: Principal, body: DccRevocationsIn
) -> tuple[int, int]:
    """Replace one signer's list of one hash type: (distinct hashes, trust-list version)."""
    if await repository.dcc_signer(ctx.store, body.kid) is None:
        raise InvalidTrustEntry(field="kid", reason=_UNKNOWN_KID)
    try:
        entries = parse_hashes(body.hashes)
    except TrustEntryInvalid as error:
        raise InvalidTrustEntry.of(error) from None
    now = utcnow()
    fields = {
        "hashes": sorted(entry_text(entry) for entry in entries),
        "count": len(entries),
        "changed_at": now,
    }
    params = {"kid": body.kid, "hash_type": body.hash_type, "count": len(entries)}
    audit = audited_change(admin, "trust.dcc_revocations.put", params, now=now)
    put = repository.put_dcc_revocations(body.kid, body.hash_type, fields)
    held = repository.dcc_signer_held(body.kid)
    try:
        return len(entries), await repository.commit_change(ctx.store, [held, put, audit], now=now)
    except PreconditionFailed:  # the signer was untrusted since the read above
        raise InvalidTrustEntry(field="kid", reason=_UNKNOWN_KID) from None


async def remove_dcc_revocations(
    ctx: Context, admin: Principal, kid: str, hash_type: HashType
) -> int:
    if await repository.dcc_revocation(ctx.store, kid, hash_type) is None:
        raise NotFound()
    now = utcnow()
    params = {"kid": kid, "hash_type": hash_type}
    audit = audited_change(admin, "trust.dcc_revocations.delete", params, now=now)
    delete = repository.delete_dcc_revocations(kid, [hash_type])
    return await repository.commit_change(ctx.store, [delete, audit], now=now)


async def dcc_revocations(ctx: Context, kid: str | None) -> tuple[int, list[DccRevocationsOut]]:
    version = await repository.trust_version(ctx.store)
    if kid is None:
        documents = await repository.dcc_revocations(ctx.store)
    else:
        documents = await repository.dcc_revocations_of(ctx.store, kid)
    return version, [
        DccRevocationsOut(
            kid=d["kid"],
            hash_type=d["hash_type"],
            count=d["count"],
            hashes=d["hashes"],
            changed_at=d["changed_at"],
        )
        for d in documents
    ]


async def add_shc_issuer(ctx: Context, admin: Principal, body: ShcIssuerIn) -> int:
    now = utcnow()
    fields = shc_issuer_fields(body, now=now)
    params = {"iss": body.iss, "kids": [k["kid"] for k in fields["jwks"]["keys"]]}
    audit = audited_change(admin, "trust.shc_issuer.put", params, now=now)
    return await repository.commit_change(
        ctx.store, [repository.put_shc_issuer(body.iss, fields), audit], now=now
    )


async def remove_shc_issuer(ctx: Context, admin: Principal, iss: str) -> int:
    if await repository.shc_issuer(ctx.store, iss) is None:
        raise NotFound()
    now = utcnow()
    audit = audited_change(admin, "trust.shc_issuer.delete", {"iss": iss}, now=now)
    return await repository.commit_change(
        ctx.store, [repository.delete_shc_issuer(iss), audit], now=now
    )


async def shc_issuers(ctx: Context) -> tuple[int, list[ShcIssuerOut]]:
    version = await repository.trust_version(ctx.store)
    documents = await repository.shc_issuers(ctx.store)
    return version, [
        ShcIssuerOut(
            iss=d["_id"],
            country=d.get("country"),
            kids=[k["kid"] for k in d["jwks"]["keys"]],
            revocation_lists={c["kid"]: int(c["ctr"]) for c in d.get("crls") or []},
            added_at=d["added_at"],
        )
        for d in documents
    ]
