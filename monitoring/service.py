"""Opening episodes: for an officer's request, for tracing's contacts and for non-green
arrivals; and what closing one sets (an officer's close itself: `monitoring.closing`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from core.clock import local_day, new_id, utcnow
from core.context import Context
from core.errors import Forbidden, NotFound, ValidationFailed
from core.i18n import Text
from core.idempotency import IDEMPOTENCY, Retry, first_answer, keep_answer, retry_of
from core.logging import log_event
from core.principals import Principal
from core.storage import Document, DuplicateKey, Operation, PreconditionFailed
from declarations.rules import rules_for
from monitoring import repository
from monitoring.contact import ARRIVAL_CONTACT_VERSION, arrival_contact
from monitoring.episodes import (
    STREET_CONTEXT,
    AlreadyMonitored,
    urgency_key,
    viewed,
)
from monitoring.schemas import EpisodeCreated, EpisodeIn
from people.repository import get_person, person_held
from reports.counters import count_monitoring_closed, count_monitoring_opened

log = logging.getLogger(__name__)

# How far ahead an episode may be opened to start (see `_start`).
DAYS_AHEAD = 2

# -- opening ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """Who an episode follows: a person of an account, or an arrival."""

    person_id: str | None
    account_id: str | None
    entry_declaration_id: str | None


def episode_document(
    ctx: Context,
    subject: Subject,
    *,
    reason: str,
    place: str,
    province: int,
    ward: int,
    street: str | None,
    starts_on: date,
    days: int | None,
    opened_by: str,
    officer_id: str | None,
    team: str | None,
    now: datetime,
) -> Document:
    """A new active episode, for an officer's request or for tracing and arrivals, which
    put it in their own atomic batch."""
    policy = rules_for(ctx).monitoring
    days = days or policy.days_for(reason)
    ends_on = starts_on + timedelta(days=days - 1)
    episode_id = new_id("mon")
    return {
        "_id": episode_id,
        "person_id": subject.person_id,
        "account_id": subject.account_id,
        "entry_declaration_id": subject.entry_declaration_id,
        "reason": reason,
        "place": place,
        "province": province,
        "ward": ward,
        "street_enc": ctx.cipher.encrypt(street, context=STREET_CONTEXT) if street else None,
        "starts_on": starts_on.isoformat(),
        "days": days,
        "ends_on": ends_on.isoformat(),
        "team": team,
        "officer_id": officer_id,
        "opened_by": opened_by,
        "status": "active",
        "outcome": None,
        # The eve of the start: no report is missing yet on day 1.
        "last_report_day": (starts_on - timedelta(days=1)).isoformat(),
        "last_report_at": None,
        "latest_temperature": None,
        "flags": [],
        "officer_flags": [],  # what officers found that a citizen's report cannot clear
        "no_report": False,
        "reminded_day": None,
        "urgency_key": urgency_key(set(), ends_on.isoformat(), episode_id),
        "created_at": now,
        "closed_at": None,
        "expires_at": None,
    }


@dataclass(frozen=True)
class Traveller:
    """Who filled in an entry declaration: whom an officer calls about the arrival."""

    full_name: str
    phone: str | None
    email: str | None
    birth_year: int | None


def arrival_ops(
    ctx: Context,
    entry_declaration_id: str,
    *,
    status: str,
    province: int,
    ward: int,
    street: str,
    traveller: Traveller,
    now: datetime,
    expires_at: datetime,
) -> list[Operation]:
    """What an entry declaration writes for monitoring, in its own batch: the arrival, which
    an officer may open an episode for, with the traveller's contact for the officer's
    contact card (encrypted). No episode yet: anyone may post a form, so it puts nothing on
    an officer's worklist until border staff scan it (`arrival_episode_ops`)."""
    contact = arrival_contact(
        ctx.cipher,
        full_name=traveller.full_name,
        phone=traveller.phone,
        email=traveller.email,
        birth_year=traveller.birth_year,
        street=street,
    )
    return [
        repository.insert_arrival(
            {
                "_id": entry_declaration_id,
                "province": province,
                "ward": ward,
                "status": status,
                "contact_enc": contact,
                "contact_version": ARRIVAL_CONTACT_VERSION,
                "created_at": now,
                "expires_at": expires_at,
            }
        )
    ]


