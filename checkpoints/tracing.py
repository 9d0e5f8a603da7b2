"""Contact tracing: a confirmed case turns red, and everyone scanned or checked in at the
same checkpoint around the same time turns yellow, loses their live codes and is told.

Each person's change is one atomic batch: the status compare-and-set, the revocation of
their live codes, and the outbox notification. A lost race re-reads the person and tries
again. The case runs person by person, so a crash half-way leaves a consistent state and
confirming the case again finishes the job: people already red from a case, and contacts
already yellow or red, are skipped, so nobody is notified twice.

Privacy: a contact's status reason and notification name only the day of the exposure,
never who the case is or where exactly it happened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from accounts import repository as accounts_repository
from checkpoints import repository
from checkpoints.schemas import CaseRequest
from core.clock import local_day, new_id, utcnow
from core.context import Context
from core.errors import NotFound
from core.logging import log_event
from core.principals import Principal
from core.storage import Document, Operation, PreconditionFailed
from notifications.outbox import Kind, new_notification
from people.identity import id_number_hash, normalise_id_number
from people.repository import get_person, people_by_id_hash, set_status
from people.status import SEVERITY, Status
from qr.revocations import revoke_live_tokens
from reports.counters import count_case

log = logging.getLogger(__name__)

_MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Visit:
    checkpoint_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class CaseOutcome:
    id: str
    contacts: int
    notified: int
    confirmed_at: datetime


async def confirm_case(ctx: Context, officer: Principal, body: CaseRequest) -> CaseOutcome:
    now = utcnow()
    confirmed_at = body.confirmed_at or now
    if body.person_id is not None:
        found = await get_person(ctx.store, body.person_id)
        cases = [found] if found is not None else []
    else:
        assert body.id_number is not None
        number = normalise_id_number(body.id_number)
        cases = await people_by_id_hash(ctx.store, id_number_hash(ctx, number))
    if not cases:
        raise NotFound()
    case_id = new_id("case")
    day = local_day(confirmed_at).isoformat()
    notifications: list[str] = []
    for person in cases:
        if person.get("status") == "red" and person.get("status_source") == "case":
            continue  # confirmed before: no second status change, no second message
        sent = await _change_status(
            ctx,
            person,
            "red",
            source="case",
            reason={"code": "confirmed_case", "day": day},
            kind="status_change",
            params={"status": "red", "reason_code": "confirmed_case"},
            force=True,
        )
        notifications += sent
    case_ids = {str(person["_id"]) for person in cases}
    contacts = await _find_contacts(ctx, cases, since=confirmed_at - _lookback(ctx), until=now)
    notified = 0
    for person_id, seen_at in sorted(contacts.items()):
        if person_id in case_ids:
            continue
        contact = await get_person(ctx.store, person_id)
        if contact is None:
            continue
        exposure_day = local_day(seen_at).isoformat()
        sent = await _change_status(
            ctx,
            contact,
            "yellow",
            source="tracing",
            reason={"code": "exposure", "day": exposure_day},
            kind="exposure",
            params={"day": exposure_day},
        )
        notified += bool(sent)
        notifications += sent
    contact_count = len(set(contacts) - case_ids)
    await ctx.store.write(
        [
            *_counted_for_the_map(cases, confirmed_at),
            repository.insert_case(
                {
                    "_id": case_id,
                    "person_ids": sorted(case_ids),
                    "confirmed_at": confirmed_at,
                    "created_by": officer.subject,
                    "created_at": now,
                    "contacts": contact_count,
                    "notified": notified,
                    "expires_at": now + timedelta(days=ctx.settings.retention_days),
                }
            ),
        ]
    )
    if notifications:
        await ctx.dispatcher.dispatch(notifications)
    log_event(log, "case confirmed", case_id=case_id, contacts=contact_count, notified=notified)
    return CaseOutcome(case_id, contact_count, notified, confirmed_at)


def _counted_for_the_map(cases: list[Document], confirmed_at: datetime) -> list[Operation]:
    """One case on the public map, where the person last declared living (the newest of
    the records found), on the day it was confirmed."""
    person = max(cases, key=lambda p: str(p.get("last_declared_at") or p.get("created_at")))
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
    ctx: Context, cases: list[Document], *, since: datetime, until: datetime
) -> dict[str, datetime]:
    """Everyone at a case's checkpoint within ± the exposure window of the case's visit,
    with the latest time they were seen there."""
    window = timedelta(minutes=ctx.settings.exposure_window_minutes)
    contacts: dict[str, datetime] = {}

    def seen(person_id: Any, at: datetime) -> None:
        if isinstance(person_id, str) and at <= until:
            contacts[person_id] = max(at, contacts.get(person_id, at))

    for person in cases:
        for visit in await _visits(ctx, str(person["_id"]), since=since):
            start, end = visit.start - window, visit.end + window
            for other in await repository.scans_at(
                ctx.store, visit.checkpoint_id, start=start, end=end
            ):
                seen(other["person_id"], other["at"])
            for other in await repository.checkins_at(
                ctx.store, visit.checkpoint_id, start=start, end=end
            ):
                # The moment of overlap closest to the case's visit dates the exposure.
                seen(other["person_id"], min(other["last_seen_at"], end))
    return contacts


async def _change_status(
    ctx: Context,
    person: Document,
    status: Status,
    *,
    source: Literal["case", "tracing"],
    reason: dict[str, str],
    kind: Kind,
    params: dict[str, str | int],
    force: bool = False,
) -> list[str]:
    """Worsen one person's status with its revocations and notification, atomically.
    Returns the queued notification id (none when nothing changed or nobody to tell).
    Without `force`, someone already as bad or worse is left alone."""
    for _ in range(_MAX_ATTEMPTS):
        if not force and SEVERITY[str(person.get("status"))] >= SEVERITY[status]:
            return []
        now = utcnow()
        person_id = str(person["_id"])
        ops: list[Operation] = [set_status(person, status, [reason], source=source, now=now)]
        ops += await revoke_live_tokens(ctx.store, person_id, reason=source, now=now)
        notification_id = None
        phone = await _account_phone(ctx, str(person.get("account_id")))
        if phone is not None:
            notification_id, entry = new_notification(
                ctx.cipher, kind=kind, phone=phone, locale="vi", params=params
            )
            ops.append(entry)
        try:
            await ctx.store.write(ops)
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
