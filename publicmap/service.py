"""Answering the public map for a national crowd: from memory, with ETags that let phones and
CDNs skip the body.

Shared state is the snapshot in the database (`publicmap.snapshot`), rebuilt by the refresh
job (`refresh_forever` in every API process, or `khaibao map refresh` from cron) once it is
older than `KHAIBAO_MAP_REFRESH_SECONDS` or from another day. Each process keeps the
snapshot it last read and the answers it rendered from it, keyed on the snapshot's version,
and reads the few-byte head document at most every `CHECK_SECONDS` to learn of a new
version. So a request costs a dictionary lookup, and a revalidation (`If-None-Match`) a
string comparison; the ETag is strong (same version and question, same bytes).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

import orjson
from vietnam_provinces import Ward

from core.background import repeat
from core.clock import local_day, utcnow
from core.context import Context
from core.errors import ValidationFailed
from core.i18n import Text
from core.logging import log_event
from publicmap import repository
from publicmap.snapshot import CASES, DATES, MONITORING, SYMPTOMS, TREND_DAYS, Snapshot, build
from reports.service import PROVINCE_CODES, check_province, province_name
from reports.suppression import METHOD

log = logging.getLogger(__name__)

Level = Literal["province", "ward"]
CHECK_SECONDS = 5.0
MAX_RENDERED = 4096  # 34 provinces' ward tables × 30 dates, and the national ones


class MapDateOutOfRange(ValidationFailed):
    code = "map_date_out_of_range"
    title = Text("Date out of range", "Ngày ngoài phạm vi")
    detail = Text(
        f"`date` must be today or one of the {DATES - 1} days before (Vietnam time).",
        f"`date` phải là hôm nay hoặc một trong {DATES - 1} ngày trước đó (giờ Việt Nam).",
    )


class MapProvinceRequired(ValidationFailed):
    code = "map_province_required"
    title = Text("Province required", "Cần chọn tỉnh")
    detail = Text(
        "`level=ward` lists the wards of one province: give `province` (e.g. 1 for Hà Nội).",
        "`level=ward` liệt kê các phường, xã của một tỉnh: hãy cho `province` (ví dụ 1 là Hà Nội).",
    )


def _field_error(name: str, error: type[ValidationFailed]) -> list[dict[str, Any]]:
    return [{"field": name, "code": error.code, "message": error.detail}]


@dataclass(frozen=True)
class Question:
    level: Level
    province: int | None
    day: date


@dataclass
class Answer:
    """One question's JSON, and the same gzipped once (a phone asks for gzip; compressing
    it again on every request was most of a request's cost)."""

    etag: str
    body: bytes
    _gzipped: bytes | None = None

    @property
    def gzipped(self) -> bytes:
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gzipped


@dataclass
class MapCache:
    """This process's copy of the snapshot and what it rendered from it."""

    snapshot: Snapshot | None = None
    checked_at: float = float("-inf")
    rendered: dict[Question, Answer] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def cache_of(ctx: Context) -> MapCache:
    return ctx.caches.of(MapCache)


# -- the refresh job -----------------------------------------------------------------------


async def refresh(ctx: Context, *, now: datetime | None = None) -> str:
    """Rebuild the snapshot from the counters and publish it; returns its version. This
    process answers from it at once; the others within CHECK_SECONDS."""
    now = now or utcnow()
    document, version = await build(ctx, now, cache_of(ctx).snapshot)
    document["built_at"] = now
    head = {"version": version, "built_at": now, "today": document["today"]}
    current = await repository.head(ctx.store)
    if current is not None and current.get("version") == version:
        await repository.touch(ctx.store, head)
    else:
        await repository.save(ctx.store, document, head)
        log_event(log, "public map published", version=version, cells=len(document["cells"]))
    cache = cache_of(ctx)
    if cache.snapshot is None or cache.snapshot.version != version:
        cache.snapshot = Snapshot.from_document(document)
        cache.rendered = {}
    cache.checked_at = time.monotonic()
    return version


def _stale(head: dict[str, Any] | None, now: datetime, max_age: timedelta) -> bool:
    return (
        head is None
        or head.get("today") != local_day(now).isoformat()
        or now - head["built_at"] >= max_age
    )