async def arrival_episode_ops(
    ctx: Context,
    entry_declaration_id: str,
    *,
    status: str,
    province: int,
    ward: int,
    street: str,
    arrival_day: date,
    now: datetime,
) -> list[Operation]:
    """A non-green arrival that border staff have just scanned in gets an episode at the
    stay address from the arrival day, unless one is already running (an officer opened
    one, or another scan got there first)."""
    if status == "green":
        return []
    if await repository.active_episode_id(ctx.store, None, entry_declaration_id) is not None:
        return []
    episode = episode_document(
        ctx,
        Subject(None, None, entry_declaration_id),
        reason="entry",
        place="home",
        province=province,
        ward=ward,
        street=street,
        starts_on=arrival_day,
        days=None,
        opened_by="entry",
        officer_id=None,
        team=None,
        now=now,
    )
    return opening_ops(ctx, episode, now)


def opening_ops(ctx: Context, episode: Document, now: datetime) -> list[Operation]:
    """A new episode, the marker that makes it its subject's only active one, and its
    counts."""
    return [
        repository.insert_episode(episode),
        repository.claim_active(episode),
        *ctx.counters.steps(count_monitoring_opened(episode), now=now),
    ]


async def open_contact_episode(
    ctx: Context, person: Document, *, exposure_day: date, now: datetime
) -> list[Operation]:
    """Tracing's contact gets an episode at their home from the day of exposure, unless one
    is already running (a second case at the same market does not open a second one)."""
    person_id = str(person["_id"])
    province, ward = person.get("province"), person.get("ward")
    if not isinstance(province, int) or not isinstance(ward, int):
        return []  # no address on record: nowhere to follow them up
    if await repository.active_episode_id(ctx.store, person_id, None) is not None:
        return []
    episode = episode_document(
        ctx,
        Subject(person_id, str(person.get("account_id")), None),
        reason="contact",
        place="home",
        province=province,
        ward=ward,
        street=None,
        starts_on=exposure_day,
        days=None,
        opened_by="tracing",
        officer_id=None,
        team=None,
        now=now,
    )
    return opening_ops(ctx, episode, now)


@dataclass(frozen=True)
class Opened:
    """The answer to `POST /v1/monitoring`, and whether it is the first answer to an earlier
    request with the same Idempotency-Key, sent again."""

    created: EpisodeCreated
    replayed: bool


