"""What one URL's refresh writes: the bundle's entries against the stored ones, each kind
in turn, into one batch (certificates/refresh.py fetches, commits and schedules)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from certificates import cscas, repository
from certificates.csca import Csca, by_country, vouching_csca
from certificates.dcc_revocation import entry_text, parse_hashes
from certificates.errors import InvalidTrustEntry
from certificates.schemas import DccCscaIn, DccRevocationsIn, DccSignerIn, ShcIssuerIn
from certificates.service import dcc_signer_fields, shc_issuer_fields
from certificates.trust import TrustEntryInvalid, kid_text
from core.context import Context
from core.storage import Operation, Update

_csca_entries = TypeAdapter(list[DccCscaIn])
_signers = TypeAdapter(list[DccSignerIn])
_issuers = TypeAdapter(list[ShcIssuerIn])
_revocations = TypeAdapter(list[DccRevocationsIn])
# Fields that say when an entry was stored, not what it is.
_STAMPS = ("added_at", "source")


@dataclass
class RefreshOutcome:
    version: int
    changed: int = 0
    skipped: int = 0
    failed_urls: list[str] = field(default_factory=list)


def _same(stored: dict[str, Any] | None, fields: dict[str, Any]) -> bool:
    if stored is None:
        return False
    return all(stored.get(k) == v for k, v in fields.items() if k not in _STAMPS)


@dataclass
class Changes:
    """What one URL's refresh writes, in one batch, and what the audit entry lists."""

    url: str
    ops: list[Operation] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    held: set[tuple[str, str]] = field(default_factory=set)

    def add(self, op: Operation, name: str) -> None:
        self.ops.append(op)
        self.names.append(name)

    def hold(self, precondition: Update) -> None:
        """A bare precondition on a document this batch relies on, once per document."""
        if (precondition.collection, precondition.id) not in self.held:
            self.held.add((precondition.collection, precondition.id))
            self.ops.append(precondition)


@dataclass
class CscasAfter:
    """The CSCAs trusted once the batch commits: True where this batch writes it (False:
    stored and untouched, so a signer it vouches for holds it); and those it removes."""

    kept: dict[str, tuple[Csca, bool]] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)

    def by_country(self) -> dict[str, list[Csca]]:
        return by_country(csca for csca, _ in self.kept.values())


async def csca_changes(
    ctx: Context, raws: list[Any], changes: Changes, outcome: RefreshOutcome, *, now: datetime
) -> CscasAfter:
    """Adds, replaces and removes this URL's CSCAs; first in the batch, so that the signers
    of a removed one are deleted before the bundle's are written."""
    stored = {d["_id"]: d for d in await repository.dcc_cscas(ctx.store)}
    result = CscasAfter()
    for csca_id, document in stored.items():
        if (csca := cscas.parsed(document)) is not None:
            result.kept[csca_id] = (csca, False)
    seen: set[str] = set()
    for raw in raws:
        try:
            (entry,) = _csca_entries.validate_python([raw])
            csca, fields = cscas.csca_fields(entry.certificate, entry.country, now=now)
        except (ValidationError, InvalidTrustEntry):
            outcome.skipped += 1
            continue
        seen.add(csca.id)
        previous = stored.get(csca.id)
        if previous is not None and previous.get("source") != changes.url:
            continue  # an admin's entry (or another URL's) stays as it is
        if previous is not None and previous["country"] != entry.country:
            outcome.skipped += 1  # as for an admin: its signers were vouched for elsewhere
            continue
        if not _same(previous, fields):
            put = repository.put_dcc_csca(csca.id, {**fields, "source": changes.url})
            changes.add(put, f"csca:{csca.id}")
            result.kept[csca.id] = (csca, True)
    for csca_id, document in stored.items():
        if document.get("source") == changes.url and csca_id not in seen:
            changes.add(repository.delete_dcc_csca(csca_id), f"-csca:{csca_id}")
            changes.ops.append(repository.delete_dcc_signers_vouched_by(csca_id))
            result.kept.pop(csca_id, None)
            result.removed.add(csca_id)
    return result


def _hold(csca_id: str | None, cscas_now: CscasAfter, changes: Changes) -> None:
    """A signer this batch writes, vouched for by a CSCA the batch does not write, holds it:
    an admin removing that CSCA meanwhile rolls the batch back instead of leaving the
    signer without its chain."""
    if csca_id is not None and not cscas_now.kept[csca_id][1]:
        changes.hold(repository.dcc_csca_held(csca_id))


