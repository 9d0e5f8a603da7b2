"""The CSCAs on the trust list: what admins add and remove, and the chain rule applied to
the signers they (or a refresh) add (certificates/csca.py says why)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography import x509

from certificates import repository
from certificates.csca import Csca, by_country, vouching_csca
from certificates.errors import InvalidTrustEntry, certificate_der
from certificates.schemas import DccCscaOut
from certificates.trust import TrustEntryInvalid
from core.clock import utcnow
from core.context import Context
from core.errors import NotFound
from core.logging import log_event
from core.principals import Principal
from core.storage import Document, Operation, Store
from reports.audit import audited_change

log = logging.getLogger(__name__)


def csca_fields(certificate: str, country: str, *, now: datetime) -> tuple[Csca, dict[str, Any]]:
    """The stored form of a CSCA, checked as the chain rule will read it."""
    der = certificate_der(certificate)
    try:
        csca = Csca.from_der(der, country)
    except TrustEntryInvalid as error:
        raise InvalidTrustEntry.of(error) from None
    fields = {
        "country": country,
        "certificate": base64.b64encode(der).decode(),
        "subject": csca.subject,
        "not_before": csca.not_before.isoformat(),
        "not_after": csca.not_after.isoformat(),
        "added_at": now,
    }
    return csca, fields


def parsed(document: Document) -> Csca | None:
    """A stored CSCA as the chain rule uses it; None for a damaged document (a bug: it was
    written only after the same checks)."""
    try:
        der = base64.b64decode(str(document["certificate"]))
        return Csca.from_der(der, str(document["country"]))
    except (TrustEntryInvalid, ValueError, KeyError):
        log_event(log, "trust entry unusable", kind="dcc_csca", id=str(document.get("_id")))
        return None


async def trusted_cscas(store: Store) -> dict[str, list[Csca]]:
    """The stored CSCAs, by country."""
    found = [parsed(document) for document in await repository.dcc_cscas(store)]
    return by_country(csca for csca in found if csca is not None)


async def vouching(store: Store, signer: x509.Certificate, country: str) -> str | None:
    """The id of the stored CSCA that vouches for a signer; None when its country has none.
    `InvalidTrustEntry` when none of them issued it."""
    try:
        return vouching_csca(signer, country, await trusted_cscas(store))
    except TrustEntryInvalid as error:
        raise InvalidTrustEntry.of(error) from None


_OTHER_COUNTRY = TrustEntryInvalid(
    "country",
    "this CSCA is trusted for another country: remove it first",
    "CSCA này đang được tin cậy cho quốc gia khác: hãy xóa nó trước",
)


async def add_dcc_csca(
    ctx: Context, admin: Principal, certificate: str, country: str
) -> tuple[str, int]:
    now = utcnow()
    csca, fields = csca_fields(certificate, country, now=now)
    previous = await repository.dcc_csca(ctx.store, csca.id)
    # Moving a CSCA to another country would leave its signers vouched for under the old one.
    if previous is not None and previous["country"] != country:
        raise InvalidTrustEntry.of(_OTHER_COUNTRY)
    adopted, unchained = await _signers_trusted_before(ctx.store, csca)
    params = {
        "id": csca.id,
        "country": country,
        "subject": csca.subject,
        "adopted_signers": adopted,
        "unchained_signers": unchained,
    }
    ops: list[Operation] = [
        repository.put_dcc_csca(csca.id, fields),
        *(repository.vouch_for_signer(kid, csca.id) for kid in adopted),
        audited_change(admin, "trust.dcc_csca.put", params, now=now),
    ]
    return csca.id, await repository.commit_change(ctx.store, ops, now=now)


async def _signers_trusted_before(store: Store, csca: Csca) -> tuple[list[str], list[str]]:
    """The country's signers trusted unchecked until now: (those this CSCA issued, which it
    vouches for from now on; those it did not, which the trust list stops using while their
    country has a CSCA that did not issue them — `scanning.trust_list`)."""
    adopted: list[str] = []
    unchained: list[str] = []
    for document in await repository.dcc_signers(store):
        if document.get("country") != csca.country or document.get("csca") is not None:
            continue
        issued = adopter(document, {csca.country: [csca]}) is not None
        (adopted if issued else unchained).append(str(document["_id"]))
    return adopted, unchained


def adopter(signer: Document, candidates: Mapping[str, list[Csca]]) -> str | None:
    """The CSCA among `candidates` (by country) that issued a stored signer trusted before
    its country had one, and vouches for it from now on. None: its country has none there,
    or none of them issued it, and the trust list leaves it unused (`csca.chained`)."""
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode(str(signer["certificate"])))
        return vouching_csca(certificate, str(signer["country"]), candidates)
    except (TrustEntryInvalid, ValueError):
        return None


async def remove_dcc_csca(ctx: Context, admin: Principal, csca_id: str) -> int:
    """Untrust a CSCA and, in the same batch, the signers it vouched for and their
    revocation lists: their chain is gone."""
    document = await repository.dcc_csca(ctx.store, csca_id)
    if document is None:
        raise NotFound()
    vouched = [str(d["_id"]) for d in await repository.dcc_signers_vouched_by(ctx.store, csca_id)]
    now = utcnow()
    params = {"id": csca_id, "country": document["country"], "removed_signers": vouched}
    ops: list[Operation] = [
        repository.delete_dcc_csca(csca_id),
        repository.delete_dcc_signers_vouched_by(csca_id),
        *(repository.delete_dcc_revocations(kid) for kid in vouched),
        audited_change(admin, "trust.dcc_csca.delete", params, now=now),
    ]
    return await repository.commit_change(ctx.store, ops, now=now)


async def dcc_cscas(ctx: Context) -> tuple[int, list[DccCscaOut]]:
    version = await repository.trust_version(ctx.store)
    documents = await repository.dcc_cscas(ctx.store)
    return version, [
        DccCscaOut(
            id=d["_id"],
            country=d["country"],
            subject=d["subject"],
            not_before=d["not_before"],
            not_after=d["not_after"],
            certificate=d["certificate"],
            added_at=d["added_at"],
            source=d.get("source"),
        )
        for d in documents
    ]
