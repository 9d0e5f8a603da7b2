"""Confirming a case: the person turns red, and everyone scanned or checked in at the
same checkpoint around the same time is held yellow by tracing for the look-back (a green
one loses their live codes; a red one stays red, the hold remembered), followed up by
monitoring and told. Someone confirmed as a case is not another case's contact.

A case is one person record, the one the officer names (see `case_record`): anyone
can declare a "dependant" with a stranger's identity number, so records that merely carry
the same number never share a case's status or message, and contacts come only from the
confirmed record's own visits. One case per person per episode (the lookback window).

The case runs person by person (see `contacts.write_change`), so a crash half-way leaves a
consistent state and confirming the case again finishes the job: people already red from a
case, and contacts held by tracing since the case was opened, are skipped, so nobody is
notified twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from checkpoints import repository
from checkpoints.case_record import patient_record
from checkpoints.contacts import (
    MAX_ATTEMPTS,
    Change,
    exposure_lookback,
    find_contacts,
    held_by_tracing,
    is_a_case,
    write_change,
)
from checkpoints.schemas import CaseRequest
from core.clock import as_stored, local_day, new_id, utcnow
from core.context import Context
from core.errors import NotFound, Overloaded, ValidationFailed
from core.i18n import Text
from core.logging import log_event
from core.principals import Principal
from core.storage import Document, DuplicateKey, Operation, PreconditionFailed
from monitoring.service import open_contact_episode
from people.repository import get_person, person_held, set_status
from qr.revocations import revoke_live_tokens
from reports.audit import access_entry
from reports.counters import count_case

log = logging.getLogger(__name__)


class CaseContended(Overloaded):
    code = "case_contended"
    title = Text("Try again", "Vui lòng thử lại")
    detail = Text(
        "Several confirmations of this person arrived at once. Send it again.",
        "Nhiều xác nhận ca bệnh cho người này đến cùng lúc. Vui lòng gửi lại.",
    )


@dataclass(frozen=True)
class OpenCase:
    id: str
    confirmed_at: datetime
    opened_at: datetime  # when the case was first confirmed: its tracing began then


@dataclass(frozen=True)
class CaseOutcome:
    id: str
    contacts: int
    notified: int
    confirmed_at: datetime


async def confirm_case(
    ctx: Context, officer: Principal, body: CaseRequest, *, now: datetime | None = None
) -> CaseOutcome:
    """`now` lets the map's tests seed cases confirmed on past days, as they were then."""
    now = now or utcnow()
    lookback = exposure_lookback(ctx)
    # In UTC to the millisecond, as stored: confirming again answers the date read back
    # from the store, and it must be the one the first answer gave, written the same way.
    confirmed_at = now if body.confirmed_at is None else as_stored(body.confirmed_at)
    if confirmed_at < now - lookback:
        # Tracing looks back from the confirmation: years back, it would sweep every
        # visit ever stored.
        raise ValidationFailed.of_field(
            "confirmed_at",
            Text(
                f"must lie within the last {lookback.days} days",
                f"phải nằm trong {lookback.days} ngày gần nhất",
            ),
        )
    person = await patient_record(ctx, officer, body, now)
    person_id = str(person["_id"])
    case = await _open_case(ctx, officer, person, confirmed_at, now)
    day = local_day(case.confirmed_at).isoformat()
    # Confirmed before (this case, or one racing it): no second status change or message.
    notifications = await write_change(
        ctx,
        person,
        _turn_red(ctx, {"code": "confirmed_case", "day": day}),
        kind="status_change",
        params={"status": "red", "reason_code": "confirmed_case"},
    )
    # Only the confirmed record's own visits: never another record's with the same number.
    since = case.confirmed_at - lookback
    contacts = await find_contacts(ctx, person_id, since=since, until=now)
    contacts.pop(person_id, None)
    # A confirmed case is followed as a case, not as the contact of another.
    for contact_id in sorted(contacts):
        if await is_a_case(ctx, contact_id, now):
            del contacts[contact_id]
    notified = 0
    for contact_id, seen_at in sorted(contacts.items()):
        contact = await get_person(ctx.store, contact_id)
        if contact is None:
            continue
        exposure_day = local_day(seen_at)
        sent = await write_change(
            ctx,
            contact,
            held_by_tracing(
                ctx, {"code": "exposure", "day": exposure_day.isoformat()}, opened_at=case.opened_at
            ),
            kind="exposure",
            params={"day": exposure_day.isoformat()},
            also=await open_contact_episode(ctx, contact, exposure_day=exposure_day, now=now),
        )
        notified += bool(sent)
        notifications += sent
    await ctx.store.write(
        [repository.record_tracing(case.id, contacts=len(contacts), notified=notified)]
    )
    if notifications:
        await ctx.dispatcher.dispatch(notifications)
    stored = await repository.case(ctx.store, case.id)
    total = int(stored["notified"]) if stored is not None else notified
    log_event(log, "case confirmed", case_id=case.id, contacts=len(contacts), notified=notified)
    return CaseOutcome(case.id, len(contacts), total, case.confirmed_at)


