"""GET /v1/reports/checkpoints: scans and check-ins per checkpoint and decision."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.context import Context
from core.storage import Document, Filter, Insert, Operation
from core.storage.factory import open_store
from core.storage.sqlite import SqliteStore, statements
from reports.counters import COUNTERS, ROLLUPS, count_checkpoint_event, count_declaration
from reports.repository import checkpoint_counters, checkpoint_names
from reports.suppression import rounding_for
from tests.conftest import make_settings, sign_in_citizen, sign_in_staff
from tests.reports.seeding import days_ago, today

URL = "/v1/reports/checkpoints"


def span() -> dict[str, str]:
    return {"from": days_ago(2).isoformat(), "to": today().isoformat()}


async def count_events(ctx: Context, checkpoint: str, event: Any, decision: str, n: int) -> None:
    """Checkpoint events counted as the scan and check-in services count them. Seeded through
    the counters because scanning needs signed QR codes the checkpoints domain issues."""
    ops: list[Operation] = []
    for i in range(n):
        ops.append(count_checkpoint_event(days_ago(i % 3), checkpoint, event, decision))
    await ctx.store.write(ops)


EVENTS = (
    ("cp_airport", "scan", "allow", 12),
    ("cp_airport", "scan", "deny", 3),
    ("cp_market", "checkin", "checkin", 7),
    ("cp_market", "scan", "allow", 5),
)


@pytest.fixture
async def events(ctx: Context) -> None:
    for checkpoint, event, decision, n in EVENTS:
        await count_events(ctx, checkpoint, event, decision, n)


def published(ctx: Context, days: range = range(3)) -> dict[tuple[str, str, str], int]:
    """Each row's expected count: its days' counts (`count_events` spreads them over three
    days), each rounded once by the service's key, summed (SECURITY.md)."""
    rounding = rounding_for(ctx.settings)
    table: dict[tuple[str, str, str], int] = {}
    for checkpoint, event, decision, n in EVENTS:
        per_day = Counter(i % 3 for i in range(n))
        table[(checkpoint, event, decision)] = sum(
            rounding.publish(f"cp|{days_ago(d)}|{checkpoint}|{event}|{decision}", per_day[d])
            for d in days
        )
    return table


@pytest.mark.usefixtures("events")
class TestCheckpointCounts:
    async def test_per_checkpoint_event_and_decision(
        self, ctx: Context, client: httpx.AsyncClient, analyst: dict[str, str]
    ) -> None:
        response = await client.get(URL, params=span(), headers=analyst)
        assert response.status_code == 200, response.text
        body = response.json()
        expected = published(ctx)
        assert body["rows"] == [
            {
                "checkpoint_id": checkpoint,
                "event": event,
                "decision": decision,
                "count": expected[(checkpoint, event, decision)]
                if expected[(checkpoint, event, decision)] >= 5
                else None,
                "suppressed": expected[(checkpoint, event, decision)] < 5,
            }
            for checkpoint, event, decision, _ in EVENTS
        ]
        shown = [n for n in expected.values() if n >= 5]
        assert body["total"] == {
            "count": sum(shown),
            "shown_cells": len(shown),
            "suppressed_cells": len(EVENTS) - len(shown),
            "basis": "sum_of_shown_cells",
        }
        assert body["rounding"] == {"method": "keyed_random_rounding", "base": 5}
        # 3 denials, one a day: each day's 1 rounds to 0 or 5, never to 3.
        assert expected[("cp_airport", "scan", "deny")] in (0, 5, 10, 15)

    async def test_one_checkpoint_and_one_day(
        self, ctx: Context, client: httpx.AsyncClient, analyst: dict[str, str]
    ) -> None:
        day = today().isoformat()
        response = await client.get(
            URL, params={"from": day, "to": day, "checkpoint": "cp_airport"}, headers=analyst
        )
        rows = response.json()["rows"]
        expected = published(ctx, range(1))
        assert [(r["decision"], r["count"]) for r in rows] == [
            (decision, n if (n := expected[("cp_airport", "scan", decision)]) >= 5 else None)
            for decision in ("allow", "deny")
        ]

    async def test_names_when_the_checkpoint_is_known(
        self, ctx: Context, client: httpx.AsyncClient, analyst: dict[str, str]
    ) -> None:
        await ctx.store.write(
            [Insert("checkpoints", {"_id": "cp_airport", "name": "Sân bay Nội Bài"})]
        )
        response = await client.get(URL, params=span(), headers=analyst)
        names = {r["checkpoint_id"]: r.get("checkpoint_name") for r in response.json()["rows"]}
        assert names == {"cp_airport": "Sân bay Nội Bài", "cp_market": None}

    async def test_csv(
        self, ctx: Context, client: httpx.AsyncClient, analyst: dict[str, str]
    ) -> None:
        response = await client.get(URL, params=span(), headers={**analyst, "Accept": "text/csv"})
        assert response.content.startswith(b"\xef\xbb\xbf")
        assert "attachment;" in response.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0] == ["checkpoint_id", "checkpoint_name", "event", "decision", "count"]
        deny = published(ctx)[("cp_airport", "scan", "deny")]
        assert ["cp_airport", "", "scan", "deny", str(deny) if deny >= 5 else "<5"] in rows


