"""GET /v1/reports/declarations, the request: CSV or JSON, who may ask, what is refused
as a bad query, and the audit trail each report leaves."""

from __future__ import annotations

import csv
import io
import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest

from core.context import Context
from tests.conftest import sign_in_citizen, sign_in_staff
from tests.reports.conftest import Seeded
from tests.reports.declarations_api import URL, expected, report, span
from tests.reports.seeding import (
    DA_NANG,
    HA_NOI,
    HO_CHI_MINH,
    HOAN_KIEM,
    Batch,
    days_ago,
    seed,
    today,
)


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
        # The report requests only: making the analyst's account is audited too.
        entries = await ctx.store.find("audit_log", {"report": "declarations"}, sort=[("at", 1)])
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
