"""The done-when journey of issue 23, as a parent would try it: export the family's data
and read it; erase the child's record; the child's code stops scanning, the child's
records are gone from every collection, and the ministry's counts for the day stay."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from core.clock import VIETNAM, local_day, utcnow
from core.context import Context
from reports.service import DeclarationQuery, declaration_counts, parse_group_by
from reports.suppression import rounding_for
from tests.checkpoints.helpers import scan, unverified_parts
from tests.conftest import sign_in_citizen, sign_in_staff
from tests.rights.conftest import (
    CHILD_ID_NUMBER,
    CHILD_NAME,
    FULL_NAME,
    ID_NUMBER,
    PHONE,
    STREET,
    assert_problem,
    counters,
    everything_stored,
    family,
)

REPORT = "/v1/reports/declarations"


def _today() -> dict[str, str]:
    day = local_day(utcnow()).isoformat()
    return {"from": day, "to": day, "group_by": "province"}


async def _exact(ctx: Context) -> dict[tuple[Any, ...], int]:
    """The true counts behind the ministry's report of today (never published)."""
    day = local_day(utcnow())
    query = DeclarationQuery(day, day, parse_group_by("province"), None)
    found = await declaration_counts(
        ctx.store, query, now=utcnow(), rounding=rounding_for(ctx.settings), exact=True
    )
    return dict(found)


