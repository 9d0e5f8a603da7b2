"""Time and identifiers. Everything stored is in UTC."""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta, timezone


def utcnow() -> datetime:
    """Now, in UTC, to the millisecond: what both SQLite and MongoDB store exactly."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def as_stored(moment: datetime) -> datetime:
    """An aware moment as the stores keep it and the answers carry it: in UTC, to the
    millisecond (an answer read back from either store is then the one first given)."""
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def new_id(prefix: str) -> str:
    """A time-ordered, unguessable id such as `dec_01JD...`: 48-bit ms time + 80 random bits.

    Sortable ids keep B-tree inserts at the right edge of the index, which matters at
    millions of writes; the random part makes ids useless for enumeration.
    """
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{_crockford(value)}"


_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Every pair of digits (10 bits), so an id takes 13 lookups instead of 26 steps of a loop:
# an id is made several times per declaration.
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)
_SHIFTS = tuple(range(120, -1, -10))


def _crockford(value: int) -> str:
    """The 26 Crockford base32 digits of a value below 2**130, most significant first."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])


VIETNAM = timezone(timedelta(hours=7), "ICT")


def local_day(moment: datetime) -> date:
    """The calendar day in Vietnam (UTC+7, no daylight saving): the day reports count in."""
    return moment.astimezone(VIETNAM).date()
