"""GET /v1/reports/declarations: exact counts from the counters, suppression, CSV, access."""

from __future__ import annotations

import csv
import io
import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest

from core.context import Context
from core.settings import Settings
from tests.conftest import sign_in_citizen, sign_in_staff
from tests.reports.conftest import Seeded
from tests.reports.seeding import (
    BA_DINH,
    DA_NANG,
    HA_NOI,
    HO_CHI_MINH,
    HOAN_KIEM,
    Batch,
    days_ago,
    seed,
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


@pytest.mark.asyncio(loop_scope="module")
class TestGroupedCounts:
    async def test_by_day_and_province(self, seeded: Seeded) -> None:
        body = await report(seeded.client, seeded.analyst, group_by="day,province")
        d1, d2, d3 = days_ago(3).isoformat(), days_ago(2).isoformat(), today().isoformat()
        assert counts(body, "day", "province") == {
            (d1, HA_NOI): 17,
            (d2, HA_NOI): 10,
            (d2, DA_NANG): None,
            (d2, HO_CHI_MINH): 14,
            (d3, HA_NOI): 5,
        }
        assert body["group_by"] == ["day", "province"]
        assert body["unit"] == "declarations"
        names = {row["province"]: row["province_name"] for row in body["rows"]}
        assert names[HA_NOI] == "Thành phố Hà Nội"
        assert names[HO_CHI_MINH] == "Thành phố Hồ Chí Minh"

    async def test_by_day(self, seeded: Seeded) -> None:
        body = await report(seeded.client, seeded.analyst, group_by="day")
        assert [(row["day"], row["count"]) for row in body["rows"]] == [
            (days_ago(3).isoformat(), 17),
            (days_ago(2).isoformat(), 27),
            (today().isoformat(), 5),
        ]
        assert body["total"]["count"] == TRUE_TOTAL  # nothing suppressed here

    async def test_by_province_and_status(self, seeded: Seeded) -> None:
        body = await report(seeded.client, seeded.analyst, group_by="province,status")
        assert counts(body, "province", "status") == {
            (HA_NOI, "green"): 22,
            (HA_NOI, "yellow"): 5,
            (HA_NOI, "red"): 5,
            (DA_NANG, "yellow"): None,
            (HO_CHI_MINH, "green"): 8,
            (HO_CHI_MINH, "yellow"): 6,
        }

    async def test_by_status_and_symptom(self, seeded: Seeded) -> None:
        body = await report(seeded.client, seeded.analyst, group_by="status,symptom")
        assert counts(body, "status", "symptom") == {
            ("yellow", "fever"): 11,
            ("yellow", "sore_throat"): None,
            ("red", "fever"): None,
            ("red", "cough"): 5,
        }
        assert body["unit"] == "symptom_mentions"

    async def test_by_symptom_and_day(self, seeded: Seeded) -> None:
        body = await report(seeded.client, seeded.analyst, group_by="symptom,day")
        assert counts(body, "symptom", "day") == {
            ("fever", days_ago(3).isoformat()): 5,
            ("fever", days_ago(2).isoformat()): 9,
            ("cough", days_ago(3).isoformat()): None,
            ("cough", days_ago(2).isoformat()): None,
            ("sore_throat", days_ago(2).isoformat()): None,
        }

    async def test_by_ward_within_one_province(self, seeded: Seeded) -> None:
        body = await report(seeded.client, seeded.analyst, group_by="ward,status", province=HA_NOI)
        assert counts(body, "ward", "status") == {
            (BA_DINH, "green"): None,
            (HOAN_KIEM, "green"): 18,
            (HOAN_KIEM, "yellow"): 5,
            (HOAN_KIEM, "red"): 5,
        }
        assert {row["ward_name"] for row in body["rows"]} == {"Phường Ba Đình", "Phường Hoàn Kiếm"}
        assert body["province_name"] == "Thành phố Hà Nội"

    async def test_province_filter(self, seeded: Seeded) -> None:
        body = await report(seeded.client, seeded.analyst, group_by="status", province=HO_CHI_MINH)
        assert counts(body, "status") == {("green",): 8, ("yellow",): 6}

    async def test_range_excludes_days_outside(self, seeded: Seeded) -> None:
        day = days_ago(2).isoformat()
        body = await report(
            seeded.client, seeded.analyst, group_by="province", **{"from": day, "to": day}
        )
        assert counts(body, "province") == {(HA_NOI,): 10, (DA_NANG,): None, (HO_CHI_MINH,): 14}


@pytest.mark.asyncio(loop_scope="module")
class TestSmallCellSuppression:
    async def test_a_cell_of_three_is_suppressed(self, seeded: Seeded) -> None:
        body = await report(seeded.client, seeded.analyst, group_by="province")
        da_nang = next(row for row in body["rows"] if row["province"] == DA_NANG)
        assert da_nang == {
            "province": DA_NANG,
            "province_name": "Thành phố Đà Nẵng",
            "count": None,
            "suppressed": True,
        }
        assert body["threshold"] == 5

    @pytest.mark.parametrize(
        "group_by", ["province", "day,province", "province,status", "status,symptom", "symptom"]
    )
    async def test_total_does_not_reveal_suppressed_cells(
        self, seeded: Seeded, group_by: str
    ) -> None:
        body = await report(seeded.client, seeded.analyst, group_by=group_by)
        shown = [row["count"] for row in body["rows"] if not row["suppressed"]]
        hidden = [row for row in body["rows"] if row["suppressed"]]
        assert hidden, "the seeded data has small cells in every one of these tables"
        total = body["total"]
        assert total["basis"] == "sum_of_shown_cells"
        assert total["count"] == sum(shown)  # total minus shown cells is 0, never a hidden cell
        assert total["suppressed_cells"] == len(hidden)
        assert total["shown_cells"] == len(shown)
        assert all(row["count"] is None for row in hidden)

    async def test_the_true_total_appears_nowhere(self, seeded: Seeded) -> None:
        response = await seeded.client.get(
            URL, params={**span(), "group_by": "province"}, headers=seeded.analyst
        )
        numbers = {row["count"] for row in response.json()["rows"]} | {
            response.json()["total"]["count"]
        }
        assert TRUE_TOTAL not in numbers
        assert TRUE_TOTAL - 46 == 3  # Đà Nẵng's hidden 3 = true total minus the shown total


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
        assert counts(body, "status") == {("green",): 10, ("yellow",): None}


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
        assert rows[1:] == [
            ["1", "Thành phố Hà Nội", "green", "22"],
            ["1", "Thành phố Hà Nội", "yellow", "5"],
            ["1", "Thành phố Hà Nội", "red", "5"],
            ["48", "Thành phố Đà Nẵng", "yellow", "<5"],
            ["79", "Thành phố Hồ Chí Minh", "green", "8"],
            ["79", "Thành phố Hồ Chí Minh", "yellow", "6"],
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
