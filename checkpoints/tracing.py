"""Contact tracing: a confirmed case turns red, and everyone scanned or checked in at the
same checkpoint around the same time is held yellow by tracing for the look-back (a green
one loses their live codes; a red one stays red, the hold remembered), followed up by
monitoring and told. Someone confirmed as a case is not another case's contact.

A case is one person record, the one the officer names (see `_patient_record`): anyone
can declare a "dependant" with a stranger's identity number, so records that merely carry
the same number never share a case's status or message, and contacts come only from the
confirmed record's own visits. One case per person per episode (the lookback window).

Each person's change is one atomic batch: the status compare-and-set, the revocation of
their live codes, and the outbox notification. A lost race re-reads the person and tries
again. The case runs person by person, so a crash half-way leaves a consistent state and
confirming the case again finishes the job: people already red from a case, and contacts
held by tracing since the case was opened, are skipped, so nobody is notified twice.

Privacy: a contact's status reason and notification name only the day of the exposure,
never who the case is or where exactly it happened.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from accounts import repository as accounts_repository
from accounts.service import phone_hash
from checkpoints import repository
from checkpoints.schemas import CaseRequest, RecordCandidate
from core.clock import local_day, new_id, utcnow
from core.context import Context
from core.errors import AppError, NotFound, Overloaded, ValidationFailed
from core.i18n import Text
from core.logging import log_event
from core.principals import Principal
from core.storage import Document, DuplicateKey, Operation, PreconditionFailed
from monitoring.repository import ACTIVE
from monitoring.service import open_contact_episode
from notifications.outbox import Kind, new_notification
from people.repository import (
    NAME_CONTEXT,
    SEVERITY,
    Hold,
    active_holds,
    get_person,
    id_number_hash,
    normalise_id_number,
    people_by_id_hash,
    remember_hold,
    set_status,
)
from qr.revocations import revoke_live_tokens
from reports.audit import access_entry
from reports.counters import count_case

log = logging.getLogger(__name__)

_MAX_ATTEMPTS = 5


class ChooseRecord(AppError):
    """`POST /v1/cases` by identity number that names no record for sure: anyone can type
    someone else's identity number on a form, so the number alone never picks a record."""

    status = 409
    code = "choose_record"
    title = Text("Choose the patient's record", "Hãy chọn hồ sơ của người bệnh")
    detail = Text(
        "This identity number is on the records listed (masked). Confirm the patient's own by "
        "person_id, or send the patient's phone (a dependant's: the declaring account's phone).",
        "Số định danh này có trong các hồ sơ được liệt kê (đã che). Hãy xác nhận hồ sơ của người "
        "bệnh theo person_id, hoặc gửi kèm số điện thoại của người bệnh (người phụ thuộc: số của "
        "tài khoản khai báo).",
    )

    def __init__(self, candidates: list[dict[str, object]]) -> None:
        super().__init__(extra={"candidates": candidates})


class CaseContended(Overloaded):
    code = "case_contended"
    title = Text("Try again", "Vui lòng thử lại")
    detail = Text(
        "Several confirmations of this person arrived at once. Send it again.",
        "Nhiều xác nhận ca bệnh cho người này đến cùng lúc. Vui lòng gửi lại.",
    )


