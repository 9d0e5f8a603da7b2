"""A certificate from abroad shown at a checkpoint: every check, and the decision.

The scan never fetches anything: it verifies against the trust list in the store, parsed
once per trust-list version and kept in the process (one read by key per scan tells
whether it changed). Checkpoints on poor networks get the same answer as anywhere else.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import timedelta

from certificates import repository
from certificates.checks import CHECK_NAMES, Verification, reason_text
from certificates.csca import chained
from certificates.dcc_revocation import parse_hashes
from certificates.schemas import (
    CertificateOut,
    CertificateScanRequest,
    CertificateScanResult,
    CheckResult,
    Checks,
    HolderOut,
)
from certificates.trust import (
    DccRevocations,
    DccSigner,
    ShcIssuer,
    TrustEntryInvalid,
    TrustList,
    shc_issuer,
)
from certificates.verifier import verify
from checkpoints.service import checkpoint_exists
from core.clock import new_id, utcnow
from core.context import Context
from core.errors import Forbidden, NotFound
from core.idempotency import keep_answer, retry_of, winner_of
from core.logging import log_event
from core.principals import Principal
from core.storage import DuplicateKey, Operation
from declarations.rules import rules_for

log = logging.getLogger(__name__)

ROUTE = "certificate_scan"  # the route an Idempotency-Key's kept answer belongs to


class TrustCache:
    """The trust list this process parsed last, in the context's caches."""

    def __init__(self) -> None:
        self.current: TrustList | None = None


# -- the trust list --------------------------------------------------------------------------


async def trust_list(ctx: Context) -> TrustList:
    """The current trust list, parsed again only when its version moved."""
    version = await repository.trust_version(ctx.store)
    cache = ctx.caches.of(TrustCache)
    if cache.current is not None and cache.current.version == version:
        return cache.current
    signers: dict[bytes, DccSigner] = {}
    cscas = {str(d["_id"]): str(d["country"]) for d in await repository.dcc_cscas(ctx.store)}
    for document in await repository.dcc_signers(ctx.store):
        if not chained(str(document["country"]), document.get("csca"), cscas):
            log_event(log, "trust entry unchained", kind="dcc_signer", kid=str(document["_id"]))
            continue
        try:
            der = base64.b64decode(document["certificate"])
            signer = DccSigner.from_der(der, str(document["country"]))
        except (TrustEntryInvalid, ValueError):
            log_event(log, "trust entry unusable", kind="dcc_signer", kid=str(document["_id"]))
            continue
        signers[signer.kid] = signer
    issuers: dict[str, ShcIssuer] = {}
    for document in await repository.shc_issuers(ctx.store):
        try:
            issuers[document["_id"]] = shc_issuer(
                document["_id"],
                document["jwks"],
                list(document.get("crls") or []),
                country=document.get("country"),
            )
        except TrustEntryInvalid:
            log_event(log, "trust entry unusable", kind="shc_issuer")
    trusted = TrustList(
        version=version,
        dcc_signers=signers,
        shc_issuers=issuers,
        dcc_revocations=await _dcc_revocations(ctx),
    )
    cache.current = trusted
    return trusted


async def _dcc_revocations(ctx: Context) -> dict[bytes, DccRevocations]:
    lists: dict[bytes, dict[str, frozenset[bytes]]] = {}
    for document in await repository.dcc_revocations(ctx.store):
        try:
            kid = base64.b64decode(str(document["kid"]), validate=True)
            hash_type = str(document["hash_type"])
            entries = parse_hashes(list(document["hashes"]))
        except (TrustEntryInvalid, ValueError, KeyError, TypeError):
            # Written only after the same checks: this is a damaged document, and a bug.
            log_event(log, "trust entry unusable", kind="dcc_revocations")
            continue
        lists.setdefault(kid, {})[hash_type] = entries
    return {kid: DccRevocations(lists=by_type) for kid, by_type in lists.items()}


# -- scans -----------------------------------------------------------------------------------


def _retention(ctx: Context) -> timedelta:
    return timedelta(days=max(ctx.settings.retention_days, ctx.settings.exposure_lookback_days))


@dataclass(slots=True)
class Scanned:
    """The answer to a certificate scan, and whether it is the first answer to an earlier
    request with the same Idempotency-Key, sent again."""

    result: CertificateScanResult
    replayed: bool


async def scan(
    ctx: Context,
    staff: Principal,
    checkpoint_id: str,
    body: CertificateScanRequest,
    *,
    lang: str,
    idempotency_key: str | None = None,
) -> Scanned:
    """Every check of a certificate shown at this checkpoint, and the decision the
    ministry's acceptance policy gives. Recorded without anything about the holder.

    With an Idempotency-Key (the staff member's own, per checkpoint), a scan sent again
    gets the first answer and records nothing more; as for a personal code, the kept answer
    goes in the scan's batch and only a clash reads it. It is kept without the holder, who
    is never stored: a retry carries the same certificate (its body's hash matched), so
    the holder read from it now is the one the first answer showed."""
    if checkpoint_id not in staff.checkpoints:
        raise Forbidden()
    if not await checkpoint_exists(ctx, checkpoint_id):
        raise NotFound()
    now = utcnow()
    trusted = await trust_list(ctx)
    verification = verify(body.texts, trusted, rules_for(ctx).certificates, now=now)
    facts = verification.facts
    country = facts.country if facts is not None else None
    record = {
        "_id": new_id("csc"),
        "checkpoint_id": checkpoint_id,
        "staff_id": staff.subject,
        "format": verification.format,
        "country": country,
        "decision": verification.decision,
        "reason_code": verification.reason,
        "trust_version": trusted.version,
        "at": now,
        "expires_at": now + _retention(ctx),
    }
    result = answer(verification, country=country, lang=lang, trust_version=trusted.version)
    ops: list[Operation] = [repository.insert_scan(record)]
    retry = retry_of(ctx, ROUTE, staff, idempotency_key, body, target=checkpoint_id)
    if retry is not None:
        kept = result.model_copy(update={"holder": None})
        ops.insert(0, keep_answer(retry, ROUTE, kept, now=now, status_code=200))
    try:
        await ctx.store.write(ops)
    except DuplicateKey as clash:
        first = await winner_of(ctx, retry, clash, CertificateScanResult)
        return Scanned(first.model_copy(update={"holder": result.holder}), replayed=True)
    log_event(
        log,
        "certificate scanned",
        checkpoint_id=checkpoint_id,
        format=verification.format,
        decision=verification.decision,
        reason=verification.reason,
    )
    return Scanned(result, replayed=False)


def answer(
    verification: Verification, *, country: str | None, lang: str, trust_version: int
) -> CertificateScanResult:
    checks = {
        name: CheckResult(
            result=verification.checks[name].outcome,
            code=verification.checks[name].code,
            detail=reason_text(verification.checks[name].code).pick(lang),
        )
        for name in CHECK_NAMES
    }
    holder = verification.holder
    facts = verification.facts
    certificate = None
    if facts is not None:
        certificate = CertificateOut(type=facts.type, issuer_country=country)
    reason_code = verification.reason
    return CertificateScanResult(
        decision=verification.decision,
        format=verification.format,
        checks=Checks(**checks),
        holder=HolderOut(name=holder.name, birth_date=holder.birth_date) if holder else None,
        certificate=certificate,
        reason=reason_text(reason_code).pick(lang),
        reason_code=reason_code,
        trust_version=trust_version,
    )
