"""Contacts of a case: finding everyone at the case's checkpoints around the case's visits,
and holding each yellow by tracing, one person's change at a time.

Each person's change is one atomic batch: the status compare-and-set, the revocation of
their live codes, and the outbox notification. A lost race re-reads the person and tries
again.

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
from checkpoints import repository
from core.clock import utcnow
from core.context import Context
from core.storage import Document, DuplicateKey, Operation, PreconditionFailed
from monitoring.repository import ACTIVE
from notifications.outbox import Kind, new_notification
from people.repository import (
    SEVERITY,
    Hold,
    active_holds,
    get_person,
    person_held,
    remember_hold,
    set_status,
)
from qr.revocations import revoke_live_tokens

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Visit:
    checkpoint_id: str
    start: datetime
    end: datetime


def exposure_lookback(ctx: Context) -> timedelta:
    return timedelta(days=ctx.settings.exposure_lookback_days)


async def _visits(ctx: Context, person_id: str, *, since: datetime) -> list[Visit]:
    """Where the person was: every scan that identified them (allowed or not — they were
    there either way) and every check-in."""
    scans = await repository.scans_of_person(ctx.store, person_id, since=since)
    checkins = await repository.checkins_of_person(ctx.store, person_id, since=since)
    return [Visit(s["checkpoint_id"], s["at"], s["at"]) for s in scans] + [
        Visit(c["checkpoint_id"], c["arrived_at"], c["last_seen_at"]) for c in checkins
    ]


async def find_contacts(
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


async def is_a_case(ctx: Context, person_id: str, now: datetime) -> bool:
    """Confirmed as a case, and its episode (the look-back after it was opened) runs."""
    episode = await repository.case_episode(ctx.store, person_id)
    return episode is not None and episode["until"] > now


# What one person's change is, given the person as last read and the moment: the
# operations to write with their notification, or None when there is nothing to do.
Change = Callable[[Document, datetime], Awaitable[list[Operation] | None]]


def held_by_tracing(ctx: Context, exposure: dict[str, str], *, opened_at: datetime) -> Change:
    """A contact is held yellow by tracing for the look-back, whatever their status was: a
    green or yellow one turns yellow by tracing (a green one's live codes revoked), a red one
    stays red with tracing's hold remembered for when the red is gone. Either way the reasons
    name the exposure. Someone held by tracing since this case was opened (this case's
    tracing done before, or a later case's) is left alone, so nobody is told twice; an older
    tracing hold is renewed by this exposure."""

    async def change(person: Document, now: datetime) -> list[Operation] | None:
        holds = active_holds(person, now, exposure_lookback(ctx))
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


async def write_change(
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
    for _ in range(MAX_ATTEMPTS):
        now = utcnow()
        ops = await change(person, now)
        if ops is None:
            return []
        person_id = str(person["_id"])
        # The message and the episode name the person: only while their erasure has not
        # begun (a status compare-and-set alone does not see it start).
        ops += [*also, person_held(person_id)]
        notification_id = None
        phone = await account_phone(ctx, str(person.get("account_id")))
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


async def account_phone(ctx: Context, account_id: str) -> str | None:
    """The account holder's phone: alerts for a dependant (a child, a parent without a
    phone) go to the account that declared them."""
    account = await accounts_repository.account(ctx.store, account_id)
    if account is None or not account.get("phone_enc"):
        return None
    return ctx.cipher.decrypt(account["phone_enc"], context=accounts_repository.PHONE_CONTEXT)