@dataclass(frozen=True)
class Visit:
    checkpoint_id: str
    start: datetime
    end: datetime


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
    lookback = _lookback(ctx)
    confirmed_at = body.confirmed_at or now
    if confirmed_at < now - lookback:
        # Tracing looks back from the confirmation: years back, it would sweep every
        # visit ever stored.
        raise ValidationFailed(
            errors=[
                {
                    "field": "confirmed_at",
                    "code": "value_error",
                    "message": Text(
                        f"must lie within the last {lookback.days} days",
                        f"phải nằm trong {lookback.days} ngày gần nhất",
                    ),
                }
            ]
        )
    person = await _patient_record(ctx, officer, body, now)
    person_id = str(person["_id"])
    case = await _open_case(ctx, officer, person, confirmed_at, now)
    day = local_day(case.confirmed_at).isoformat()
    # Confirmed before (this case, or one racing it): no second status change or message.
    notifications = await _write_change(
        ctx,
        person,
        _turn_red(ctx, {"code": "confirmed_case", "day": day}),
        kind="status_change",
        params={"status": "red", "reason_code": "confirmed_case"},
    )
    # Only the confirmed record's own visits: never another record's with the same number.
    since = case.confirmed_at - lookback
    contacts = await _find_contacts(ctx, person_id, since=since, until=now)
    contacts.pop(person_id, None)
    # A confirmed case is followed as a case, not as the contact of another.
    for contact_id in sorted(contacts):
        if await _is_a_case(ctx, contact_id, now):
            del contacts[contact_id]
    notified = 0
    for contact_id, seen_at in sorted(contacts.items()):
        contact = await get_person(ctx.store, contact_id)
        if contact is None:
            continue
        exposure_day = local_day(seen_at)
        sent = await _write_change(
            ctx,
            contact,
            _held_by_tracing(
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


async def _patient_record(
    ctx: Context, officer: Principal, body: CaseRequest, now: datetime
) -> Document:
    """The one record the case is about. By `person_id`, the record the officer chose. By
    `id_number`, never the number alone (anyone can type a stranger's number on a form):
    with `phone`, the record declared by the account signed in with that phone (verified by
    a sign-in code); otherwise 409 with every record carrying the number, masked."""
    if body.person_id is not None:
        found = await get_person(ctx.store, body.person_id)
        # An officer with an area acts only inside it; outside, as for a missing record.
        if found is None or not officer.covers(found.get("province"), found.get("ward")):
            raise NotFound()
        return found
    assert body.id_number is not None
    number = normalise_id_number(body.id_number)
    candidates = [
        person
        for person in await people_by_id_hash(ctx.store, id_number_hash(ctx, number))
        if officer.covers(person.get("province"), person.get("ward"))
    ]
    if not candidates:
        raise NotFound()
    if body.phone is not None:
        account = await accounts_repository.account_by_phone_hash(
            ctx.store, phone_hash(ctx, body.phone)
        )
        for person in candidates:
            if account is not None and person.get("account_id") == account["_id"]:
                return person
    candidates.sort(key=lambda person: person["created_at"])
    shown = [await _masked(ctx, person) for person in candidates]
    # Masked is still personal data shown to staff: audited before it is answered (no entry,
    # no answer), one entry per person so each account's access log finds its own, all
    # under one id, the one showing they were part of.
    showing_id = new_id("shw")
    await ctx.store.write(
        [
            access_entry(
                officer,
                "case_record_shown",
                person_id=str(person["_id"]),
                subject_id=showing_id,
                now=now,
            )
            for person in candidates
        ]
    )
    log_event(
        log,
        "case records shown masked",
        officer=officer.subject,
        records=len(candidates),
        showing_id=showing_id,
    )
    raise ChooseRecord(shown)


async def _masked(ctx: Context, person: Document) -> dict[str, object]:
    name = ""
    if person.get("name_enc"):
        name = ctx.cipher.decrypt(person["name_enc"], context=NAME_CONTEXT)
    phone = await _account_phone(ctx, str(person.get("account_id")))
    return RecordCandidate(
        person_id=str(person["_id"]),
        relation=str(person.get("relation", "self")),
        name_initials=" ".join(word[0].upper() + "." for word in name.split()),
        birth_year=person.get("birth_year"),
        province=person.get("province"),
        ward=person.get("ward"),
        account_phone_ends_with=phone[-3:] if phone else None,
        declared_since=person["created_at"],
        status=person.get("status", "green"),
    ).model_dump(mode="json")


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
    for _ in range(_MAX_ATTEMPTS):
        episode = await repository.case_episode(ctx.store, person_id)
        if episode is not None and episode["until"] > now:
            case_id = str(episode["case_id"])
            stored = await repository.case(ctx.store, case_id)
            opened_at = stored["created_at"] if stored else episode["until"] - _lookback(ctx)
            if confirmed_at < episode["confirmed_at"]:
                backdated = repository.backdate_case(case_id, person_id, confirmed_at)
                moved = _audited(officer, "case_backdated", person_id, case_id, now)
                await ctx.store.write([*backdated, moved])
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
                until=now + _lookback(ctx),
                previous=episode,
            ),
            _audited(officer, "case_confirmed", person_id, case_id, now),
        ]
        try:
            await ctx.store.write(ops)
        except (DuplicateKey, PreconditionFailed):
            continue  # another officer opened it first: use theirs
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


def _lookback(ctx: Context) -> timedelta:
    return timedelta(days=ctx.settings.exposure_lookback_days)


async def _visits(ctx: Context, person_id: str, *, since: datetime) -> list[Visit]:
    """Where the person was: every scan that identified them (allowed or not — they were
    there either way) and every check-in."""
    scans = await repository.scans_of_person(ctx.store, person_id, since=since)
    checkins = await repository.checkins_of_person(ctx.store, person_id, since=since)
    return [Visit(s["checkpoint_id"], s["at"], s["at"]) for s in scans] + [
        Visit(c["checkpoint_id"], c["arrived_at"], c["last_seen_at"]) for c in checkins
    ]


