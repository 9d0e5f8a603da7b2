"""The contact card of one episode: how the officer who calls or visits reaches the person.

The worklist names nobody (a list is a bulk read); an officer opens one episode at a time
and sees the name, the phone to call and the street, and each such read is an audit entry
(`monitoring_contact`) that the citizen's access log and `khaibao audit` show.

Whom to call: a person's own phone; for a dependant declared without one (a child, an
elderly parent), the phone of the account that declares them, as reminders and alerts do.
An arrival's traveller is read from what entry handed over with the arrival
(`arrival_contact`, encrypted in the `monitoring_arrivals` document written in the entry
declaration's batch), so monitoring never reads another domain's records; a traveller may
give an email and no phone, so the email is handed over and shown too.

Where: the episode's province and ward, always. An episode opened by tracing has no street
of its own; the person's latest declaration gives it only when it is in the episode's ward.
If the person has since declared a home elsewhere, the card shows no street and says so
(`moved_out_of_area`) without saying where: that address may lie outside the officer's area,
and another area's street labelled with this ward would send the officer to the wrong door.

The audit entry of a person's card carries `person_held`: an entry committed after the
person's erasure began would keep their id after the erasure anonymised the rest, so the
read then answers 404, as for a person already gone.

A closed episode's card stays readable for `CLOSED_DAYS` after closing (a last call after
`became_case`, another try after `lost`, a close by mistake), then is `410`: the episode is
still listed among the closed ones for the retention period, but nobody needs to reach the
person any more.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson

from accounts import repository as accounts_repository
from core.clock import utcnow
from core.context import Context
from core.crypto import FieldCipher
from core.errors import AppError, NotFound
from core.i18n import Text
from core.logging import log_event
from core.principals import Principal
from core.storage import Document, Operation, PreconditionFailed
from declarations import repository as declarations_repository
from monitoring import repository
from monitoring.episodes import STREET_CONTEXT, episode_for, viewed
from monitoring.schemas import ContactCard
from people import repository as people_repository

log = logging.getLogger(__name__)

# How long after closing an officer may still read a closed episode's card.
CLOSED_DAYS = 7
# The traveller's contact in the arrival that entry hands over (name, phone, email, birth
# year and the stay's street, one ciphertext): bound to this field, as every encrypted field is.
ARRIVAL_CONTACT_CONTEXT = "monitoring.arrival_contact"
# What the handed-over contact holds, kept beside it (`contact_version`) so `db migrate`
# finds the arrivals whose contact is older (none: before 1; 1: without the email).
ARRIVAL_CONTACT_VERSION = 2


class ContactClosed(AppError):
    status = 410
    code = "monitoring_contact_closed"
    title = Text("Contact no longer shown", "Không còn hiển thị thông tin liên lạc")
    detail = Text(
        f"This monitoring episode closed more than {CLOSED_DAYS} days ago; its contact card "
        "is no longer shown.",
        f"Đợt theo dõi này đã kết thúc hơn {CLOSED_DAYS} ngày; thông tin liên lạc không còn "
        "được hiển thị.",
    )


def arrival_contact(
    cipher: FieldCipher,
    *,
    full_name: str,
    phone: str | None,
    email: str | None,
    birth_year: int | None,
    street: str,
) -> str:
    """The encrypted traveller's contact that entry hands over with an arrival (and that
    `db migrate` adds to an arrival handed over before: `entry.handover`)."""
    plain = {
        "full_name": full_name,
        "phone": phone,
        "email": email,
        "birth_year": birth_year,
        "street": street,
    }
    return cipher.encrypt(orjson.dumps(plain).decode(), context=ARRIVAL_CONTACT_CONTEXT)


async def contact_card(
    ctx: Context, officer: Principal, episode_id: str, *, now: datetime | None = None
) -> ContactCard:
    """The card of an episode in the officer's area (anything else is 404, as for an unknown
    id), audited in a write of its own before anything is shown."""
    now = now or utcnow()
    episode = await episode_for(ctx, officer, episode_id)
    closed_at = episode.get("closed_at")
    if episode["status"] != "active" and (
        closed_at is None or now - closed_at > timedelta(days=CLOSED_DAYS)
    ):
        raise ContactClosed()
    audit: list[Operation] = [viewed(officer, "monitoring_contact", episode, now)]
    if episode.get("person_id") is not None:
        fields = await _person(ctx, episode)
        audit.append(people_repository.person_held(str(episode["person_id"])))
    else:
        fields = await _arrival(ctx, episode)
    try:
        await ctx.store.write(audit)
    except PreconditionFailed as failed:
        if failed.collection == "people":  # the person's erasure began since they were read
            raise NotFound() from None
        raise
    log_event(log, "monitoring contact shown", episode_id=episode["_id"], by=officer.subject)
    return ContactCard(
        episode_id=episode["_id"],
        person_id=episode.get("person_id"),
        entry_declaration_id=episode.get("entry_declaration_id"),
        status=episode["status"],
        province=episode["province"],
        ward=episode["ward"],
        place=episode["place"],
        **fields,
    )


async def _person(ctx: Context, episode: Document) -> dict[str, Any]:
    person = await people_repository.get_person(ctx.store, str(episode["person_id"]))
    if person is None:  # erased since: nothing of them is left to show
        raise NotFound()
    phone = _decrypt(ctx, person, "phone_enc", people_repository.PHONE_CONTEXT)
    phone_of: Literal["self", "account_holder"] = "self"
    if phone is None:
        account_id = str(person.get("account_id"))
        account = await accounts_repository.account(ctx.store, account_id)
        phone = _decrypt(ctx, account, "phone_enc", accounts_repository.PHONE_CONTEXT)
        phone_of = "account_holder"
    street = _decrypt(ctx, episode, "street_enc", STREET_CONTEXT)
    moved = False
    if street is None:  # opened by tracing, at the home the person's declarations give
        latest = await declarations_repository.latest_declaration_of_person(
            ctx.store, str(person["_id"])
        )
        if latest is not None and _same_place(latest, episode):
            street = _decrypt(ctx, latest, "street_enc", declarations_repository.STREET_CONTEXT)
        else:
            moved = latest is not None
    return {
        "full_name": _decrypt(ctx, person, "name_enc", people_repository.NAME_CONTEXT),
        "phone": phone,
        "phone_of": _phone_of(phone, phone_of),
        "email": None,  # a person's record holds no email
        "relation": person.get("relation"),
        "birth_year": person.get("birth_year"),
        "street": street,
        "moved_out_of_area": moved,
    }


def _same_place(declaration: Document, episode: Document) -> bool:
    """Whether a declaration's home is in the episode's ward (ward codes are national; the
    province is compared too, so a record with one of them missing never matches)."""
    return (declaration.get("province"), declaration.get("ward")) == (
        episode["province"],
        episode["ward"],
    )


async def _arrival(ctx: Context, episode: Document) -> dict[str, Any]:
    arrival = await repository.arrival(ctx.store, str(episode["entry_declaration_id"]))
    sealed = _decrypt(ctx, arrival, "contact_enc", ARRIVAL_CONTACT_CONTEXT)
    # Empty when entry had nothing to hand over (its declaration gone before `db migrate`
    # could add what an older version did not).
    traveller: dict[str, Any] = orjson.loads(sealed) if sealed else {}
    phone = traveller.get("phone")
    return {
        "full_name": traveller.get("full_name"),
        "phone": phone,
        "phone_of": _phone_of(phone, "self"),
        "email": traveller.get("email"),  # absent from a contact handed over before it
        "relation": None,
        "birth_year": traveller.get("birth_year"),
        "street": _decrypt(ctx, episode, "street_enc", STREET_CONTEXT) or traveller.get("street"),
        "moved_out_of_area": False,
    }


def _phone_of(
    phone: str | None, whose: Literal["self", "account_holder"]
) -> Literal["self", "account_holder"] | None:
    return whose if phone is not None else None


def _decrypt(ctx: Context, document: Document | None, field: str, context: str) -> str | None:
    value = document.get(field) if document is not None else None
    return ctx.cipher.decrypt(value, context=context) if value else None
