"""Answering: the statuses, duplicates and rejections, each move with its notification and
audit record, and the moves that are refused."""

from __future__ import annotations

import asyncio

import httpx

from core.context import Context
from tests.questions.conftest import (
    ASKER_PHONE,
    PUBLIC_TEXT,
    ask,
    assert_problem,
    audit_actions,
    outbox,
)


async def _status(ctx: Context, question_id: str) -> str:
    stored = await ctx.store.get("questions", question_id)
    assert stored is not None
    return str(stored["status"])


class TestStatuses:
    async def test_answer_then_publish_tells_the_asker_once(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        asked = await ask(client, citizen)
        url = f"/v1/questions/{asked['id']}/answer"
        first = await client.post(url, json={"body": "Được."}, headers=responder)
        assert first.json() == {"id": asked["id"], "status": "answered"}
        assert await client.get("/v1/faq") is not None
        assert (await client.get("/v1/faq")).json()["items"] == []
        second = await client.post(
            url,
            json={"body": "Được, trong mục Người phụ thuộc.", "publish": True, **PUBLIC_TEXT},
            headers=responder,
        )
        assert second.json()["status"] == "published"
        (entry,) = (await client.get("/v1/faq")).json()["items"]
        assert entry["answer"] == "Được, trong mục Người phụ thuộc."
        assert len(await outbox(ctx)) == 1
        assert await audit_actions(ctx, asked["id"]) == [
            "question.received",
            "question.answered",
            "question.published",
        ]
        again = await client.post(
            url, json={"body": "x", "publish": True, **PUBLIC_TEXT}, headers=responder
        )
        assert assert_problem(again, 409)["code"] == "question_closed"

    async def test_reject_with_a_reason_the_asker_reads(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        asked = await ask(client, citizen, kind="feedback", category="other")
        rejected = await client.post(
            f"/v1/questions/{asked['id']}/reject",
            json={"reason": "Nội dung không liên quan đến y tế."},
            headers=responder,
        )
        assert rejected.json()["status"] == "rejected"
        (mine,) = (await client.get("/v1/questions/mine", headers=citizen)).json()["items"]
        assert (mine["status"], mine["rejection_reason"]) == (
            "rejected",
            "Nội dung không liên quan đến y tế.",
        )
        assert await outbox(ctx) == [
            {"to": ASKER_PHONE, "params": {"outcome": "rejected"}, "locale": "en"}
        ]
        answer = await client.post(
            f"/v1/questions/{asked['id']}/answer", json={"body": "x"}, headers=responder
        )
        assert_problem(answer, 409)
        assert await audit_actions(ctx, asked["id"]) == ["question.received", "question.rejected"]

    async def test_a_duplicate_is_answered_with_the_original_answer(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        other_citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        original = await ask(client, other_citizen)
        await client.post(
            f"/v1/questions/{original['id']}/answer",
            json={"body": "Được, thêm người phụ thuộc.", "publish": True, **PUBLIC_TEXT},
            headers=responder,
        )
        again = await ask(client, citizen, title="Khai báo cho bố được không?")
        not_yet = await ask(client, citizen, title="Chưa trả lời")
        for of in (again["id"], not_yet["id"], "qst_missing"):
            refused = await client.post(
                f"/v1/questions/{again['id']}/duplicate", json={"of": of}, headers=responder
            )
            assert assert_problem(refused, 409)["code"] == "duplicate_target_invalid"
        linked = await client.post(
            f"/v1/questions/{again['id']}/duplicate",
            json={"of": original["id"]},
            headers=responder,
        )
        assert linked.json()["status"] == "answered"
        mine = (await client.get("/v1/questions/mine", headers=citizen)).json()["items"]
        duplicate = next(q for q in mine if q["id"] == again["id"])
        assert duplicate["answer"] == "Được, thêm người phụ thuộc."
        assert duplicate["faq_id"] is not None
        assert [n["to"] for n in await outbox(ctx)].count(ASKER_PHONE) == 1
        assert await _status(ctx, not_yet["id"]) == "received"

    async def test_vietnamese_asker_is_told_in_vietnamese(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        response = await client.post(
            "/v1/questions",
            json={"kind": "question", "category": "qr_code", "title": "Mã QR", "body": "?"},
            headers={**citizen, "Accept-Language": "vi-VN"},
        )
        asked = response.json()
        await client.post(
            f"/v1/questions/{asked['id']}/answer", json={"body": "Ở mục Mã QR."}, headers=responder
        )
        assert [n["locale"] for n in await outbox(ctx)] == ["vi"]


class TestOneMoveAtATime:
    async def test_two_responders_at_once_one_wins_and_the_asker_is_told_once(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        asked = await ask(client, citizen)
        answer = client.post(
            f"/v1/questions/{asked['id']}/answer",
            json={"body": "Được.", "publish": True, **PUBLIC_TEXT},
            headers=responder,
        )
        reject = client.post(
            f"/v1/questions/{asked['id']}/reject", json={"reason": "Trùng."}, headers=responder
        )
        results = await asyncio.gather(answer, reject)
        assert sorted(r.status_code for r in results) == [200, 409]
        winner = next(r for r in results if r.status_code == 200).json()["status"]
        assert await _status(ctx, asked["id"]) == winner
        # The loser's batch left nothing: no second notification, entry or audit record.
        assert len(await outbox(ctx)) == 1
        assert await ctx.store.count("faq", {}) == (1 if winner == "published" else 0)
        assert len(await audit_actions(ctx, asked["id"])) == 2

    async def test_rejecting_an_answered_question_tells_the_asker(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        asked = await ask(client, citizen)
        await client.post(
            f"/v1/questions/{asked['id']}/answer", json={"body": "Được."}, headers=responder
        )
        await client.post(
            f"/v1/questions/{asked['id']}/reject", json={"reason": "Nhầm."}, headers=responder
        )
        assert [n["params"]["outcome"] for n in await outbox(ctx)] == ["answered", "rejected"]


class TestQueue:
    async def test_filters_and_pages(
        self,
        client: httpx.AsyncClient,
        citizen: dict[str, str],
        other_citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        ids = [
            (await ask(client, citizen, title=f"Hỏi về mã QR số {n}", category="qr_code"))["id"]
            for n in ("không", "một", "hai")
        ]
        ids += [
            (await ask(client, other_citizen, title=f"Cách ly {n}", category="quarantine"))["id"]
            for n in range(2)
        ]
        await client.post(f"/v1/questions/{ids[0]}/answer", json={"body": "Có."}, headers=responder)

        async def listed(query: str) -> tuple[list[str], str | None]:
            page = (await client.get("/v1/questions" + query, headers=responder)).json()
            return [q["id"] for q in page["items"]], page["next_before"]

        assert (await listed("?category=qr_code&status=received"))[0] == [ids[2], ids[1]]
        assert (await listed("?status=answered"))[0] == [ids[0]]
        first, cursor = await listed("?limit=2")
        assert first == [ids[4], ids[3]]
        second, cursor = await listed(f"?limit=2&before={cursor}")
        assert second == [ids[2], ids[1]]
        third, cursor = await listed(f"?limit=2&before={cursor}")
        assert (third, cursor) == ([ids[0]], None)
        found, _ = await listed("?q=ma+qr+so+mot")
        assert found[0] == ids[1]
        assert set(found) == set(ids[:3])
        found, _ = await listed("?q=cach+ly&category=quarantine&status=received")
        assert set(found) == set(ids[3:])

    async def test_reading_the_queue_is_audited(
        self, client: httpx.AsyncClient, ctx: Context, responder: dict[str, str]
    ) -> None:
        await client.get("/v1/questions?category=testing&q=xet+nghiem", headers=responder)
        (entry,) = await ctx.store.find("audit_log", {"action": "questions.read"})
        assert entry["params"] == {
            "status": None,
            "category": "testing",
            "searched": True,
            "shown": 0,
        }
