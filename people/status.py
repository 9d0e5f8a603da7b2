"""A person's status, how bad each one is, and what holds a status against declarations.

A status set by health staff (a confirmed case, contact tracing) holds for the exposure
look-back: a citizen's own declaration may raise it but not lower it until then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from core.storage import Document

Status = Literal["green", "yellow", "red"]
STATUSES: tuple[Status, ...] = ("green", "yellow", "red")
SEVERITY: dict[str, int] = {"green": 0, "yellow": 1, "red": 2}
# Statuses set by health staff that a citizen's own declaration may not lower for a while.
HOLDING_SOURCES = ("case", "tracing", "monitoring")


@dataclass(frozen=True)
class Hold:
    status: Status
    source: str
    since: datetime


def active_hold(person: Document, now: datetime, lookback: timedelta) -> Hold | None:
    """A status from a confirmed case or from tracing that is still young enough to stand.

    While staff's status is current it is read from the status fields; once a declaration
    has raised the status above it, it is remembered in the `hold_*` fields, which count only
    as long as declarations are the last to have changed the status.
    """
    source = person.get("status_source")
    hold: Hold | None = None
    if source in HOLDING_SOURCES and person.get("status_changed_at") is not None:
        hold = Hold(person["status"], source, person["status_changed_at"])
    elif source == "declaration" and person.get("hold_since") is not None:
        hold = Hold(person["hold_status"], person["hold_source"], person["hold_since"])
    if hold is None or now - hold.since >= lookback:
        return None
    return hold
