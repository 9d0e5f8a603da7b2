"""GET /v1/reports/declarations: counts from the counters, rounded and suppressed; CSV, access."""

from __future__ import annotations

import csv
import io
import logging
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from core.clock import utcnow
from core.context import Context
from core.settings import Settings
from reports.service import DeclarationQuery, declaration_counts, parse_group_by
from reports.suppression import rounding_for
from tests.conftest import sign_in_citizen, sign_in_staff
from tests.reports.conftest import Seeded
from tests.reports.seeding import (
    BA_DINH,
    DA_NANG,
    HA_NOI,
    HO_CHI_MINH,
    HOAN_KIEM,
    Batch,
    atoms_of,
    days_ago,
    published_table,
    seed,
    standard_batches,
    today,
)

URL = "/v1/reports/declarations"
TRUE_TOTAL = 49  # standard_batches()


def span() -> dict[str, str]:
    return {"from": days_ago(3).isoformat(), "to": today().isoformat()}


async def report(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    """The JSON report for `span()` unless `from`/`to` are given."""
    response = await client.get(URL, params={**span(), **params}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def counts(body: dict[str, Any], *dims: str) -> dict[tuple[Any, ...], int | None]:
    return {tuple(row[d] for d in dims): row["count"] for row in body["rows"]}


async def exact(
    seeded: Seeded, group_by: str, province: int | None = None
) -> dict[tuple[Any, ...], int]:
    """The true counts behind a report of `span()` (never published), through the same
    counters and summaries."""
    query = DeclarationQuery(days_ago(3), today(), parse_group_by(group_by), province)
    found = await declaration_counts(
        seeded.ctx.store,
        query,
        now=utcnow(),
        rounding=rounding_for(seeded.ctx.settings),
        exact=True,
    )
    return dict(found)


def expected(
    seeded: Seeded, group_by: str, province: int | None = None, **days: date
) -> dict[tuple[Any, ...], int | None]:
    """What the analyst should see: the standard batches' atoms, rounded and summed."""
    return published_table(
        standard_batches(),
        rounding_for(seeded.ctx.settings),
        seeded.ctx.settings.small_cell_threshold,
        group_by.split(","),
        first=days.get("first", days_ago(3)),
        last=days.get("last", today()),
        province=province,
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


@pytest.mark.asyncio(loop_scope="module")
class TestCsv:
    async def test_csv_with_bom_header_diacritics_and_hidden_cells(self, seeded: Seeded) -> None:
        response = await seeded.client.get(
            URL,
            params={**span(), "group_by": "province,status"},
            headers={**seeded.analyst, "Accept": "text/csv"},
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        disposition = response.headers["content-disposition"]
        assert disposition == (
            f'attachment; filename="khaibao-declarations-{span()["from"]}-{span()["to"]}.csv"'
        )
        raw = response.content
        assert raw.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        assert rows[0] == ["province", "province_name", "status", "count"]
        names = {HA_NOI: "Thành phố Hà Nội", DA_NANG: "Thành phố Đà Nẵng"}
        names[HO_CHI_MINH] = "Thành phố Hồ Chí Minh"
        table = expected(seeded, "province,status")
        order = [
            (HA_NOI, "green"),
            (HA_NOI, "yellow"),
            (HA_NOI, "red"),
            (DA_NANG, "yellow"),
            (HO_CHI_MINH, "green"),
            (HO_CHI_MINH, "yellow"),
        ]
        assert rows[1:] == [
            [
                str(p),
                names[p],
                status,
                "<5" if table[(p, status)] is None else str(table[(p, status)]),
            ]
            for p, status in order
        ]
        assert "Thành phố Hà Nội".encode() in raw  # UTF-8 bytes, not escapes

    async def test_json_unless_csv_is_preferred(self, seeded: Seeded) -> None:
        params = {**span(), "group_by": "day"}
        for accept in ("*/*", "application/json", "application/json, text/csv;q=0.5"):
            response = await seeded.client.get(
                URL, params=params, headers={**seeded.analyst, "Accept": accept}
            )
            assert response.headers["content-type"] == "application/json", accept


class TestAccess:
    async def test_anonymous_is_401(self, client: httpx.AsyncClient) -> None:
        response = await client.get(URL, params={**span(), "group_by": "day"})
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "unauthenticated"

    async def test_citizen_is_403(self, client: httpx.AsyncClient) -> None:
        headers = await sign_in_citizen(client)
        response = await client.get(URL, params=span(), headers=headers)
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"

    @pytest.mark.parametrize("role", ["checkpoint_staff", "health_officer", "admin"])
    async def test_other_staff_are_403(
        self, ctx: Context, client: httpx.AsyncClient, role: Any
    ) -> None:
        headers = await sign_in_staff(ctx, client, role)
        response = await client.get(URL, params=span(), headers=headers)
        assert response.status_code == 403

    async def test_no_data_is_cached_by_the_browser(
        self, client: httpx.AsyncClient, analyst: dict[str, str]
    ) -> None:
        response = await client.get(URL, params=span(), headers=analyst)
        assert response.headers["cache-control"] == "no-store"


@pytest.mark.asyncio(loop_scope="module")
class TestValidation:
    @pytest.mark.parametrize(
        ("params", "code", "field"),
        [
            ({"from": "2026-03-02", "to": "2026-03-01"}, "report_range_invalid", "to"),
            ({"from": "2025-01-01", "to": "2026-01-02"}, "report_range_invalid", "to"),
            (
                {"from": "2026-03-01", "to": "2026-03-01", "group_by": "country"},
                "report_group_by_invalid",
                "group_by",
            ),
            (
                {"from": "2026-03-01", "to": "2026-03-01", "group_by": "day,province,status"},
                "report_group_by_invalid",
                "group_by",
            ),
            (
                {"from": "2026-03-01", "to": "2026-03-01", "group_by": "day,day"},
                "report_group_by_invalid",
                "group_by",
            ),
            (
                {"from": "2026-03-01", "to": "2026-03-01", "group_by": ""},
                "report_group_by_invalid",
                "group_by",
            ),
            (
                {"from": "2026-03-01", "to": "2026-03-01", "province": "2"},
                "province_unknown",
                "province",
            ),
            ({"from": "2026-03-01", "to": "2026-02-30"}, "validation_failed", "query.to"),
            ({"to": "2026-03-01"}, "validation_failed", "query.from"),
        ],
    )
    async def test_bad_query_is_422(
        self,
        seeded: Seeded,
        params: dict[str, str],
        code: str,
        field: str,
    ) -> None:
        response = await seeded.client.get(URL, params=params, headers=seeded.analyst)
        assert response.status_code == 422, response.text
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert problem["code"] == code
        assert [e["field"] for e in problem["errors"]] == [field]

    async def test_field_messages_follow_the_callers_language(self, seeded: Seeded) -> None:
        params = {**span(), "group_by": "country"}
        answers = {
            lang: (
                await seeded.client.get(
                    URL, params=params, headers={**seeded.analyst, "Accept-Language": lang}
                )
            ).json()
            for lang in ("vi", "en")
        }
        assert answers["vi"]["errors"][0]["message"].startswith("`group_by` nhận")
        assert answers["en"]["errors"][0]["message"].startswith("`group_by` takes")

    async def test_a_full_year_is_accepted(self, seeded: Seeded) -> None:
        last = today()
        first = last - timedelta(days=365)
        response = await seeded.client.get(
            URL, params={"from": str(first), "to": str(last)}, headers=seeded.analyst
        )
        assert response.status_code == 200
        assert [row["day"] for row in response.json()["rows"]] == [
            days_ago(3).isoformat(),
            days_ago(2).isoformat(),
            today().isoformat(),
        ]

    async def test_the_bad_value_is_not_echoed(self, seeded: Seeded) -> None:
        response = await seeded.client.get(
            URL,
            params={**span(), "group_by": "<script>alert(1)</script>"},
            headers=seeded.analyst,
        )
        assert response.status_code == 422
        assert "script" not in response.text


class TestAuditTrail:
    async def test_each_report_request_is_stored_and_logged_without_rows(
        self,
        ctx: Context,
        client: httpx.AsyncClient,
        analyst: dict[str, str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        await seed(ctx, [Batch(days_ago(1), HA_NOI, HOAN_KIEM, "green", count=5)])
        with caplog.at_level(logging.INFO, logger="reports.audit"):
            await report(client, analyst, group_by="province", province=HA_NOI)
            csv_response = await client.get(
                URL, params={**span(), "group_by": "day"}, headers={**analyst, "Accept": "text/csv"}
            )
        assert csv_response.status_code == 200
        entries = await ctx.store.find("audit_log", {}, sort=[("at", 1)])
        assert len(entries) == 2
        first = entries[0]
        assert first["report"] == "declarations"
        assert first["role"] == "analyst"
        assert first["user"].startswith("usr_")
        assert first["params"] == {
            **span(),
            "group_by": ["province"],
            "province": HA_NOI,
            "format": "json",
        }
        assert first["expires_at"] - first["at"] == timedelta(days=365)
        assert entries[1]["params"]["format"] == "csv"
        assert set(first) == {"_id", "user", "role", "report", "params", "at", "expires_at"}
        logged = [r for r in caplog.records if r.getMessage() == "report requested"]
        assert len(logged) == 2
        fields = logged[0].__dict__["fields"]
        assert fields["user"] == first["user"]
        assert fields["params"]["group_by"] == ["province"]
        assert "rows" not in fields

    async def test_refused_requests_are_not_reports(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        await client.get(URL, params=span())
        assert await ctx.store.count("audit_log", {}) == 0