async def _find_contacts(
    ctx: Context, case_person_id: str, *, since: datetime, until: datetime
) -> dict[str, datetime]:
    """Everyone at the case's checkpoints within ± the exposure window of the case's own
    visits, with the latest time they were seen there."""
    window = timedelta(minutes=ctx.settings.exposure_window_minutes)
    longest = timedelta(hours=ctx.settings.visit_max_hours)
    contacts: dict[str, datetime] = {}

    def seen(person_id: Any, at: datetime) -> None:
        if isinstance(person_id, str) and at <= until:
            contacts[person_id] = max(at, contacts.get(person_id, at))

    for visit in await _visits(ctx, case_person_id, since=since):
        start, end = visit.start - window, visit.end + window
        for other in await repository.scans_at(
            ctx.store, visit.checkpoint_id, start=start, end=end
        ):
            seen(other["person_id"], other["at"])
        for other in await repository.checkins_at(
            ctx.store, visit.checkpoint_id, start=start, end=end, longest=longest
        ):
            # The moment of overlap closest to the case's visit dates the exposure.
            seen(other["person_id"], min(other["last_seen_at"], end))
    return contacts


async def _is_a_case(ctx: Context, person_id: str, now: datetime) -> bool:
    """Confirmed as a case, and its episode (the look-back after it was opened) runs."""
    episode = await repository.case_episode(ctx.store, person_id)
    return episode is not None and episode["until"] > now


# What one person's change is, given the person as last read and the moment: the
# operations to write with their notification, or None when there is nothing to do.
Change = Callable[[Document, datetime], Awaitable[list[Operation] | None]]


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


def _held_by_tracing(ctx: Context, exposure: dict[str, str], *, opened_at: datetime) -> Change:
    """A contact is held yellow by tracing for the look-back, whatever their status was: a
    green or yellow one turns yellow by tracing (a green one's live codes revoked), a red one
    stays red with tracing's hold remembered for when the red is gone. Either way the reasons
    name the exposure. Someone held by tracing since this case was opened (this case's
    tracing done before, or a later case's) is left alone, so nobody is told twice; an older
    tracing hold is renewed by this exposure."""

    async def change(person: Document, now: datetime) -> list[Operation] | None:
        holds = active_holds(person, now, _lookback(ctx))
        if any(hold.source == "tracing" and hold.since >= opened_at for hold in holds):
            return None
        person_id = str(person["_id"])
        status = str(person.get("status", "green"))
        if SEVERITY[status] > SEVERITY["yellow"]:
            others = [r for r in person.get("status_reasons", []) if r.get("code") != "exposure"]
            held = Hold("yellow", "tracing", now)
            return [remember_hold(person, held, [*others, exposure], now=now)]
        ops: list[Operation] = [set_status(person, "yellow", [exposure], source="tracing", now=now)]
        if SEVERITY[status] < SEVERITY["yellow"]:
            ops += await revoke_live_tokens(ctx.store, person_id, reason="tracing", now=now)
        return ops

    return change


async def _write_change(
    ctx: Context,
    person: Document,
    change: Change,
    *,
    kind: Kind,
    params: dict[str, str | int],
    also: Sequence[Operation] = (),
) -> list[str]:
    """One person's `change` and the notification to their account, atomically, with `also`
    in the same batch (a contact's monitoring episode) when there is a change. Returns the
    queued notification id (none when nothing changed or nobody to tell). A lost race (the
    status compare-and-set) re-reads the person and asks `change` again."""
    for _ in range(_MAX_ATTEMPTS):
        now = utcnow()
        ops = await change(person, now)
        if ops is None:
            return []
        ops += also
        person_id = str(person["_id"])
        notification_id = None
        phone = await _account_phone(ctx, str(person.get("account_id")))
        if phone is not None:
            notification_id, entry = new_notification(
                ctx.cipher, kind=kind, phone=phone, locale="vi", params=params, about=person_id
            )
            ops.append(entry)
        try:
            await ctx.store.write(ops)
        except DuplicateKey as clash:
            if clash.collection != ACTIVE.name:
                raise
            # An officer opened an episode for them meanwhile: that one follows them up.
            also = ()
            continue
        except PreconditionFailed:
            refreshed = await get_person(ctx.store, person_id)
            if refreshed is None:
                return []
            person = refreshed
            continue
        return [notification_id] if notification_id else []
    log.warning(
        "status change kept losing races", extra={"fields": {"person_id": str(person["_id"])}}
    )
    return []


async def _account_phone(ctx: Context, account_id: str) -> str | None:
    """The account holder's phone: alerts for a dependant (a child, a parent without a
    phone) go to the account that declared them."""
    account = await accounts_repository.account(ctx.store, account_id)
    if account is None or not account.get("phone_enc"):
        return None
    return ctx.cipher.decrypt(account["phone_enc"], context=accounts_repository.PHONE_CONTEXT)
