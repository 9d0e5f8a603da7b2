"""The visits at a checkpoint that tracing reads: every visit overlapping the window, found
through one bounded range of the (checkpoint_id, arrived_at) index, and a visit that never
outlasts `visit_max_hours`, which is what makes that range complete."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from checkpoints import checkins, repository
from core.context import Context
from core.storage import Document, Filter, Insert
from core.storage.sqlite import SqliteStore
from core.storage.sqlite.statements import where as sql_where
from runtime.collections import COLLECTIONS
from tests.checkpoints.helpers import create_person, new_checkpoint, shifted
from tests.conftest import sign_in_citizen

START = datetime(2026, 12, 1, 8, tzinfo=UTC)
END = START + timedelta(hours=2)
LONGEST = timedelta(hours=12)
MINUTE = timedelta(minutes=1)


def visit(name: str, arrived: datetime, left: datetime, checkpoint: str = "cp_x") -> Document:
    return {
        "_id": f"chk_{name}",
        "checkpoint_id": checkpoint,
        "person_id": f"per_{name}",
        "arrived_at": arrived,
        "last_seen_at": left,
        "expires_at": END + timedelta(days=30),
    }


class TestVisitsOverlappingTheWindow:
    async def test_visits_touching_either_edge_are_found_and_the_rest_are_not(
        self, ctx: Context
    ) -> None:
        visits = [
            visit("left_at_start", START - timedelta(hours=1), START),
            visit("arrived_at_end", END, END + timedelta(hours=1)),
            visit("longest_ending_at_start", START - LONGEST, START),
            visit("inside", START + MINUTE, END - MINUTE),
            visit("spanning", START - MINUTE, END + MINUTE),
            visit("left_before", START - timedelta(hours=1), START - MINUTE),
            visit("arrived_after", END + MINUTE, END + timedelta(hours=1)),
            visit("days_before", START - timedelta(days=3), START - timedelta(days=3) + LONGEST),
            visit("elsewhere", START, END, checkpoint="cp_y"),
        ]
        await ctx.store.write([Insert("checkins", doc) for doc in visits])
        found = await repository.checkins_at(
            ctx.store, "cp_x", start=START, end=END, longest=LONGEST
        )
        assert sorted(doc["_id"] for doc in found) == [
            "chk_arrived_at_end",
            "chk_inside",
            "chk_left_at_start",
            "chk_longest_ending_at_start",
            "chk_spanning",
        ]


class FilterOnly:
    """Records the filter a repository query sends, and finds nothing."""

    def __init__(self) -> None:
        self.filters: list[Filter] = []

    async def find(self, collection: str, where: Filter, **_: Any) -> list[Document]:
        self.filters.append(where)
        return []


class TestOneIndexRange:
    async def test_sqlite_reads_only_the_arrivals_between_the_bounds(self, tmp_path: Path) -> None:
        """The planner's own account of the read: both ends of the arrival range bound the
        index search, so visits that arrived long before the window are never examined
        (the filter on `last_seen_at` alone used to read every visit since `start`)."""
        recorder = FilterOnly()
        await repository.checkins_at(
            recorder,  # type: ignore[arg-type]
            "cp_x",
            start=START,
            end=END,
            longest=LONGEST,
        )
        store = SqliteStore(tmp_path / "k.sqlite3")
        await store.start(COLLECTIONS)
        await store.close()
        clause, params = sql_where(recorder.filters[0])
        sql = f'EXPLAIN QUERY PLAN SELECT doc FROM "checkins" WHERE {clause}'  # noqa: S608 (built by the store)
        conn = sqlite3.connect(tmp_path / "k.sqlite3")
        try:
            plan = conn.execute(sql, params).fetchall()
        finally:
            conn.close()
        assert [row[3] for row in plan] == [
            "SEARCH checkins USING INDEX ix_checkins_checkpoint_id_arrived_at "
            "(<expr>=? AND <expr>>? AND <expr><?)"
        ]


class TestAVisitHasALongestLength:
    async def test_checking_in_past_the_longest_visit_opens_a_new_one(
        self, client: httpx.AsyncClient, ctx: Context, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Checked in every 110 minutes, always within the stay window: the visit is
        extended until it has lasted `visit_max_hours` (12), then a new one begins."""
        venue = await new_checkpoint(ctx, client)
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        body = {"venue_token": venue["venue_token"], "person_id": person_id}
        first = (await client.post("/v1/checkins", json=body, headers=citizen)).json()
        seen = []
        for minutes in range(110, 12 * 60 + 110, 110):  # 110 … 770
            monkeypatch.setattr(checkins, "utcnow", shifted(minutes))
            response = await client.post("/v1/checkins", json=body, headers=citizen)
            seen.append((minutes, response.status_code, response.json()["id"] == first["id"]))
        assert seen == [(m, 201, True) for m in range(110, 721, 110)] + [(770, 201, False)]
        stored = await ctx.store.get("checkins", first["id"])
        assert stored is not None
        assert stored["last_seen_at"] - stored["arrived_at"] <= timedelta(hours=12)
