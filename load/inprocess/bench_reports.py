"""Benchmark: the daily-by-province report from counters versus from raw declarations.

    python -m load.inprocess.bench_reports [--declarations 1000000] [--days 30] [--repeat 3]

Seeds a SQLite file (the real schema: every collection and index the service creates) with
N declaration documents shaped like the ones `declarations.service` stores, and with the
report counters those declarations produce, then times the same report four ways and prints
one markdown table:

* **raw declarations**: `GROUP BY` local day and province over `json_extract` of every row
  in the range, what a report without counters would have to do;
* **ward-level counters**: `reports.service.declaration_counts` reading the counters of
  every day (day × province × ward × status cells), aggregated in Python;
* **daily summaries, first run**: the service as it answers an analyst, building one summary
  per ended day and province from the counters (what the first report after midnight pays);
* **daily summaries, warm**: the same again, reading the summaries.

Every way must give exactly the raw counts, or the benchmark stops with an error.

Seeding takes a documented fast path, since a million declarations through the HTTP API
would benchmark the write path instead. Raw declarations and report counters are written
straight into a new file with `executemany`, in the SQLite adapter's table layout (`id` +
JSON `doc`), in large unjournalled transactions; the store then opens the file and creates
every collection and index the service has, building the indexes over the loaded rows. The
counter documents come from `reports.counters.count_declaration` for each distinct (day,
place, status, symptoms), with `n` set to how many declarations share it: exactly the
documents a million single increments would leave. (Through the store's fsync'd write
batches the same load takes several times longer, dominated by the disk, not by SQLite.)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import orjson
from vietnam_provinces import Ward

from core.clock import VIETNAM, local_day, utcnow
from core.storage import Delete, Document
from core.storage.sqlite import SqliteStore, create_table_sql, encode_datetime
from people.vocabulary import SYMPTOMS
from reports.counters import count_declaration
from reports.service import DeclarationQuery, declaration_counts
from reports.suppression import Rounding
from runtime.collections import COLLECTIONS

# The summaries hold published sums too; the benchmark checks and times the exact ones.
ROUNDING = Rounding.from_secret("benchmark", 5)

T = TypeVar("T")
Key = tuple[str, int]
ROW_BATCH = 50_000
CellKey = tuple[str, int, int, str, tuple[str, ...]]
STATUS_WEIGHTS = (("green", 0.85), ("yellow", 0.12), ("red", 0.03))

RAW_REPORT = """
SELECT date(json_extract(doc, '$.created_at'), '+7 hours') AS day,
       json_extract(doc, '$.province') AS province,
       count(*)