async def refresh_if_stale(ctx: Context) -> None:
    now = utcnow()
    max_age = timedelta(seconds=ctx.settings.map_refresh_seconds)
    if _stale(await repository.head(ctx.store), now, max_age):
        await refresh(ctx, now=now)


async def refresh_forever(ctx: Context) -> None:
    """The job, in each API process: several processes may each rebuild once per period,
    harmlessly (same counters, same snapshot); the stored age keeps it to about one."""
    period = ctx.settings.map_refresh_seconds
    await repeat(
        lambda: refresh_if_stale(ctx), seconds=period / 2, what="public map refresh", log=log
    )


# -- answering -----------------------------------------------------------------------------


async def current(ctx: Context) -> Snapshot:
    """The snapshot to answer from: this process's copy, checked against the stored head at
    most every CHECK_SECONDS; built on the spot when none exists or it is from another day."""
    cache = cache_of(ctx)
    usable = _usable(cache)
    if usable is not None:
        return usable
    async with cache.lock:
        usable = _usable(cache)
        if usable is not None:
            return usable
        now = utcnow()
        head = await repository.head(ctx.store)
        if head is None or head.get("today") != local_day(now).isoformat():
            await refresh(ctx, now=now)
        elif cache.snapshot is None or cache.snapshot.version != head["version"]:
            document = await repository.snapshot(ctx.store)
            if document is None:
                await refresh(ctx, now=now)
            else:  # written with its head in one batch; maybe newer than the head just read
                cache.snapshot = Snapshot.from_document(document)
                cache.rendered = {}
        cache.checked_at = time.monotonic()
        assert cache.snapshot is not None
        return cache.snapshot


def _usable(cache: MapCache) -> Snapshot | None:
    """The cached snapshot if checked against the head within CHECK_SECONDS and of today (a
    new day in Vietnam starts a new snapshot at once, not a check later)."""
    snapshot = cache.snapshot
    if (
        snapshot is not None
        and time.monotonic() - cache.checked_at < CHECK_SECONDS
        and snapshot.today == local_day(utcnow())
    ):
        return snapshot
    return None


def question(snapshot: Snapshot, level: Level, province: int | None, day: date | None) -> Question:
    """The question, checked: no `date` means the snapshot's today."""
    day = day or snapshot.today
    if not 0 <= (snapshot.today - day).days < DATES:
        raise MapDateOutOfRange(errors=_field_error("date", MapDateOutOfRange))
    if level == "ward":
        if province is None:
            raise MapProvinceRequired(errors=_field_error("province", MapProvinceRequired))
        check_province(province)
        return Question(level, province, day)
    return Question(level, None, day)


def etag_of(snapshot: Snapshot, q: Question, *, gzipped: bool = False) -> str:
    """Strong, so it names the bytes: the gzipped representation has a tag of its own."""
    # built_at is in the body (updated_at): two processes that built the same version at
    # different moments send different bytes, so their tags differ too.
    stamp = snapshot.built_at.isoformat()
    digest = hashlib.sha256(f"{snapshot.version}|{stamp}|{q.level}|{q.province}|{q.day}".encode())
    return f'"{digest.hexdigest()[:24]}{"-gz" if gzipped else ""}"'


def wants_gzip(accept_encoding: str | None) -> bool:
    """The gzip middleware's own rule, so the tag always names what is sent."""
    return accept_encoding is not None and "gzip" in accept_encoding.lower()


def answer(ctx: Context, snapshot: Snapshot, q: Question) -> Answer:
    cache = cache_of(ctx)
    found = cache.rendered.get(q)
    if found is None or cache.snapshot is not snapshot:
        found = Answer(etag_of(snapshot, q), orjson.dumps(render(snapshot, q)))
        if cache.snapshot is snapshot:
            if len(cache.rendered) >= MAX_RENDERED:
                cache.rendered.clear()
            cache.rendered[q] = found
    return found


# -- rendering -----------------------------------------------------------------------------


@dataclass
class Sums:
    """A region's rounded sums, and whether any of their atoms is non-empty."""

    values: list[int] = field(default_factory=lambda: [0] * 4)
    present: list[bool] = field(default_factory=lambda: [False] * 4)

    def add(self, measure: int, value: int, present: int) -> None:
        self.values[measure] += value
        self.present[measure] = self.present[measure] or bool(present)