class TestExport:
    async def test_a_parent_reads_everything_held_about_the_family(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        parent = await sign_in_citizen(client)
        home = await family(ctx, client, parent)
        response = await client.get("/v1/me/export", headers=parent)
        assert response.status_code == 200, response.text
        export = response.json()
        people = {p["id"]: p for p in export["people"]}
        assert set(people) == {home.parent_id, home.child_id}
        me, child = people[home.parent_id], people[home.child_id]
        assert (me["full_name"], me["id_number"], me["phone"]) == (FULL_NAME, ID_NUMBER, PHONE)
        assert (child["full_name"], child["id_number"]) == (CHILD_NAME, CHILD_ID_NUMBER)
        assert child["status"] == "green"
        assert [d["street"] for d in child["declarations"]] == [STREET]
        assert len(child["codes"]) == 1
        assert child["codes"][0]["revoked_at"] is None
        [scanned] = child["scans"]
        assert scanned["checkpoint_id"] == home.checkpoint["id"]
        assert scanned["checkpoint_name"] == home.checkpoint["name"]
        assert scanned["decision"] == "allow"
        assert export["account"]["phone"] == "+84900000001"
        # Readable, not ciphertext or keyed hashes.
        assert "_enc" not in response.text
        assert "_hash" not in response.text

    async def test_exports_are_limited_per_account_per_day(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        parent = await sign_in_citizen(client)
        for _ in range(ctx.settings.exports_per_day):
            assert (await client.get("/v1/me/export", headers=parent)).status_code == 200
        refused = await client.get("/v1/me/export", headers={**parent, "Accept-Language": "vi"})
        problem = assert_problem(refused, 429)
        assert problem["code"] == "export_limit_reached"
        assert "trong ngày" in problem["detail"]
        assert int(refused.headers["Retry-After"]) > 0
        other = await sign_in_citizen(client, "+84900000002")
        assert (await client.get("/v1/me/export", headers=other)).status_code == 200

    async def test_the_day_is_vietnams_and_the_wait_is_said_in_the_callers_language(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """At 01:00 in Hà Nội (18:00 UTC the day before) the day's exports end at the
        coming midnight in Vietnam, 23 hours on, not at midnight UTC (6 hours on), and the
        refusal says so in hours, in French as in Vietnamese (it said 'tomorrow', in
        English, with Retry-After: 21600)."""
        one_am = datetime(2026, 12, 8, 1, 0, tzinfo=VIETNAM).timestamp()
        monkeypatch.setattr("core.ratelimit.time.time", lambda: one_am)
        parent = await sign_in_citizen(client)
        for _ in range(ctx.settings.exports_per_day):
            assert (await client.get("/v1/me/export", headers=parent)).status_code == 200
        answers = {
            lang: await client.get("/v1/me/export", headers={**parent, "Accept-Language": lang})
            for lang in ("fr", "vi", "en")
        }
        for refused in answers.values():
            assert refused.headers["Retry-After"] == str(23 * 3600 + 1)
        assert assert_problem(answers["fr"], 429)["detail"] == (
            "Vous avez téléchargé vos données autant de fois que permis aujourd'hui."
            " Réessayez dans 24 heures."
        )
        assert assert_problem(answers["vi"], 429)["detail"].endswith("Vui lòng thử lại sau 24 giờ.")
        assert assert_problem(answers["en"], 429)["detail"].endswith("Try again in 24 hours.")
        # At midnight in Vietnam (17:00 UTC), a new day: exports again.
        midnight = datetime(2026, 12, 9, 0, 0, tzinfo=VIETNAM).timestamp()
        monkeypatch.setattr("core.ratelimit.time.time", lambda: midnight)
        assert (await client.get("/v1/me/export", headers=parent)).status_code == 200

    async def test_questions_name_the_responder_by_role_never_by_id(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        responder = await sign_in_staff(ctx, client, "responder")
        ids = []
        for title in ("Mã QR ở đâu?", "Mã QR nằm ở đâu?", "Xin chào"):
            question = {"kind": "question", "category": "qr_code", "title": title, "body": "?"}
            asked = await client.post("/v1/questions", json=question, headers=citizen)
            ids.append(asked.json()["id"])
        moves = [
            (f"/v1/questions/{ids[0]}/answer", {"body": "Trong ứng dụng."}),
            (f"/v1/questions/{ids[1]}/duplicate", {"of": ids[0]}),
            (f"/v1/questions/{ids[2]}/reject", {"reason": "Không phải câu hỏi."}),
        ]
        for path, body in moves:
            assert (await client.post(path, json=body, headers=responder)).status_code == 200
        stored = await ctx.store.get("questions", ids[0])
        assert stored is not None
        staff_id = stored["answered_by"]
        assert staff_id.startswith("usr_")

        response = await client.get("/v1/me/export", headers=citizen)
        assert response.status_code == 200, response.text
        assert staff_id not in response.text
        exported = response.json()["questions"]
        assert [q["answered_by"] for q in exported] == ["responder"] * 3
        assert sorted(q["status"] for q in exported) == ["answered", "answered", "rejected"]
        assert all("duplicate_of" not in q and "asker" not in q for q in exported)


class TestErasingAChild:
    async def test_the_child_vanishes_the_code_stops_and_the_counts_stay(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        parent = await sign_in_citizen(client)
        home = await family(ctx, client, parent)
        analyst = await sign_in_staff(ctx, client, "analyst")
        before_counts = await counters(ctx)
        before_report = await client.get(REPORT, params=_today(), headers=analyst)
        assert before_report.status_code == 200, before_report.text
        before_exact = await _exact(ctx)
        assert sum(before_exact.values()) == 2  # the parent and the child, today
        child = await ctx.store.get("people", home.child_id)
        assert child is not None
        traces = [home.child_id, CHILD_NAME, CHILD_ID_NUMBER, child["name_enc"]]
        traces.append(child["id_number_enc"])

        erased = await client.delete(f"/v1/people/{home.child_id}", headers=parent)
        assert erased.status_code == 204, erased.text

        again = await scan(client, home.staff, home.checkpoint["id"], home.child_code)
        assert again["decision"] == "deny"
        # Offline scanners learn it too: the code's jti is on the revocation list.
        revoked = await client.get("/v1/revocations", headers=home.staff)
        assert revoked.status_code == 200, revoked.text
        jti = unverified_parts(home.child_code)[1]["jti"]
        assert jti in {r["jti"] for r in revoked.json()["revoked"]}
        stored = await everything_stored(ctx)
        for trace in traces:
            assert trace not in stored
        assert await counters(ctx) == before_counts
        after_report = await client.get(REPORT, params=_today(), headers=analyst)
        assert after_report.json()["rows"] == before_report.json()["rows"]
        assert await _exact(ctx) == before_exact
        # The parent stays, whole.
        export = (await client.get("/v1/me/export", headers=parent)).json()
        assert [p["id"] for p in export["people"]] == [home.parent_id]
        audit = await ctx.store.find("audit_log", {"action": "rights.person_erased"})
        assert len(audit) == 1
        assert audit[0]["user"] is None

    async def test_a_second_erasure_is_a_404_and_strangers_get_404(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        parent = await sign_in_citizen(client)
        home = await family(ctx, client, parent)
        stranger = await sign_in_citizen(client, "+84900000002")
        refused = await client.delete(f"/v1/people/{home.child_id}", headers=stranger)
        assert_problem(refused, 404)
        assert await ctx.store.get("people", home.child_id) is not None
        first = await client.delete(f"/v1/people/{home.child_id}", headers=parent)
        assert first.status_code == 204
        second = await client.delete(
            f"/v1/people/{home.child_id}", headers={**parent, "Accept-Language": "vi"}
        )
        assert assert_problem(second, 404)["detail"] == "Không có dữ liệu hoặc không thuộc về bạn."