FROM declarations
WHERE json_extract(doc, '$.created_at') >= ? AND json_extract(doc, '$.created_at') < ?
GROUP BY day, province
"""


@dataclass(frozen=True)
class Plan:
    declarations: int
    days: int
    seed: int

    @property
    def last(self) -> date:
        return local_day(utcnow())

    @property
    def first(self) -> date:
        return self.last - timedelta(days=self.days - 1)


@dataclass(frozen=True)
class Timing:
    name: str
    seconds: float
    note: str = ""


def _minutes(plan: Plan) -> list[tuple[str, str, str]]:
    """Per minute of the range up to now: the UTC text prefixes of `created_at` and
    `expires_at` as the store encodes them, and the day in Vietnam. Formatting a million
    datetimes one by one would dominate the seeding time."""
    start = datetime.combine(plan.first, datetime.min.time(), tzinfo=VIETNAM)
    elapsed = int((utcnow() - start).total_seconds() // 60)
    minutes = []
    for m in range(max(1, min(plan.days * 1440, elapsed))):
        moment = start + timedelta(minutes=m)
        created = moment.astimezone(UTC)
        # isoformat()[:17] is "YYYY-MM-DDTHH:MM:", several times faster than strftime.
        minutes.append(
            (
                created.isoformat()[:17],
                (created + timedelta(days=30)).isoformat()[:17],
                moment.date().isoformat(),
            )
        )
    return minutes


def _declarations(plan: Plan) -> Iterator[tuple[str, str, CellKey]]:
    """(id, JSON document, counter cell) per declaration, reproducibly random."""
    rng = random.Random(plan.seed)
    wards = [(int(w.code), int(w.province_code)) for w in Ward.iter_all()]
    minutes = _minutes(plan)
    statuses = [s for s, _ in STATUS_WEIGHTS]
    cumulative = list(itertools.accumulate(w for _, w in STATUS_WEIGHTS))
    for n in range(plan.declarations):
        ward, province = wards[rng.randrange(len(wards))]
        status = rng.choices(statuses, cum_weights=cumulative)[0]
        symptoms: tuple[str, ...] = ()
        if status != "green" and rng.random() < 0.8:
            symptoms = tuple(sorted(rng.sample(SYMPTOMS, rng.randint(1, 3))))
        created, expires, day = minutes[rng.randrange(len(minutes))]
        second = f"{rng.randrange(60):02d}.000000Z"
        declaration_id = f"dec_{n:026d}"
        document = {
            "_id": declaration_id,
            "account_id": f"acc_{n // 2:026d}",
            "person_id": f"per_{n:026d}",
            "created_at": created + second,
            "expires_at": expires + second,
            "status": status,
            "rule_status": status,
            "reasons": [],
            "rules_version": "bench",
            "relation": "self",
            "birth_year": 1950 + n % 60,
            "gender": "female" if n % 2 else "male",
            "nationality": "VN",
            "province": province,
            "ward": ward,
            "street_enc": "x" * 60,
            "symptoms": list(symptoms),
            "exposure": {"confirmed_case": status == "red"},
            "travel": {"countries": [], "domestic": []},
        }
        cell = (day, province, ward, status, symptoms)
        yield declaration_id, orjson.dumps(document).decode(), cell


def bulk_load(path: Path, plan: Plan) -> int:
    """Write the raw declarations and their counters into a new file, before the store opens
    it; returns how many counter documents were written. See the module docstring."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # No journal, no fsync: a failed load is simply run again on a new file.
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        for table in _INSERT:
            conn.execute(create_table_sql(table))  # the store's own layout
        cells: Counter[CellKey] = Counter()
        rows: list[tuple[str, str]] = []
        for declaration_id, doc, cell in _declarations(plan):
            rows.append((declaration_id, doc))
            cells[cell] += 1
            if len(rows) == ROW_BATCH:
                _insert(conn, "declarations", rows)
                rows.clear()
        _insert(conn, "declarations", rows)
        counters = _counter_documents(cells)
        for start in range(0, len(counters), ROW_BATCH):
            _insert(conn, "report_counters", counters[start : start + ROW_BATCH])
        return len(counters)
    finally:
        conn.close()


def _counter_documents(cells: Counter[CellKey]) -> list[tuple[str, str]]:
    """What n calls of count_declaration leave behind, written once: the same `_id`, fields
    and `n`. Generation markers are left out: no summary exists yet for them to invalidate."""
    counters: dict[str, Document] = {}
    for (day, province, ward, status, symptoms), n in cells.items():
        for op in count_declaration(date.fromisoformat(day), province, ward, status, symptoms):
            if op.collection == "report_counters":
                document = counters.setdefault(op.id, {"_id": op.id, **op.set_on_insert, "n": 0})
                document["n"] += n
    return [(key, orjson.dumps(document).decode()) for key, document in counters.items()]


_INSERT = {
    "declarations": 'INSERT INTO "declarations" (id, doc) VALUES (?, ?)',
    "report_counters": 'INSERT INTO "report_counters" (id, doc) VALUES (?, ?)',
}


def _insert(conn: sqlite3.Connection, table: str, rows: list[tuple[str, str]]) -> None:
    conn.execute("BEGIN")
    conn.executemany(_INSERT[table], rows)
    conn.execute("COMMIT")