CONFIRMED, LAST_7, MONITORED, SYMPTOMATIC_7 = 0, 1, 2, 3


def _shown(value: int, present: bool, threshold: int) -> int | None:
    """0 for nothing, None (suppressed) for a rounded sum below the threshold."""
    if not present:
        return 0
    return value if value >= threshold else None


def render(snapshot: Snapshot, q: Question) -> dict[str, Any]:
    offset = (q.day - snapshot.first_day).days
    by_province = q.level == "province"
    sums: dict[int, Sums] = {}
    trend = [Sums() for _ in range(TREND_DAYS)]
    first_trend = offset - TREND_DAYS + 1
    for province, ward, cases, present in snapshot.before:
        if q.province in (None, province):
            code = province if by_province else ward
            sums.setdefault(code, Sums()).add(CONFIRMED, cases, present)
    for province, ward, day, *m in snapshot.cells:
        if q.province not in (None, province) or day > offset:
            continue
        region = sums.setdefault(province if by_province else ward, Sums())
        region.add(CONFIRMED, m[2 * CASES], m[2 * CASES + 1])
        if day > offset - 7:
            region.add(LAST_7, m[2 * CASES], m[2 * CASES + 1])
            region.add(SYMPTOMATIC_7, m[2 * SYMPTOMS], m[2 * SYMPTOMS + 1])
        if day == offset:
            region.add(MONITORED, m[2 * MONITORING], m[2 * MONITORING + 1])
        if day >= first_trend:
            trend[day - first_trend].add(CONFIRMED, m[2 * CASES], m[2 * CASES + 1])
            trend[day - first_trend].add(SYMPTOMATIC_7, m[2 * SYMPTOMS], m[2 * SYMPTOMS + 1])
    threshold = snapshot.threshold

    def figures(s: Sums) -> dict[str, int | None]:
        return {
            "confirmed_cases": _shown(s.values[CONFIRMED], s.present[CONFIRMED], threshold),
            "confirmed_last_7_days": _shown(s.values[LAST_7], s.present[LAST_7], threshold),
            "under_monitoring": _shown(s.values[MONITORED], s.present[MONITORED], threshold),
            "declarations_with_symptoms_last_7_days": _shown(
                s.values[SYMPTOMATIC_7], s.present[SYMPTOMATIC_7], threshold
            ),
        }

    regions = [
        {"code": code, "name": name, **figures(sums.get(code, Sums()))}
        for code, name in _regions(q)
    ]
    return {
        "level": q.level,
        "province": q.province,
        "province_name": province_name(q.province) if q.province else None,
        "date": q.day.isoformat(),
        "updated_at": snapshot.built_at.isoformat().replace("+00:00", "Z"),
        "threshold": threshold,
        "rounding": {"method": METHOD, "base": snapshot.base},
        "regions": regions,
        "trend": [
            {
                "day": (q.day - timedelta(days=TREND_DAYS - 1 - i)).isoformat(),
                "confirmed": _shown(s.values[CONFIRMED], s.present[CONFIRMED], threshold),
                "declarations_with_symptoms": _shown(
                    s.values[SYMPTOMATIC_7], s.present[SYMPTOMATIC_7], threshold
                ),
            }
            for i, s in enumerate(trend)
        ],
    }


def _regions(q: Question) -> list[tuple[int, str]]:
    if q.level == "province":
        return [(code, province_name(code) or str(code)) for code in PROVINCE_CODES]
    assert q.province is not None
    return _wards_of(q.province)


def _wards_of(province: int) -> list[tuple[int, str]]:
    return _all_wards().get(province, [])


@lru_cache(maxsize=1)
def _all_wards() -> dict[int, list[tuple[int, str]]]:
    """Wards per province, by code: fixed by the `vietnam-provinces` package."""
    wards: dict[int, list[tuple[int, str]]] = {}
    for ward in Ward.iter_all():
        wards.setdefault(int(ward.province_code), []).append((int(ward.code), ward.name))
    return {code: sorted(found) for code, found in wards.items()}