async def signer_changes(
    ctx: Context,
    signers: list[Any],
    cscas_now: CscasAfter,
    changes: Changes,
    outcome: RefreshOutcome,
    *,
    now: datetime,
) -> dict[str, bool]:
    """Adds, replaces and removes this URL's signers. Returns every kid trusted once the
    batch commits, True where this batch writes it (False: trusted already, untouched)."""
    stored = {d["_id"]: d for d in await repository.dcc_signers(ctx.store)}
    trusted = dict.fromkeys(stored, False)
    seen: set[str] = set()
    by = cscas_now.by_country()
    for raw in signers:
        try:
            (entry,) = _signers.validate_python([raw])
            signer, fields = dcc_signer_fields(entry.certificate, entry.country, now=now)
            fields["csca"] = vouching_csca(signer.certificate, entry.country, by)
        except (ValidationError, InvalidTrustEntry, TrustEntryInvalid):
            outcome.skipped += 1
            continue
        kid = kid_text(signer.kid)
        seen.add(kid)
        previous = stored.get(kid)
        if previous is not None and previous.get("source") != changes.url:
            continue  # an admin's entry (or another URL's) stays as it is
        if not _same(previous, fields):
            _hold(fields["csca"], cscas_now, changes)
            changes.add(
                repository.put_dcc_signer(kid, {**fields, "source": changes.url}), f"dcc:{kid}"
            )
            trusted[kid] = True
    for kid, document in stored.items():
        ours = document.get("source") == changes.url and kid not in seen
        # A signer whose CSCA this batch removes goes with it (by the CSCA's delete), unless
        # the bundle writes it again vouched for by another.
        unchained = document.get("csca") in cscas_now.removed and not trusted[kid]
        if ours:
            changes.add(repository.delete_dcc_signer(kid), f"-dcc:{kid}")
        elif unchained:
            changes.names.append(f"-dcc:{kid}")
        elif document.get("csca") is None and (adopter := cscas.adopter(document, by)) is not None:
            _hold(adopter, cscas_now, changes)
            changes.add(repository.vouch_for_signer(kid, adopter), f"adopt:{kid}")
        if ours or unchained:
            del trusted[kid]  # its revocation lists go too (`revocation_changes`)
    return trusted


async def issuer_changes(
    ctx: Context, issuers: list[Any], changes: Changes, outcome: RefreshOutcome, *, now: datetime
) -> None:
    stored = {d["_id"]: d for d in await repository.shc_issuers(ctx.store)}
    seen: set[str] = set()
    for raw in issuers:
        try:
            (issuer,) = _issuers.validate_python([raw])
            fields = shc_issuer_fields(issuer, now=now)
        except (ValidationError, InvalidTrustEntry):
            outcome.skipped += 1
            continue
        seen.add(issuer.iss)
        previous = stored.get(issuer.iss)
        if previous is not None and previous.get("source") != changes.url:
            continue
        if not _same(previous, fields):
            fields = {**fields, "source": changes.url}
            changes.add(repository.put_shc_issuer(issuer.iss, fields), f"shc:{issuer.iss}")
    for iss, document in stored.items():
        if document.get("source") == changes.url and iss not in seen:
            changes.add(repository.delete_shc_issuer(iss), f"-shc:{iss}")


async def revocation_changes(
    ctx: Context,
    lists: list[Any],
    trusted_kids: dict[str, bool],
    changes: Changes,
    outcome: RefreshOutcome,
    *,
    now: datetime,
) -> None:
    """This URL's revocation lists, each for a signer trusted once the batch commits (one
    already trusted is held by a precondition, so an admin untrusting it meanwhile rolls
    the batch back instead of leaving an orphan list)."""
    stored = {d["_id"]: d for d in await repository.dcc_revocations(ctx.store)}
    seen: set[str] = set()
    for raw in lists:
        try:
            (entry,) = _revocations.validate_python([raw])
            hashes = sorted(entry_text(h) for h in parse_hashes(entry.hashes))
        except (ValidationError, TrustEntryInvalid):
            outcome.skipped += 1
            continue
        if entry.kid not in trusted_kids:
            outcome.skipped += 1  # a list for a signer nobody trusts revokes nothing
            continue
        list_id = repository.revocations_id(entry.kid, entry.hash_type)
        seen.add(list_id)
        previous = stored.get(list_id)
        if previous is not None and previous.get("source") != changes.url:
            continue  # an admin's list stays as it is
        if previous is not None and previous.get("hashes") == hashes:
            continue
        fields = {"hashes": hashes, "count": len(hashes), "changed_at": now, "source": changes.url}
        put = repository.put_dcc_revocations(entry.kid, entry.hash_type, fields)
        changes.add(put, f"rev:{list_id}")
        if not trusted_kids[entry.kid]:
            changes.hold(repository.dcc_signer_held(entry.kid))
    for list_id, document in stored.items():
        # Dropped by the bundle, or the signer is (as when an admin untrusts it).
        ours = document.get("source") == changes.url and list_id not in seen
        if ours or document["kid"] not in trusted_kids:
            kid, hash_type = document["kid"], document["hash_type"]
            changes.add(repository.delete_dcc_revocations(kid, [hash_type]), f"-rev:{list_id}")
