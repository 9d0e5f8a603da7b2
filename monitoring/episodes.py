"""What every part of monitoring knows about an episode: its urgency, its day, who may act on
it, the audit of an officer seeing it, and its API view.

An episode's urgency is kept on the episode itself (`attention`, `urgency_key`) and updated
by every report and by the daily jobs, so the worklist is an index range read: fever first,
then symptoms, a visit that found the person unwell, and silence.
"""

from __future__ import annotations

from datetime import date, datetime

from core.context import Context
from core.errors import AppError, NotFound
from core.i18n import Text
from core.principals import Principal
from core.storage import Document, Operation
from monitoring import repository
from monitoring.schemas import EpisodeView
from reports.audit import access_entry

# The encryption context of an episode's street (where the person is followed).
STREET_CONTEXT = "monitoring.street"
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


# The same code for a close: the episode already ended with another outcome, which stands.
CLOSED_OTHERWISE = Text(
    "This monitoring episode is already closed with another outcome; it cannot be closed "
    "again with a different one.",
    "Đợt theo dõi này đã được kết thúc với một kết quả khác; không thể kết thúc lại với kết "
    "quả khác.",
)


class AlreadyMonitored(AppError):
    """One active episode per person and per arrival; `episode_id` names the running one."""

    status = 409
    code = "monitoring_already_active"
    title = Text("Already under monitoring", "Đang được theo dõi")
    detail = Text(
        "This person or arrival already has an active monitoring episode (episode_id).",
        "Người này hoặc người nhập cảnh này đang có một đợt theo dõi (episode_id).",
    )

    def __init__(self, episode_id: str) -> None:
        super().__init__(extra={"episode_id": episode_id})


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


async def episode_for(ctx: Context, caller: Principal, episode_id: str) -> Document:
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


def viewed(officer: Principal, action: str, episode: Document, now: datetime) -> Operation:
    """The audit entry of an officer seeing or acting on one person's episode."""
    return access_entry(
        officer,
        action,
        person_id=episode.get("person_id"),
        subject_id=str(episode["_id"]),
        now=now,
    )


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