async def open_episode(
    ctx: Context,
    officer: Principal,
    body: EpisodeIn,
    *,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Opened:
    """Open an episode, or, for an Idempotency-Key already used with the same body, answer
    as the first time: an officer's phone that lost the answer and sends again is told of
    the episode it opened, not that one is running, and the opening is audited once."""
    now = now or utcnow()
    address = body.address
    if not officer.covers(address.province, address.ward):
        raise Forbidden()
    # An officer with an area follows only the people who live in it and the arrivals who
    # stay in it, as the record holds it (not as the request says); anyone else is 404, as
    # if they did not exist, so no id in the country can be probed.
    if body.person_id is not None:
        person = await get_person(ctx.store, body.person_id)
        if person is None or not officer.covers(person.get("province"), person.get("ward")):
            raise NotFound()
        subject = Subject(body.person_id, str(person["account_id"]), None)
    else:
        assert body.entry_declaration_id is not None
        arrival = await repository.arrival(ctx.store, body.entry_declaration_id)
        if arrival is None or not officer.covers(arrival.get("province"), arrival.get("ward")):
            raise NotFound()
        subject = Subject(None, None, body.entry_declaration_id)
    # After the checks above, so a replay tells no more than a first request would (an
    # erased person is 404); before the start day's, which moves with the clock.
    retry = retry_of(ctx, "monitoring", officer, idempotency_key, body)
    first = await first_answer(ctx, retry, EpisodeCreated)
    if first is not None:
        return Opened(first, replayed=True)
    starts_on = _start(ctx, body.starts_on, local_day(now))
    if await repository.active_episode_id(
        ctx.store, subject.person_id, subject.entry_declaration_id
    ):
        return await _already_open(ctx, subject, retry)
    document = episode_document(
        ctx,
        subject,
        reason=body.reason,
        place=body.place,
        province=address.province,
        ward=address.ward,
        street=address.street,
        starts_on=starts_on,
        days=body.days,
        opened_by="officer",
        officer_id=officer.subject,
        team=body.team,
        now=now,
    )
    created = EpisodeCreated(id=document["_id"], ends_on=document["ends_on"], status="active")
    ops: list[Operation] = [
        *opening_ops(ctx, document, now),
        viewed(officer, "monitoring_open", document, now),
    ]
    if retry is not None:
        # It names the person, so their erasure deletes it with their declarations' answers.
        ops.insert(
            0, keep_answer(retry, "monitoring", created, now=now, person_id=subject.person_id)
        )
    if subject.person_id is not None:
        # Only while the person is there: an erasure that began after our read takes them.
        ops.append(person_held(subject.person_id))
    try:
        await ctx.store.write(ops)
    except DuplicateKey as clash:
        if clash.collection not in (repository.ACTIVE.name, IDEMPOTENCY.name):
            raise
        # The same key raced itself, or another opening for the same subject landed
        # between our look and our write.
        return await _already_open(ctx, subject, retry)
    except PreconditionFailed as failed:
        if failed.collection != "people":
            raise
        raise NotFound() from None  # DELETE /v1/people/{id} began after our read
    log_event(log, "monitoring episode opened", episode_id=document["_id"], by="officer")
    return Opened(created, replayed=False)


async def _already_open(ctx: Context, subject: Subject, retry: Retry | None) -> Opened:
    """The subject has a running episode: opened by this very key (a retry that raced its
    first request past the look above gets the first answer), or else 409 naming it."""
    first = await first_answer(ctx, retry, EpisodeCreated)
    if first is not None:
        return Opened(first, replayed=True)
    running = await repository.active_episode_id(
        ctx.store, subject.person_id, subject.entry_declaration_id
    )
    raise AlreadyMonitored(running or "")


def _start(ctx: Context, starts_on: date | None, today: date) -> date:
    """The first day, from the exposure look-back (monitoring follows an exposure the
    service could have traced) to a short wait ahead (a stay that starts after a weekend);
    anything else is a typo that would count the person as followed for decades."""
    if starts_on is None:
        return today
    lookback = ctx.settings.exposure_lookback_days
    earliest, latest = today - timedelta(days=lookback), today + timedelta(days=DAYS_AHEAD)
    if earliest <= starts_on <= latest:
        return starts_on
    raise ValidationFailed.of_field(
        "starts_on",
        Text(
            f"must lie between {lookback} days ago and {DAYS_AHEAD} days ahead",
            f"phải nằm trong khoảng từ {lookback} ngày trước đến {DAYS_AHEAD} ngày tới",
        ),
    )


# -- closing (the officer's close: `monitoring.closing`) -------------------------------------


def ending(
    ctx: Context, episode: Document, fields: dict[str, Any], now: datetime
) -> list[Operation]:
    """What ends an active episode, for the batch that ends it: an officer's close, the
    daily job's, or its person's erasure (which deletes it in the same batch). `fields` are
    set only while the episode is still active with the urgency it was read with; its
    subject is free for a new episode; its end is counted on the day after the last it was
    followed, and a flagged episode leaves the attention gauge. A second end (a retry, a
    colleague, the job, an erasure) or a report that changed its flags meanwhile finds it no
    longer as read and rolls the batch back (`PreconditionFailed`): no step is lost or
    counted twice, and the caller reads the episode again."""
    return [
        repository.update_episode(
            episode["_id"], fields, status="active", urgency_key=episode["urgency_key"]
        ),
        repository.release_active(episode),
        *ctx.counters.steps(count_monitoring_closed(episode, local_day(now)), now=now),
    ]


def closing_fields(ctx: Context, outcome: str, now: datetime) -> dict[str, Any]:
    """What closing an episode sets: by an officer, or as `completed` by the daily job."""
    return {
        "status": "closed",
        "outcome": outcome,
        "closed_at": now,
        "expires_at": now + timedelta(days=ctx.settings.retention_days),
    }
