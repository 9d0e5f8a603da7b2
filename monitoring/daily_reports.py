"""Daily reports: the person's own, or an officer's call or visit, and what they change on the
episode (its flags and urgency) and on the person (a raised status)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.clock import local_day, new_id, utcnow
from core.context import Context
from core.errors import AppError, IdempotencyKeyReused, NotFound, Overloaded
from core.i18n import Text
from core.idempotency import first_answer, keep_answer, retry_of, winner_of
from core.principals import Principal
from core.storage import Document, DuplicateKey, Operation, PreconditionFailed
from declarations.monitoring_policy import MonitoringPolicy
from declarations.rules import Facts, rules_for
from monitoring import repository
from monitoring.episodes import EpisodeClosed, day_of, episode_for, urgency_key, viewed
from monitoring.schemas import ReportCreated, ReportIn
from people.repository import SEVERITY, get_person, set_status
from reports.counters import count_monitoring_attention

NOTE_CONTEXT = "monitoring.note"
ROUTE = "monitoring_report"  # the route whose first answers `core.idempotency` keeps
# Reports stored before keys were the caller's own were named by episode and key alone
# (`_stored_before`); a retry of one is still recognised for this long after it was stored.
LEGACY_RETRY = timedelta(hours=24)


@dataclass(frozen=True)
class Reported:
    created: ReportCreated
    # The answer to an earlier request with the same Idempotency-Key: nothing was stored.
    replayed: bool


class OfficersOnly(AppError):
    status = 403
    code = "officers_only"
    title = Text("Officers only", "Chỉ dành cho cán bộ")
    detail = Text(
        "`outcome` and `note` record an officer's call or visit.",
        "`outcome` và `note` ghi nhận cuộc gọi hoặc lần thăm của cán bộ y tế.",
    )


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


def _standing(
    caller: Principal, body: ReportIn, episode: Document, flags: set[str]
) -> tuple[set[str], set[str]]:
    """The episode's flags after this report, and what officers found that stands.

    The latest report that reached the person decides, except that a citizen's report
    cannot clear what an officer found on a call or visit (a fever measured at the door,
    `seen_not_ok`): that stands until an officer's later report that reached the person. A
    call that did not reach them (`not_reached`) learns nothing, so it clears nothing."""
    found = set(episode.get("officer_flags", []))
    if body.outcome == "not_reached":
        return set(episode.get("flags", [])) | flags, found
    if caller.role == "citizen":
        return flags | found, found
    return flags, flags - {"no_report"}


async def add_report(
    ctx: Context,
    caller: Principal,
    episode_id: str,
    body: ReportIn,
    *,
    idempotency_key: str | None = None,
    now: datetime | None = None,
    attempts: int = 8,
) -> Reported:
    """Store one daily report. The episode is updated only as it was read (its urgency key
    unchanged), so the attention counter moves once per real change; a report that lost a
    race with another is judged again against the episode as it now is."""
    now = now or utcnow()
    today = local_day(now)
    episode = await episode_for(ctx, caller, episode_id)
    if caller.role == "citizen" and (body.outcome is not None or body.note is not None):
        raise OfficersOnly()
    # A key is the caller's own: the citizen's `r1` and an officer's `r1` on the same
    # episode are two reports, not a retry of each other.
    retry = retry_of(ctx, ROUTE, caller, idempotency_key, body, target=episode_id)
    if retry is not None and idempotency_key:
        previous = await _stored_before(ctx, caller, episode_id, idempotency_key, now)
        if previous is not None:
            return _retried(previous, retry.body_hash)
    first = await first_answer(ctx, retry, ReportCreated)
    if first is not None:
        return Reported(first, replayed=True)
    if episode["status"] != "active":
        raise EpisodeClosed()
    policy = rules_for(ctx).monitoring
    flags = _flags(body, policy, episode)
    day = day_of(episode, today)
    reached = body.outcome != "not_reached"
    standing, found = _standing(caller, body, episode, flags)
    episode_fields: dict[str, Any] = {
        "flags": sorted(standing),
        "officer_flags": sorted(found),
        "urgency_key": urgency_key(standing, episode["ends_on"], episode_id),
    }
    if reached:
        episode_fields |= {
            "last_report_day": today.isoformat(),
            "last_report_at": now,
            "no_report": False,
        }
        if body.temperature is not None:
            episode_fields["latest_temperature"] = body.temperature
    report_id = new_id("mrp")
    expires_at = now + timedelta(days=ctx.settings.retention_days)
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
                "expires_at": expires_at,
            }
        ),
        repository.update_episode(
            episode_id, episode_fields, status="active", urgency_key=episode["urgency_key"]
        ),
        *ctx.counters.steps(
            count_monitoring_attention(episode, episode.get("flags", []), standing), now=now
        ),
    ]
    ops += await _raise_status(ctx, episode, body, policy, now)
    if caller.role != "citizen":
        ops.append(viewed(caller, "monitoring_report", episode, now))
    created = ReportCreated(id=report_id, episode_id=episode_id, day=day, flags=sorted(flags))
    if retry is not None:
        # Kept as long as the report, as a retry was answered when the report's own id came
        # from the key; it names the person's episode, so their erasure deletes it.
        kept = keep_answer(
            retry,
            ROUTE,
            created,
            now=now,
            person_id=episode.get("person_id"),
            expires_at=expires_at,
        )
        ops.insert(0, kept)
    try:
        await ctx.store.write(ops)
    except DuplicateKey as clash:
        return Reported(await winner_of(ctx, retry, clash, ReportCreated), replayed=True)
    except PreconditionFailed:
        current = await repository.episode(ctx.store, episode_id)
        if current is None:  # the person's erasure took it, as it takes their reports
            raise NotFound() from None
        if current["status"] != "active":
            raise EpisodeClosed() from None
        if attempts <= 1:  # a crowd of reports at once: the caller tries again shortly
            raise Overloaded() from None
        return await add_report(
            ctx,
            caller,
            episode_id,
            body,
            idempotency_key=idempotency_key,
            now=now,
            attempts=attempts - 1,
        )
    return Reported(created, replayed=False)


async def _stored_before(
    ctx: Context, caller: Principal, episode_id: str, key: str, now: datetime
) -> Document | None:
    """A report stored before first answers were kept (`core.idempotency`), sent again:
    its id came from the key. Under the caller's own key it is a retry as long as it is
    stored; under the id keys had before they were per caller, only its sender's (by the
    role it was sent with: the one citizen of the episode, or an officer) while it is
    recent, after which the key makes a new report. `retention_days` after the upgrade
    that keeps first answers no such report is left, and this read can go."""
    own, legacy = (
        "mrp_" + ctx.cipher.lookup_hash(scoped, context="mon.report")[:26]
        for scoped in (f"{episode_id}\x00{caller.subject}\x00{key}", f"{episode_id}\x00{key}")
    )
    stored = {str(r["_id"]): r for r in await repository.reports_by_id(ctx.store, [own, legacy])}
    if own in stored:
        return stored[own]
    previous = stored.get(legacy)
    if previous is None or previous.get("by") != caller.role or previous["at"] < now - LEGACY_RETRY:
        return None
    return previous


def _retried(stored: Document, body_hash: str) -> Reported:
    """The first answer to a report stored with its key before first answers were kept;
    with another body, 409 (a report stored before reports kept it matches any body)."""
    if stored.get("body_hash", body_hash) != body_hash:
        raise IdempotencyKeyReused()
    created = ReportCreated(
        id=stored["_id"], episode_id=stored["episode_id"], day=stored["day"], flags=stored["flags"]
    )
    return Reported(created, replayed=True)


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
