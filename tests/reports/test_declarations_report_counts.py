"""GET /v1/reports/declarations, the counts: grouped from the counters, rounded and
suppressed as published, under the configured threshold."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.context import Context
from core.settings import Settings
from tests.reports.conftest import Seeded
from tests.reports.declarations_api import TRUE_TOTAL, counts, exact, expected, report
from tests.reports.seeding import (
    BA_DINH,
    DA_NANG,
    HA_NOI,
    HO_CHI_MINH,
    HOAN_KIEM,
    Batch,
    atoms_of,
    days_ago,
    seed,
    standard_batches,
    today,
)


@pytest.mark.asyncio(loop_scope="module")
class TestGroupedCounts:
    async def test_by_day_and_province(self, seeded: Seeded) -> None:
        body = await report(seeded.client, seeded.analyst, group_by="day,province")
        d1, d2, d3 = days_ago(3).isoformat(), days_ago(2).isoformat(), today().isoformat()
        assert await exact(seeded, "day,province") == {
            (d1, HA_NOI): 17,
            (d2, HA_NOI): 10,
            (d2, DA_NANG): 3,
            (d2, HO_CHI_MINH): 14,
            (d3, HA_NOI): 5,
        }
        assert counts(body, "day", "province") == expected(seeded, "day,province")
        assert body["group_by"] == ["day", "province"]
        assert body["unit"] == "declarations"
        assert body["rounding"] == {"method": "keyed_random_rounding", "base": 5}
        names = {row["province"]: row["province_name"] for row in body["rows"]}
        assert names[HA_NOI] == "Thành phố Hà Nội"
        assert names[HO_CHI_MINH] == "Thành phố Hồ Chí Minh"

    async def test_by_day(self, seeded: Seeded) -> None:
        body = await report(seeded.client, seeded.analyst, group_by="day")
        assert await exact(seeded, "day") == {
            (days_ago(3).isoformat(),): 17,
            (days_ago(2).isoformat(),): 27,
            (today().isoformat(),): 5,
        }
        assert counts(body, "day") == expected(seeded, "day")
        assert [row["day"] for row in body["rows"]] == [
            days_ago(3).isoformat(),
            days_ago(2).isoformat(),
            today().isoformat(),
        ]

    async def test_by_province_and_status(self, seeded: Seeded) -> None:
        body = await report(seeded.client, seeded.analyst, group_by="province,status")
        assert await exact(seeded, "province,status") == {
            (HA_NOI, "green"): 22,
            (HA_NOI, "yellow"): 5,
            (HA_NOI, "red"): 5,
            (DA_NANG, "yellow"): 3,
            (HO_CHI_MINH, "green"): 8,
            (HO_CHI_MINH, "yellow"): 6,
        }
        assert counts(body, "province", "status") == expected(seeded, "province,status")

    async def test_by_status_and_symptom(self, seeded: Seeded) -> None:
        body = await report(seeded.client, seeded.analyst, group_by="status,symptom")
        assert await exact(seeded, "status,symptom") == {
            ("yellow", "fever"): 11,
            ("yellow", "sore_throat"): 3,
            ("red", "fever"): 3,
            ("red", "cough"): 5,
        }
        assert counts(body, "status", "symptom") == expected(seeded, "status,symptom")
        assert body["unit"] == "symptom_mentions"

    async def test_by_symptom_and_day(self, seeded: Seeded) -> None:
        body = await report(seeded.client, seeded.analyst, group_by="symptom,day")
        assert await exact(seeded, "symptom,day") == {
            ("fever", days_ago(3).isoformat()): 5,
            ("fever", days_ago(2).isoformat()): 9,
            ("cough", days_ago(3).isoformat()): 2,
            ("cough", days_ago(2).isoformat()): 3,
            ("sore_throat", days_ago(2).isoformat()): 3,
        }
        assert counts(body, "symptom", "day") == expected(seeded, "symptom,day")

    async def test_by_ward_within_one_province(self, seeded: Seeded) -> None:
        body = await report(seeded.client, seeded.analyst, group_by="ward,status", province=HA_NOI)
        assert await exact(seeded, "ward,status", HA_NOI) == {
            (BA_DINH, "green"): 4,
            (HOAN_KIEM, "green"): 18,
            (HOAN_KIEM, "yellow"): 5,
            (HOAN_KIEM, "red"): 5,
        }
        assert counts(body, "ward", "status") == expected(seeded, "ward,status", HA_NOI)
        assert {row["ward_name"] for row in body["rows"]} == {"Phường Ba Đình", "Phường Hoàn Kiếm"}
        assert body["province_name"] == "Thành phố Hà Nội"

    async def test_province_filter(self, seeded: Seeded) -> None:
        body = await report(seeded.client, seeded.analyst, group_by="status", province=HO_CHI_MINH)
        assert await exact(seeded, "status", HO_CHI_MINH) == {("green",): 8, ("yellow",): 6}
        assert counts(body, "status") == expected(seeded, "status", HO_CHI_MINH)

    async def test_range_excludes_days_outside(self, seeded: Seeded) -> None:
        day = days_ago(2)
        body = await report(
            seeded.client,
            seeded.analyst,
            group_by="province",
            **{"from": day.isoformat(), "to": day.isoformat()},
        )
        assert set(counts(body, "province")) == {(HA_NOI,), (DA_NANG,), (HO_CHI_MINH,)}
        assert counts(body, "province") == expected(seeded, "province", first=day, last=day)


@pytest.mark.asyncio(loop_scope="module")
class TestPublishedCounts:
    """Every count is the sum of its day-and-ward parts, each rounded once (SECURITY.md)."""

    @pytest.mark.parametrize(
        "group_by", ["day", "province", "day,province", "ward,status", "status,symptom"]
    )
    async def test_counts_are_rounded_multiples_close_to_the_truth(
        self, seeded: Seeded, group_by: str
    ) -> None:
        body = await report(seeded.client, seeded.analyst, group_by=group_by)
        truth = await exact(seeded, group_by)
        atoms = atoms_of(standard_batches(), symptoms="symptom" in group_by)
        assert set(counts(body, *group_by.split(","))) == set(truth)  # no row added or lost
        for row in body["rows"]:
            key = tuple(row[d] for d in group_by.split(","))
            parts = sum(1 for dims, _ in atoms.values() if _matches(dims, group_by, key))
            if row["suppressed"]:
                assert row["count"] is None
            else:
                assert row["count"] % 5 == 0
                assert abs(row["count"] - truth[key]) <= 4 * parts

    async def test_a_cell_reads_the_same_in_every_grouping(self, seeded: Seeded) -> None:
        by_province = counts(
            await report(seeded.client, seeded.analyst, group_by="province"), "province"
        )
        by_day = counts(
            await report(seeded.client, seeded.analyst, group_by="day,province"), "day", "province"
        )
        for (province,), published in by_province.items():
            days = [n for (_, code), n in by_day.items() if code == province]
            assert (published or 0) == sum(n or 0 for n in days)

    async def test_suppressed_means_rounded_below_the_threshold(self, seeded: Seeded) -> None:
        table = expected(seeded, "province")
        body = await report(seeded.client, seeded.analyst, group_by="province")
        da_nang = next(row for row in body["rows"] if row["province"] == DA_NANG)
        # Đà Nẵng's 3 declarations are one part, rounded to 0 (suppressed) or to 5.
        assert da_nang["count"] in (None, 5)
        assert da_nang["suppressed"] is (table[(DA_NANG,)] is None)
        assert body["threshold"] == 5

    @pytest.mark.parametrize(
        "group_by", ["province", "day,province", "province,status", "status,symptom", "symptom"]
    )
    async def test_total_is_the_sum_of_the_shown_cells(self, seeded: Seeded, group_by: str) -> None:
        body = await report(seeded.client, seeded.analyst, group_by=group_by)
        shown = [row["count"] for row in body["rows"] if not row["suppressed"]]
        hidden = [row for row in body["rows"] if row["suppressed"]]
        total = body["total"]
        assert total["basis"] == "sum_of_shown_cells"
        assert total["count"] == sum(shown)
        assert total["suppressed_cells"] == len(hidden)
        assert total["shown_cells"] == len(shown)
        assert all(row["count"] is None for row in hidden)

    async def test_no_true_count_is_published_unless_it_is_a_multiple_of_the_base(
        self, seeded: Seeded
    ) -> None:
        body = await report(seeded.client, seeded.analyst, group_by="province")
        numbers = {row["count"] for row in body["rows"]} | {body["total"]["count"]}
        assert all(n is None or n % 5 == 0 for n in numbers)
        assert TRUE_TOTAL not in numbers  # 49 is not a multiple of 5


def _matches(dims: dict[str, Any], group_by: str, key: tuple[Any, ...]) -> bool:
    inside = days_ago(3).isoformat() <= dims["day"] <= today().isoformat()
    return inside and tuple(dims[d] for d in group_by.split(",")) == key


class TestThresholdSetting:
    @pytest.fixture
    def settings(self, database_url: str) -> Settings:
        from tests.conftest import make_settings

        return make_settings(database_url, small_cell_threshold=10)

    async def test_the_configured_threshold_applies(
        self, ctx: Context, client: httpx.AsyncClient, analyst: dict[str, str]
    ) -> None:
        await seed(
            ctx,
            [
                Batch(days_ago(1), HA_NOI, HOAN_KIEM, "green", count=10),
                Batch(days_ago(1), HA_NOI, HOAN_KIEM, "yellow", ("cough",), count=9),
            ],
        )
        body = await report(client, analyst, group_by="status")
        assert body["threshold"] == 10
        assert body["rounding"]["base"] == 10
        # One part each: 10 rounds to 10 whatever the offset, 9 to 0 (suppressed) or 10.
        assert counts(body, "status")[("green",)] == 10
        assert counts(body, "status")[("yellow",)] in (None, 10)
