"""Time and identifiers. Everything stored is in UTC."""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta, timezone


def utcnow() -> datetime:
    """Now, in UTC, to the millisecond: what both SQLite and MongoDB store exactly."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_id(prefix: str) -> str:
    """A time-ordered, unguessable id such as `dec_01JD...`: 48-bit ms time + 80 random bits.

    Sortable ids keep B-tree inserts at the right edge of the index, which matters at
    millions of writes; the random part makes ids useless for enumeration.
    """
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{_crockford(value)}"


_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _crockford(value: int) -> str:
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


VIETNAM = timezone(timedelta(hours=7), "ICT")


def local_day(moment: datetime) -> date:
    """The calendar day in Vietnam (UTC+7, no daylight saving): the day reports count in."""
    return moment.astimezone(VIETNAM).date()
