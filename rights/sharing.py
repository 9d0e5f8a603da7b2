"""Consented sharing: organisations (registered by an admin) see the current status colour
of a person only while that person's account consents, and each look is in the citizen's
access log.

What an organisation gets is one line per standing consent: the consent's id (an opaque
reference the citizen can hand over, never the person id) and a colour. Nothing else of
the person leaves: no name, no reasons, no history.
"""

from __future__ import annotations

from datetime import timedelta

from core.clock import new_id, utcnow
from core.context import Context
from core.errors import Forbidden, NotFound
from core.principals import Principal
from core.storage import Operation
from people.repository import get_person
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


async def create_organisation(
    ctx: Context, admin: Principal, body: OrganisationIn
) -> OrganisationOut:
    now = utcnow()
    organisation_id = new_id("org")
    document = {"_id": organisation_id, "name": body.name.strip(), "created_at": now}
    await ctx.store.write(
        [
            repository.insert_organisation(document),
            audited_change(admin, "organisation.create", {}, now=now, target=organisation_id),
        ]
    )
    return OrganisationOut(id=organisation_id, name=document["name"], created_at=now)


async def grant(ctx: Context, citizen: Principal, body: ConsentIn) -> ConsentOut:
    """A consent for one of the account's people. A standing consent of that person to the
    same organisation is replaced (revoked in the same batch), so an organisation never
    sees one person twice."""
    if body.days > ctx.settings.consent_max_days:
        raise ConsentTooLong()
    person = await get_person(ctx.store, body.person_id)
    if person is None or person.get("account_id") != citizen.subject:
        raise NotFound()
    organisation = await repository.organisation(ctx.store, body.organisation_id)
    if organisation is None:
        raise OrganisationUnknown()
    now = utcnow()
    document = {
        "_id": new_id("cns"),
        "account_id": citizen.subject,
        "person_id": body.person_id,
        "organisation_id": body.organisation_id,
        "granted_at": now,
        "expires_at": now + timedelta(days=body.days),
        "revoked_at": None,
    }
    ops: list[Operation] = [
        repository.revoke_consent(str(c["_id"]), now=now)
        for c in await repository.consents_of_person(ctx.store, body.person_id)
        if c["organisation_id"] == body.organisation_id
        and c.get("revoked_at") is None
        and c["expires_at"] > now
    ]
    await ctx.store.write([*ops, repository.insert_consent(document)])
    return await consent_view(ctx, document, {body.organisation_id: str(organisation["name"])})


async def revoke(ctx: Context, citizen: Principal, consent_id: str) -> None:
    """At any time; revoking again changes nothing (still a 204)."""
    consent = await repository.consent(ctx.store, consent_id)
    if consent is None or consent.get("account_id") != citizen.subject:
        raise NotFound()
    await ctx.store.write([repository.revoke_consent(consent_id, now=utcnow())])


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
