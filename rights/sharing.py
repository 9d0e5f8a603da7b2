"""Consented sharing: organisations (registered by an admin) see the current status colour
of a person only while that person's account consents, and each look is in the citizen's
access log.

What an organisation gets is one line per standing consent: the consent's id (an opaque
reference the citizen can hand over, never the person id) and a colour. Nothing else of
the person leaves: no name, no reasons, no history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core.clock import new_id, utcnow
from core.context import Context
from core.errors import Forbidden, NotFound
from core.idempotency import first_answer, keep_answer, retry_of, winner_of
from core.principals import Principal
from core.storage import Document, DuplicateKey, Operation, PreconditionFailed
from people.repository import get_person, person_held
from reports.audit import access_entry, audited_change
from rights import repository
from rights.errors import ConsentTooLong, OrganisationUnknown
from rights.export import consent_view
from rights.schemas import (
    ConsentIn,
    ConsentingStatus,
    ConsentOut,
    OrganisationIn,
    OrganisationOut,
    OrganisationStatuses,
)

STATUS_READ = "organisation_status_read"


@dataclass(frozen=True)
class Registered:
    """The answer to `POST /v1/organisations`, and whether it is the first answer to an
    earlier request with the same Idempotency-Key, sent again."""

    organisation: OrganisationOut
    replayed: bool


async def create_organisation(
    ctx: Context, admin: Principal, body: OrganisationIn, *, idempotency_key: str | None = None
) -> Registered:
    """An organisation. With an Idempotency-Key (the admin's own), a request sent again
    gets the first answer and registers nothing more: citizens would otherwise see the
    same employer twice, and consent to one while its account reads the other."""
    retry = retry_of(ctx, "organisation", admin, idempotency_key, body)
    first = await first_answer(ctx, retry, OrganisationOut)
    if first is not None:
        return Registered(first, replayed=True)
    now = utcnow()
    organisation_id = new_id("org")
    document = {"_id": organisation_id, "name": body.name, "created_at": now}
    created = OrganisationOut(id=organisation_id, name=body.name, created_at=now)
    ops: list[Operation] = [
        repository.insert_organisation(document),
        audited_change(admin, "organisation.create", {}, now=now, target=organisation_id),
    ]
    if retry is not None:
        ops.insert(0, keep_answer(retry, "organisation", created, now=now))
    try:
        await ctx.store.write(ops)
    except DuplicateKey as clash:
        return Registered(await winner_of(ctx, retry, clash, OrganisationOut), replayed=True)
    return Registered(created, replayed=False)


@dataclass(frozen=True)
class Granted:
    """The answer to `POST /v1/consents`, and whether it is the first answer to an earlier
    request with the same Idempotency-Key, sent again."""

    consent: ConsentOut
    replayed: bool


async def grant(
    ctx: Context,
    citizen: Principal,
    body: ConsentIn,
    *,
    idempotency_key: str | None = None,
) -> Granted:
    """A consent for one of the account's people, or, for an Idempotency-Key already used
    with the same body, the first answer again: a phone that lost the answer and sends
    again keeps the consent id it is told of, and a late retry never grants anew what the
    citizen revoked since.

    A standing consent of that person to the same organisation for the same number of days
    is kept (same id: the reference the organisation holds) and runs `days` from now: a
    retry without a key and a renewal both ask for that, and neither should show the
    organisation a new reference. One for another number of days is replaced (revoked in
    the same batch), so an organisation never sees one person twice: grants racing each
    other (a phone sending twice at once without a key) clash on the pair's marker, and the
    loser reads again, so it answers with the winner's consent."""
    if body.days > ctx.settings.consent_max_days:
        raise ConsentTooLong(ctx.settings.consent_max_days)
    person = await get_person(ctx.store, body.person_id)
    if person is None or person.get("account_id") != citizen.subject:
        raise NotFound()
    organisation = await repository.organisation(ctx.store, body.organisation_id)
    if organisation is None:
        raise OrganisationUnknown()
    # After the checks above, so a replay tells no more than a first request would (an
    # erased person is 404, and their kept answers went with them).
    retry = retry_of(ctx, "consent", citizen, idempotency_key, body)
    first = await first_answer(ctx, retry, ConsentOut)
    if first is not None:
        return Granted(first, replayed=True)
    names: dict[str, str | None] = {body.organisation_id: str(organisation["name"])}
    now = utcnow()
    # Read before the consents: the batch below holds only if the marker is still as read,
    # so any grant that committed after this read makes ours fail and read again.
    marker = await repository.standing_marker(ctx.store, body.person_id, body.organisation_id)
    standing = [
        c
        for c in await repository.consents_of_person(ctx.store, body.person_id)
        if c["organisation_id"] == body.organisation_id
        and c.get("revoked_at") is None
        and c["expires_at"] > now
    ]
    same = next((c for c in reversed(standing) if _term_days(c) == body.days), None)
    if same is not None:
        document = {**same, "expires_at": now + timedelta(days=body.days)}
        ops: list[Operation] = [
            repository.renew_consent(str(same["_id"]), expires_at=document["expires_at"]),
            *(repository.revoke_consent(str(c["_id"]), now=now) for c in standing if c is not same),
        ]
    else:
        document = {
            "_id": new_id("cns"),
            "account_id": citizen.subject,
            "person_id": body.person_id,
            "organisation_id": body.organisation_id,
            "days": body.days,
            "granted_at": now,
            "expires_at": now + timedelta(days=body.days),
            "revoked_at": None,
        }
        ops = [
            *(repository.revoke_consent(str(c["_id"]), now=now) for c in standing),
            repository.insert_consent(document),
        ]
    ops.append(repository.claim_standing(document, was=marker))
    granted = await consent_view(ctx, document, names)
    if retry is not None:
        # It names the person, so their erasure (or their account's) deletes it.
        ops.insert(0, keep_answer(retry, "consent", granted, now=now, person_id=body.person_id))
    # Only while the person is there: an erasure that began after our read takes them.
    ops.append(person_held(body.person_id))
    try:
        await ctx.store.write(ops)
    except DuplicateKey as clash:
        if clash.collection == repository.STANDING.name:
            # Another grant for the pair landed between our reads and our write: to the
            # citizen it is the same consent, so read again and keep (or replace) that one.
            return await grant(ctx, citizen, body, idempotency_key=idempotency_key)
        return Granted(await winner_of(ctx, retry, clash, ConsentOut), replayed=True)
    except PreconditionFailed as failed:
        if failed.collection == "people":  # DELETE /v1/people/{id} began meanwhile
            raise NotFound() from None
        # The kept consent was revoked (or purged), or another grant moved the pair's
        # marker, between our read and our write: read again.
        return await grant(ctx, citizen, body, idempotency_key=idempotency_key)
    return Granted(granted, replayed=False)


def _term_days(consent: Document) -> int:
    """The number of days a consent was asked for. Consents stored before `days` was kept
    were never renewed, so their term is the time from grant to end."""
    days = consent.get("days")
    if isinstance(days, int):
        return days
    # Rounded: a store that keeps milliseconds may have cut either end.
    term: timedelta = consent["expires_at"] - consent["granted_at"]
    return round(term / timedelta(days=1))


async def revoke(ctx: Context, citizen: Principal, consent_id: str) -> None:
    """At any time; revoking again changes nothing (still a 204)."""
    consent = await repository.consent(ctx.store, consent_id)
    if consent is None or consent.get("account_id") != citizen.subject:
        raise NotFound()
    await ctx.store.write(
        [repository.revoke_consent(consent_id, now=utcnow()), repository.release_standing(consent)]
    )


async def statuses(ctx: Context, caller: Principal, organisation_id: str) -> OrganisationStatuses:
    """The colours of the people consenting to this organisation now, each look written to
    the audit log under the person (their access log) in one batch with the others: no
    entry, no colours."""
    if caller.organisation != organisation_id:
        raise Forbidden()
    if await repository.organisation(ctx.store, organisation_id) is None:
        raise NotFound()
    now = utcnow()
    items: list[ConsentingStatus] = []
    reads: list[Operation] = []
    for consent in await repository.standing_consents(ctx.store, organisation_id, now=now):
        person = await get_person(ctx.store, str(consent["person_id"]))
        if person is None:
            continue
        items.append(ConsentingStatus(reference=str(consent["_id"]), status=str(person["status"])))
        reads.append(
            access_entry(
                caller,
                STATUS_READ,
                person_id=str(person["_id"]),
                subject_id=str(consent["_id"]),
                now=now,
            )
        )
    if reads:
        await ctx.store.write(reads)
    return OrganisationStatuses(organisation_id=organisation_id, as_of=now, items=items)