class TestWithoutTheCheckpointsCollection:
    async def test_names_are_omitted_not_an_error(self, database_url: str) -> None:
        store = open_store(make_settings(database_url))  # a store that knows only counters
        await store.start([COUNTERS])
        try:
            assert await checkpoint_names(store, ["cp_airport"]) == {}
        finally:
            await store.close()


class FiltersKept(SqliteStore):
    """The SQLite store, keeping the filter of each find."""

    filters: list[dict[str, Any]]

    async def find(
        self,
        collection: str,
        where: Filter,
        *,
        sort: Sequence[tuple[str, int]] = (),
        limit: int | None = None,
    ) -> list[Document]:
        self.filters.append(dict(where))
        return await super().find(collection, where, sort=sort, limit=limit)


def query_plan(path: Path, where: Filter) -> str:
    """SQLite's plan for the find of this filter, its SQL written by the adapter's own
    `statements.where`, as `SqliteStore.find` writes it."""
    clause, params = statements.where(where)
    conn = sqlite3.connect(path)
    try:
        sql = f'EXPLAIN QUERY PLAN SELECT doc FROM "report_counters" WHERE {clause}'  # noqa: S608 (built by the store)
        rows: Sequence[tuple[Any, ...]] = conn.execute(sql, params).fetchall()
    finally:
        conn.close()
    return " / ".join(str(row[-1]) for row in rows)


class TestOneCheckpointOnSqlite:
    """The counters of one checkpoint come from the index by checkpoint, which holds only
    checkpoint counters (`Index.only_with`), so a declaration's counters never touch it."""

    async def test_its_report_query_is_planned_through_the_partial_index(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "counters.sqlite3"
        store = FiltersKept(path)
        store.filters = []
        await store.start([COUNTERS, ROLLUPS])
        try:
            await store.write(count_declaration(days_ago(1), 1, 101, "green", ["fever"]))
            await store.write([count_checkpoint_event(days_ago(1), "cp_airport", "scan", "allow")])
            found = await checkpoint_counters(store, days_ago(2), today(), "cp_airport")
            await checkpoint_counters(store, days_ago(2), today())
        finally:
            await store.close()

        one, every = store.filters
        assert query_plan(path, one) == (
            "SEARCH report_counters USING INDEX "
            "ix_report_counters_kind_checkpoint_id_day_with_checkpoint_id "
            "(<expr>=? AND <expr>=? AND <expr>>? AND <expr><?)"
        )
        assert query_plan(path, every).startswith(
            "SEARCH report_counters USING INDEX ix_report_counters_kind_day "
        )
        assert [doc["checkpoint_id"] for doc in found] == ["cp_airport"]


class TestCheckpointAccess:
    async def test_anonymous_citizen_and_checkpoint_staff_are_refused(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        assert (await client.get(URL, params=span())).status_code == 401
        citizen = await sign_in_citizen(client)
        assert (await client.get(URL, params=span(), headers=citizen)).status_code == 403
        staff = await sign_in_staff(ctx, client, "checkpoint_staff", checkpoints=("cp_airport",))
        assert (await client.get(URL, params=span(), headers=staff)).status_code == 403

    async def test_bad_range_is_422(
        self, client: httpx.AsyncClient, analyst: dict[str, str]
    ) -> None:
        response = await client.get(
            URL, params={"from": "2026-02-01", "to": "2026-01-01"}, headers=analyst
        )
        assert response.status_code == 422
        assert response.json()["code"] == "report_range_invalid"