async def _open_case(
    ctx: Context, officer: Principal, person: Document, confirmed_at: datetime, now: datetime
) -> OpenCase:
    """The person's case for this episode (the lookback window after it was opened) and
    its confirmation date: the open one if there is one, else a new one, counted on the
    public map once. Officers racing to confirm the same person meet on the episode
    document, so they share one case.

    The confirmation is in the citizen's access log once (`case_confirmed`, the officer's
    role), written in the batch that opens the case: confirming it again (a retry, a second
    officer) changes nothing and adds nothing, and an earlier date is its own entry
    (`case_backdated`) in the batch that moves it."""
    person_id = str(person["_id"])
    for _ in range(MAX_ATTEMPTS):
        episode = await repository.case_episode(ctx.store, person_id)
        if episode is not None and episode["until"] > now:
            case_id = str(episode["case_id"])
            stored = await repository.case(ctx.store, case_id)
            opened_at = (
                stored["created_at"] if stored else episode["until"] - exposure_lookback(ctx)
            )
            if confirmed_at < episode["confirmed_at"]:
                backdated = repository.backdate_case(case_id, person_id, confirmed_at)
                moved = _audited(officer, "case_backdated", person_id, case_id, now)
                try:
                    await ctx.store.write([*backdated, moved, person_held(person_id)])
                except PreconditionFailed:
                    raise NotFound() from None  # DELETE /v1/people/{id} began meanwhile
                return OpenCase(case_id, confirmed_at, opened_at)
            return OpenCase(case_id, episode["confirmed_at"], opened_at)
        case_id = new_id("case")
        document = {
            "_id": case_id,
            "person_id": person_id,
            "person_ids": [person_id],
            "confirmed_at": confirmed_at,
            "created_by": officer.subject,
            "created_at": now,
            "contacts": 0,
            "notified": 0,
            "expires_at": now + timedelta(days=ctx.settings.retention_days),
        }
        ops: list[Operation] = [
            *_counted_for_the_map(person, confirmed_at),
            repository.insert_case(document),
            repository.open_episode(
                person_id,
                case_id,
                confirmed_at=confirmed_at,
                until=now + exposure_lookback(ctx),
                previous=episode,
            ),
            _audited(officer, "case_confirmed", person_id, case_id, now),
            # The case names the person: only while their erasure has not begun.
            person_held(person_id),
        ]
        try:
            await ctx.store.write(ops)
        except PreconditionFailed as failed:
            if failed.collection == "people":  # DELETE /v1/people/{id} began meanwhile
                raise NotFound() from None
            continue  # another officer opened it first: use theirs
        except DuplicateKey:
            continue
        return OpenCase(case_id, confirmed_at, now)
    raise CaseContended()


def _audited(
    officer: Principal, action: str, person_id: str, case_id: str, now: datetime
) -> Operation:
    """The audit entry of an officer confirming this person as a case, or moving its date:
    the citizen's access log shows it (the officer's role and when, never who)."""
    return access_entry(officer, action, person_id=person_id, subject_id=case_id, now=now)


def _counted_for_the_map(person: Document, confirmed_at: datetime) -> list[Operation]:
    """One case on the public map, where the person last declared living, on the day it
    was confirmed."""
    province, ward = person.get("province"), person.get("ward")
    if not isinstance(province, int) or not isinstance(ward, int):
        return []
    return [*count_case(local_day(confirmed_at), province, ward)]


def _turn_red(ctx: Context, reason: dict[str, str]) -> Change:
    """The confirmed person turns red and their live codes are revoked; someone already red
    from a case (this one confirmed again, or by two officers at once) is left alone."""

    async def change(person: Document, now: datetime) -> list[Operation] | None:
        if (person.get("status"), person.get("status_source")) == ("red", "case"):
            return None
        person_id = str(person["_id"])
        return [
            set_status(person, "red", [reason], source="case", now=now),
            *await revoke_live_tokens(ctx.store, person_id, reason="case", now=now),
        ]

    return change
