"""Episodes, daily reports and the officer's worklist.

An episode's urgency is kept on the episode itself (`attention`, `urgency_key`) and updated
by every report and by the daily jobs, so the worklist is an index range read: fever first,
then symptoms, a visit that found the person unwell, and silence.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from core.clock import local_day, new_id, utcnow
from core.context import Context
from core.errors import AppError, Forbidden, NotFound
from core.i18n import Text
from core.logging import log_event
from core.principals import Principal
from core.storage import Document, DuplicateKey, Operation, PreconditionFailed
from declarations.monitoring_policy import MonitoringPolicy
from declarations.rules import Facts, rules_for
from monitoring import repository
from monitoring.schemas import (
    CitizenEpisode,
    CloseIn,
    EpisodeIn,
    EpisodeView,
    ReportCreated,
    ReportIn,
)
from people.repository import SEVERITY, get_person, set_status
from reports.audit import access_entry
from reports.counters import (
    count_monitoring_attention,
    count_monitoring_closed,
    count_monitoring_opened,
)

log = logging.getLogger(__name__)

STREET_CONTEXT = "monitoring.street"
NOTE_CONTEXT = "monitoring.note"
# Weights of what needs attention; the sum orders the worklist (higher first).
URGENCY = {"fever": 400, "seen_not_ok": 300, "symptoms": 200, "no_report": 100}


class EpisodeClosed(AppError):
    status = 409
    code = "episode_closed"
    title = Text("Episode closed", "Đợt theo dõi đã kết thúc")
    detail = Text(
        "This monitoring episode is closed; nothing more can be reported on it.",
        "Đợt theo dõi này đã kết thúc; không thể báo cáo thêm.",
    )


class OfficersOnly(AppError):
    status = 403
    code = "officers_only"
    title = Text("Officers only", "Chỉ dành cho cán bộ")
    detail = Text(
        "`outcome` and `note` record an officer's call or visit.",
        "`outcome` và `note` ghi nhận cuộc gọi hoặc lần thăm của cán bộ y tế.",
    )


def urgency(flags: set[str]) -> int:
    return sum(URGENCY[flag] for flag in flags if flag in URGENCY)


def urgency_key(flags: set[str], ends_on: str, episode_id: str) -> str:
    """Sorts ascending as the worklist reads: needing attention first ("0|…"), the most
    urgent before the rest, then the episode ending soonest; unique by the id."""
    score = min(urgency(flags), 9999)
    return f"{0 if score else 1}|{9999 - score:04d}|{ends_on}|{episode_id}"


def day_of(episode: Document, today: date) -> int:
    return (today - date.fromisoformat(episode["starts_on"])).days + 1


def days_without_report(episode: Document, today: date) -> int:
    return max(0, (today - date.fromisoformat(episode["last_report_day"])).days - 1)


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
        "no_report": False,
        "reminded_day": None,
        "urgency_key": urgency_key(set(), ends_on.isoformat(), episode_id),
        "created_at": now,
        "closed_at": None,
        "expires_at": None,
    }


def arrival_ops(
    ctx: Context,
    entry_declaration_id: str,
    *,
    status: str,
    province: int,
    ward: int,
    street: str,
    arrival_day: date,
    now: datetime,
    expires_at: datetime,
) -> list[Operation]:
    """What an entry declaration writes for monitoring, in its own batch: the arrival, which
    an officer may open an episode for, and for a non-green arrival the episode itself, at
    the stay address from the arrival day."""
    ops: list[Operation] = [
        repository.insert_arrival(
            {
                "_id": entry_declaration_id,
                "province": province,
                "ward": ward,
                "status": status,
                "created_at": now,
                "expires_at": expires_at,
            }
        )
    ]
    if status != "green":
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
        ops += [
            repository.insert_episode(episode),
            *ctx.counters.steps(count_monitoring_opened(episode), now=now),
        ]
    return ops


async def open_contact_episode(
    ctx: Context, person: Document, *, exposure_day: date, now: datetime
) -> list[Operation]:
    """Tracing's contact gets an episode at their home from the day of exposure, unless one
    is already running (a second case at the same market does not open a second one)."""
    person_id = str(person["_id"])
    province, ward = person.get("province"), person.get("ward")
    if not isinstance(province, int) or not isinstance(ward, int):
        return []  # no address on record: nowhere to follow them up
    if await repository.active_episode_of_person(ctx.store, person_id) is not None:
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
    return [
        repository.insert_episode(episode),
        *ctx.counters.steps(count_monitoring_opened(episode), now=now),
    ]


async def open_episode(
    ctx: Context, officer: Principal, body: EpisodeIn, *, now: datetime | None = None
) -> Document:
    now = now or utcnow()
    address = body.address
    if not officer.covers(address.province, address.ward):
        raise Forbidden()
    if body.person_id is not None:
        person = await get_person(ctx.store, body.person_id)
        if person is None:
            raise NotFound()
        subject = Subject(body.person_id, str(person["account_id"]), None)
    else:
        assert body.entry_declaration_id is not None
        arrival = await repository.arrival(ctx.store, body.entry_declaration_id)
        if arrival is None:
            raise NotFound()
        subject = Subject(None, None, body.entry_declaration_id)
    document = episode_document(
        ctx,
        subject,
        reason=body.reason,
        place=body.place,
        province=address.province,
        ward=address.ward,
        street=address.street,
        starts_on=body.starts_on or local_day(now),
        days=body.days,
        opened_by="officer",
        officer_id=officer.subject,
        team=body.team,
        now=now,
    )
    opened = ctx.counters.steps(count_monitoring_opened(document), now=now)
    await ctx.store.write([repository.insert_episode(document), *opened])
    ctx.counters.kick()
    log_event(log, "monitoring episode opened", episode_id=document["_id"], by="officer")
    return document


# -- reports ---------------------------------------------------------------------------------


async def _episode_for(ctx: Context, caller: Principal, episode_id: str) -> Document:
    """The episode, if the caller may act on it: the citizen whose person it follows, or an
    officer of its area. Anything else is 404, as if it did not exist."""
    episode = await repository.episode(ctx.store, episode_id)
    if episode is None:
        raise NotFound()
    if caller.role == "citizen":
        if episode.get("account_id") != caller.subject:
            raise NotFound()
    elif not caller.covers(int(episode["province"]), int(episode["ward"])):
        raise NotFound()
    return episode


def _flags(body: ReportIn, policy: MonitoringPolicy, before: Document) -> set[str]:
    """What the latest report says; silence ends with any report the person gave."""
    flags: set[str] = set()
    if body.temperature is not None and body.temperature >= policy.fever_celsius:
        flags.add("fever")
    if body.symptoms:
        flags.add("symptoms")
    if body.outcome == "seen_not_ok":
        flags.add("seen_not_ok")
    if body.outcome == "not_reached" and before.get("no_report"):
        flags.add("no_report")
    return flags


async def add_report(
    ctx: Context,
    caller: Principal,
    episode_id: str,
    body: ReportIn,
    *,
    idempotency_key: str | None = None,
    now: datetime | None = None,
    attempts: int = 3,
) -> ReportCreated:
    """Store one daily report. The episode is updated only as it was read (its urgency key
    unchanged), so the attention counter moves once per real change; a report that lost a
    race with another is judged again against the episode as it now is."""
    now = now or utcnow()
    today = local_day(now)
    episode = await _episode_for(ctx, caller, episode_id)
    if caller.role == "citizen" and (body.outcome is not None or body.note is not None):
        raise OfficersOnly()
    report_id = (
        "mrp_"
        + ctx.cipher.lookup_hash(f"{episode_id}\x00{idempotency_key}", context="mon.report")[:26]
        if idempotency_key
        else new_id("mrp")
    )
    previous = await repository.report(ctx.store, report_id)
    if previous is not None:  # a retry of a report already stored
        return ReportCreated(
            id=report_id, episode_id=episode_id, day=previous["day"], flags=previous["flags"]
        )
    if episode["status"] != "active":
        raise EpisodeClosed()
    policy = rules_for(ctx).monitoring
    flags = _flags(body, policy, episode)
    day = day_of(episode, today)
    reached = body.outcome != "not_reached"
    episode_fields: dict[str, Any] = {
        "flags": sorted(flags),
        "urgency_key": urgency_key(flags, episode["ends_on"], episode_id),
    }
    if reached:
        episode_fields |= {
            "last_report_day": today.isoformat(),
            "last_report_at": now,
            "no_report": False,
        }
        if body.temperature is not None:
            episode_fields["latest_temperature"] = body.temperature
    ops: list[Operation] = [
        repository.insert_report(
            {
                "_id": report_id,
                "episode_id": episode_id,
                "day": day,
                "by": caller.role,
                "temperature": body.temperature,
                "symptoms": list(body.symptoms),
                "outcome": body.outcome,
                "note_enc": ctx.cipher.encrypt(body.note, context=NOTE_CONTEXT)
                if body.note
                else None,
                "flags": sorted(flags),
                "at": now,
                "expires_at": now + timedelta(days=ctx.settings.retention_days),
            }
        ),
        repository.update_episode(
            episode_id, episode_fields, status="active", urgency_key=episode["urgency_key"]
        ),
        *ctx.counters.steps(
            count_monitoring_attention(episode, episode.get("flags", []), flags), now=now
        ),
    ]
    ops += await _raise_status(ctx, episode, body, policy, now)
    if caller.role != "citizen":
        ops.append(_viewed(caller, "monitoring_report", episode, now))
    try:
        await ctx.store.write(ops)
    except DuplicateKey:  # the same key raced itself
        return ReportCreated(id=report_id, episode_id=episode_id, day=day, flags=sorted(flags))
    except PreconditionFailed:
        current = await repository.episode(ctx.store, episode_id)
        if attempts > 1 and current is not None and current["status"] == "active":
            return await add_report(
                ctx,
                caller,
                episode_id,
                body,
                idempotency_key=idempotency_key,
                now=now,
                attempts=attempts - 1,
            )
        raise EpisodeClosed() from None
    ctx.counters.kick()
    return ReportCreated(id=report_id, episode_id=episode_id, day=day, flags=sorted(flags))


async def _raise_status(
    ctx: Context, episode: Document, body: ReportIn, policy: MonitoringPolicy, now: datetime
) -> list[Operation]:
    """Fever or symptoms raise the person's status by the ministry's rules: what someone
    under follow-up for a contact reports is judged as symptoms with that exposure."""
    person_id = episode.get("person_id")
    if person_id is None:
        return []
    symptoms = set(body.symptoms)
    if body.temperature is not None and body.temperature >= policy.fever_celsius:
        symptoms.add("fever")
    if not symptoms:
        return []
    person = await get_person(ctx.store, str(person_id))
    if person is None:
        return []
    exposures = {"confirmed_case"} if episode["reason"] in ("contact", "case") else set()
    outcome = rules_for(ctx).judge(
        Facts(
            symptoms=frozenset(symptoms),
            exposures=frozenset(exposures),
            chronic_conditions=frozenset(),
            countries=frozenset(),
            trip_provinces=frozenset(),
            home_province=int(episode["province"]),
            pregnant=False,
            age=0,
            form="declaration",
        )
    )
    current = str(person.get("status", "green"))
    if SEVERITY[outcome.status] <= SEVERITY[current]:
        return []
    reasons = [r.to_document() for r in outcome.reasons]
    return [set_status(person, outcome.status, reasons, source="monitoring", now=now)]


# -- reading ---------------------------------------------------------------------------------


def view(episode: Document, today: date) -> EpisodeView:
    return EpisodeView(
        id=episode["_id"],
        person_id=episode.get("person_id"),
        entry_declaration_id=episode.get("entry_declaration_id"),
        reason=episode["reason"],
        place=episode["place"],
        province=episode["province"],
        ward=episode["ward"],
        starts_on=date.fromisoformat(episode["starts_on"]),
        ends_on=date.fromisoformat(episode["ends_on"]),
        days=episode["days"],
        day=max(1, min(day_of(episode, today), int(episode["days"]))),
        status=episode["status"],
        outcome=episode.get("outcome"),
        last_report_at=episode.get("last_report_at"),
        days_without_report=days_without_report(episode, today),
        latest_temperature=episode.get("latest_temperature"),
        flags=episode.get("flags", []),
        team=episode.get("team"),
    )


@dataclass(frozen=True)
class Page:
    items: list[EpisodeView]
    next: str | None


async def worklist(
    ctx: Context,
    officer: Principal,
    *,
    status: str,
    needs_attention: bool,
    province: int | None,
    ward: int | None,
    cursor: str | None,
    limit: int,
    now: datetime | None = None,
) -> Page:
    """One page of the officer's list. An officer bound to an area gets that area when they
    name none; naming a place outside it is 403."""
    area = officer.area
    if area is not None:
        province = province if province is not None else area.province
        ward = ward if ward is not None else area.ward
        if not officer.covers(province, ward):
            raise Forbidden()
    elif ward is not None and province is None:
        raise Forbidden()
    found = await repository.worklist(
        ctx.store,
        status=status,
        province=province,
        ward=ward,
        needs_attention=needs_attention,
        after=cursor,
        limit=limit + 1,
    )
    page, more = found[:limit], len(found) > limit
    today = local_day(now or utcnow())
    if page:
        await ctx.store.write(
            [_viewed(officer, "monitoring_worklist", doc, now or utcnow()) for doc in page]
        )
    return Page([view(doc, today) for doc in page], page[-1]["urgency_key"] if more else None)


async def close_episode(
    ctx: Context, officer: Principal, episode_id: str, body: CloseIn, *, now: datetime | None = None
) -> EpisodeView:
    now = now or utcnow()
    episode = await _episode_for(ctx, officer, episode_id)
    if episode["status"] != "active":
        raise EpisodeClosed()
    closing = closing_fields(ctx, body.outcome, now)
    try:
        await ctx.store.write(
            [
                repository.update_episode(episode_id, closing, status="active"),
                *ctx.counters.steps(count_monitoring_closed(episode, local_day(now)), now=now),
                _viewed(officer, "monitoring_close", episode, now),
            ]
        )
    except PreconditionFailed:
        raise EpisodeClosed() from None
    ctx.counters.kick()
    return view({**episode, **closing}, local_day(now))


def _viewed(officer: Principal, action: str, episode: Document, now: datetime) -> Operation:
    """The audit entry of an officer seeing or acting on one person's episode."""
    return access_entry(
        officer,
        action,
        person_id=episode.get("person_id"),
        subject_id=str(episode["_id"]),
        now=now,
    )


def closing_fields(ctx: Context, outcome: str, now: datetime) -> dict[str, Any]:
    return {
        "status": "closed",
        "outcome": outcome,
        "closed_at": now,
        "expires_at": now + timedelta(days=ctx.settings.retention_days),
    }


async def episodes_of_person(
    ctx: Context, citizen: Principal, person_id: str, *, now: datetime | None = None
) -> list[CitizenEpisode]:
    person = await get_person(ctx.store, person_id)
    if person is None or person.get("account_id") != citizen.subject:
        raise NotFound()
    today = local_day(now or utcnow())
    return [
        CitizenEpisode(
            id=doc["_id"],
            reason=doc["reason"],
            day=max(1, min(day_of(doc, today), int(doc["days"]))),
            days=doc["days"],
            starts_on=date.fromisoformat(doc["starts_on"]),
            ends_on=date.fromisoformat(doc["ends_on"]),
            status=doc["status"],
            outcome=doc.get("outcome"),
            reported_today=doc.get("last_report_day") == today.isoformat(),
        )
        for doc in await repository.episodes_of_person(ctx.store, person_id)
    ]
