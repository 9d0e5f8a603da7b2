"""The analysts' report: counts by category and status with small cells suppressed, and the
median time to answer."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import httpx

from core.clock import local_day, new_id, utcnow
from core.context import Context
from questions import repository
from tests.conftest import sign_in_staff
from tests.questions.conftest import assert_problem


def stored_question(category: str, status: str, hours: float | None) -> dict[str, Any]:
    received = utcnow() - timedelta(days=1)
    answered = received + timedelta(hours=hours) if hours is not None else None
    return {
        "_id": new_id("qst"),
        "asker": "acc_x",
        "locale": "vi",
        "kind": "question",
        "category": category,
        "title": "t",
        "body": "b",
        "province": None,
        "ward": None,
        "status": status,
        "version": 1,
        "answer": "a" if hours is not None else None,
        "answered_by": None,
        "answer_seconds": int(hours * 3600) if hours is not None else None,
        "duplicate_of": None,
        "rejection_reason": None,
        "faq_id": None,
        "received_at": received,
        "updated_at": received,
        "answered_at": answered,
        "published_at": None,
    }


class TestQuestionReport:
    async def test_counts_rounded_and_suppressed_and_the_median(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        # Multiples of the rounding base (5) stay exact; a single one rounds to 0 or 5.
        docs = [stored_question("declaration", "published", h) for h in range(1, 11)]
        docs += [stored_question("declaration", "answered", h) for h in range(11, 16)]
        docs += [stored_question("declaration", "received", None) for _ in range(5)]
        docs += [stored_question("qr_code", "received", None) for _ in range(2)]
        docs += [stored_question("testing", "answered", 100)]
        await ctx.store.write([repository.insert_question(d) for d in docs])
        analyst = await sign_in_staff(ctx, client, "analyst")
        day = local_day(utcnow() - timedelta(days=1)).isoformat()
        response = await client.get(
            "/v1/reports/questions", params={"from": day, "to": day}, headers=analyst
        )
        assert response.status_code == 200, response.text
        report = response.json()
        cells = {(r["category"], r["status"]): r["count"] for r in report["rows"]}
        assert cells[("declaration", "published")] == 10
        assert cells[("declaration", "answered")] == 5
        assert cells[("declaration", "received")] == 5
        assert cells.get(("qr_code", "received")) in (None, 5)
        assert all(count is None or count % 5 == 0 for count in cells.values())
        times = {
            t["category"]: (t["median_hours"], t["suppressed"]) for t in report["answer_times"]
        }
        assert times["declaration"] == (8.0, False)
        assert "qr_code" not in times
        # One answer, whatever its rounded count: its median is that citizen's answer time.
        assert times["testing"] == (None, True)
        assert times["all"][1] is False
        audited = await ctx.store.find("audit_log", {"report": "questions"})
        assert len(audited) == 1

    async def test_a_median_of_fewer_than_the_threshold_is_withheld_in_json_and_csv(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        # One vaccination question (its count may round to 5), three about testing (to 5
        # or 0): in each, and in all four, fewer answers than the threshold.
        docs = [stored_question("vaccination", "answered", 7)]
        docs += [stored_question("testing", "published", h) for h in (1, 2, 3)]
        await ctx.store.write([repository.insert_question(d) for d in docs])
        analyst = await sign_in_staff(ctx, client, "analyst")
        day = local_day(utcnow() - timedelta(days=1)).isoformat()
        params = {"from": day, "to": day}
        report = (await client.get("/v1/reports/questions", params=params, headers=analyst)).json()
        assert report["threshold"] == 5
        times = {t["category"]: t for t in report["answer_times"]}
        for group in ("vaccination", "testing", "all"):
            assert (times[group]["median_hours"], times[group]["suppressed"]) == (None, True)
        response = await client.get(
            "/v1/reports/questions", params=params, headers={**analyst, "Accept": "text/csv"}
        )
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        medians = {r[1]: r[3] for r in rows if r[0] == "median_hours_to_answer"}
        assert medians == {"vaccination": "", "testing": "", "all": ""}

    async def test_only_analysts_and_only_sane_ranges(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        responder = await sign_in_staff(ctx, client, "responder")
        params = {"from": "2026-12-01", "to": "2026-12-02"}
        refused = await client.get("/v1/reports/questions", params=params, headers=responder)
        assert_problem(refused, 403)
        analyst = await sign_in_staff(ctx, client, "analyst")
        backwards = {"from": "2026-12-02", "to": "2026-12-01"}
        bad = await client.get(
            "/v1/reports/questions", params=backwards, headers={**analyst, "Accept-Language": "vi"}
        )
        assert assert_problem(bad, 422)["code"] == "report_range_invalid"

    async def test_csv_for_a_spreadsheet(self, client: httpx.AsyncClient, ctx: Context) -> None:
        docs = [stored_question("declaration", "published", h) for h in range(1, 11)]
        docs += [stored_question("qr_code", "received", None) for _ in range(2)]
        await ctx.store.write([repository.insert_question(d) for d in docs])
        analyst = await sign_in_staff(ctx, client, "analyst")
        day = local_day(utcnow() - timedelta(days=1)).isoformat()
        response = await client.get(
            "/v1/reports/questions",
            params={"from": day, "to": day},
            headers={**analyst, "Accept": "text/csv"},
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["cache-control"] == "no-store"
        assert f"khaibao-questions-{day}-{day}.csv" in response.headers["content-disposition"]
        assert response.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0] == ["measure", "category", "status", "value"]
        assert ["questions", "declaration", "published", "10"] in rows
        qr = [r for r in rows if r[1] == "qr_code"]
        assert qr in (
            [],
            [["questions", "qr_code", "received", "<5"]],
            [["questions", "qr_code", "received", "5"]],
        )
        assert ["median_hours_to_answer", "declaration", "", "5.5"] in rows
        [entry] = await ctx.store.find("audit_log", {"report": "questions"})
        assert entry["params"]["format"] == "csv"