def _checkpoint(path: Path) -> None:
    """Fold the write-ahead log into the database, so every timing reads the same file."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=60)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def raw_report(path: Path, plan: Plan) -> Counter[Key]:
    """The report from raw declarations: local day and province of every row in range."""
    low = datetime.combine(plan.first, datetime.min.time(), tzinfo=VIETNAM).astimezone(UTC)
    high = low + timedelta(days=plan.days)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(RAW_REPORT, (encode_datetime(low), encode_datetime(high))).fetchall()
    finally:
        conn.close()
    return Counter({(day, int(province)): int(n) for day, province, n in rows})


async def _timed(runs: int, action: Callable[[], Awaitable[T]]) -> tuple[float, T]:
    """Median seconds over `runs`, and the last result."""
    times: list[float] = []
    result: T | None = None
    for _ in range(runs):
        started = time.perf_counter()
        result = await action()
        times.append(time.perf_counter() - started)
    assert result is not None
    return statistics.median(times), result


async def run(plan: Plan, directory: Path, repeat: int) -> tuple[list[Timing], dict[str, Any]]:
    path = directory / "bench-reports.sqlite3"
    if path.exists():
        raise SystemExit(f"{path} exists: give an empty --dir")
    started = time.perf_counter()
    counter_docs = await asyncio.to_thread(bulk_load, path, plan)
    store = SqliteStore(path)
    await store.start(COLLECTIONS)  # every collection and index, built over the loaded rows
    try:
        seed_seconds = time.perf_counter() - started
        query = DeclarationQuery(plan.first, plan.last, ("day", "province"))

        async def raw() -> Counter[Key]:
            return await asyncio.to_thread(raw_report, path, plan)

        async def wards() -> Counter[Any]:
            return await declaration_counts(
                store, query, now=utcnow(), rounding=ROUNDING, exact=True, use_summaries=False
            )

        async def summaries() -> Counter[Any]:
            return await declaration_counts(
                store, query, now=utcnow(), rounding=ROUNDING, exact=True
            )

        async def cold() -> Counter[Any]:
            await store.write([Delete("report_rollups", {"kind": "summary"})])
            _checkpoint(path)
            began = time.perf_counter()
            result = await summaries()
            cold_times.append(time.perf_counter() - began)
            return result

        cold_times: list[float] = []
        raw_seconds, expected = await _timed(repeat, raw)
        ward_seconds, from_wards = await _timed(repeat, wards)
        await _timed(repeat, cold)
        cold_seconds = statistics.median(cold_times)
        warm_seconds, from_summaries = await _timed(repeat, summaries)
        for name, got in (("ward counters", from_wards), ("summaries", from_summaries)):
            if got != expected:
                raise SystemExit(f"{name} disagree with the raw declarations")
        summary_docs = await store.count("report_rollups", {"kind": "summary"})
        ward_docs = await store.count("report_counters", {"kind": "declarations"})
        today_docs = await store.count(
            "report_counters", {"kind": "declarations", "day": plan.last.isoformat()}
        )
    finally:
        await store.close()
    ended = plan.days - 1
    timings = [
        Timing(
            "Raw declarations: GROUP BY over json_extract",
            raw_seconds,
            f"{plan.declarations:,} rows",
        ),
        Timing(
            "Ward-level counters, aggregated in Python",
            ward_seconds,
            f"{ward_docs:,} day × province × ward × status counters",
        ),
        Timing(
            "Daily summaries, first run (builds them)",
            cold_seconds,
            f"reads the counters of {ended} ended days, writes {summary_docs:,} summaries",
        ),
        Timing(
            "Daily summaries, warm",
            warm_seconds,
            f"{summary_docs:,} summaries + today's {today_docs:,} ward counters",
        ),
    ]
    facts = {
        "cells": len(expected),
        "counter_docs": counter_docs,
        "seed_seconds": seed_seconds,
        "size_mb": path.stat().st_size / 1e6,
    }
    return timings, facts


def render(plan: Plan, repeat: int, timings: list[Timing], facts: dict[str, Any]) -> str:
    raw = timings[0].seconds
    lines = [
        f"Daily-by-province declarations report, {plan.declarations:,} declarations over "
        f"{plan.days} days ({plan.first} to {plan.last}), {facts['cells']:,} result cells. "
        f"SQLite file of {facts['size_mb']:,.0f} MB with {facts['counter_docs']:,} counter "
        f"documents of all kinds, seeded in {facts['seed_seconds']:.0f} s. "
        f"Median of {repeat} runs on {os.cpu_count()} CPUs.",
        "",
        "| Source | Time | Speed-up vs raw | Notes |",
        "|---|---:|---:|---|",
    ]
    for timing in timings:
        ratio = raw / timing.seconds if timing.seconds else float("inf")
        lines.append(
            f"| {timing.name} | {timing.seconds * 1000:,.1f} ms | {ratio:,.1f}× | {timing.note} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m load.inprocess.bench_reports",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--declarations", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026, help="random seed of the data")
    parser.add_argument("--dir", type=Path, help="keep the SQLite file here (default: a temp dir)")
    args = parser.parse_args(argv)
    if args.declarations < 1 or not 1 <= args.days <= 366 or args.repeat < 1:
        parser.error("--declarations ≥ 1, 1 ≤ --days ≤ 366, --repeat ≥ 1")
    plan = Plan(args.declarations, args.days, args.seed)
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
        timings, facts = asyncio.run(run(plan, args.dir, args.repeat))
    else:
        with tempfile.TemporaryDirectory(prefix="khaibao-bench-reports-") as directory:
            timings, facts = asyncio.run(run(plan, Path(directory), args.repeat))
    print(render(plan, args.repeat, timings, facts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
