"""A responder's reject or duplicate sent again on a flaky line, as an answer is
(`test_retried_answer`): with an Idempotency-Key the retry gets the first answer; without
one, a question that already stands as the move asks is answered as it stands. Either way
the asker is told once and the move is audited once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from core.context import Context
from tests.questions.conftest import ask, assert_problem, audit_actions, outbox

REASON = {"reason": "Nội dung không liên quan đến y tế."}


async def _mine(client: httpx.AsyncClient, citizen: dict[str, str], question_id: str) -> Any:
    listed = await client.get("/v1/questions/mine", headers=citizen)
    assert listed.status_code == 200, listed.text
    return next(q for q in listed.json()["items"] if q["id"] == question_id)


async def _answered(
    client: httpx.AsyncClient, asker: dict[str, str], responder: dict[str, str], body: str
) -> str:
    """An earlier question, answered with `body`: the original a duplicate links to."""
    original = await ask(client, asker, title="Câu hỏi gốc")
    answered = await client.post(
        f"/v1/questions/{original['id']}/answer", json={"body": body}, headers=responder
    )
    assert answered.status_code == 200, answered.text
    return str(original["id"])


class TestRejectWithAKey:
    async def test_a_retry_gets_the_first_answer_and_rejects_once(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        asked = await ask(client, citizen, kind="feedback", category="other")
        url = f"/v1/questions/{asked['id']}/reject"
        headers = {**responder, "Idempotency-Key": "reject-1"}
        first = await client.post(url, json=REASON, headers=headers)
        again = await client.post(url, json=REASON, headers=headers)
        assert (first.status_code, again.status_code) == (200, 200), again.text
        assert first.json() == {"id": asked["id"], "status": "rejected"}
        assert again.json() == first.json()
        assert "Idempotent-Replayed" not in first.headers
        assert again.headers["Idempotent-Replayed"] == "true"
        assert [n["params"] for n in await outbox(ctx)] == [{"outcome": "rejected"}]
        assert await audit_actions(ctx, asked["id"]) == ["question.received", "question.rejected"]

    async def test_the_same_key_with_another_reason_is_409_and_changes_nothing(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        asked = await ask(client, citizen)
        url = f"/v1/questions/{asked['id']}/reject"
        headers = {**responder, "Idempotency-Key": "reject-1", "Accept-Language": "vi"}
        first = await client.post(url, json=REASON, headers=headers)
        assert first.status_code == 200, first.text
        reused = await client.post(url, json={"reason": "Trùng."}, headers=headers)
        assert assert_problem(reused, 409)["code"] == "idempotency_key_reused"
        assert reused.json()["title"] == "Khóa đã được dùng"
        mine = await _mine(client, citizen, asked["id"])
        assert mine["rejection_reason"] == REASON["reason"]
        assert await audit_actions(ctx, asked["id"]) == ["question.received", "question.rejected"]

    async def test_a_key_is_the_responders_own_for_one_question(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        questions = [await ask(client, citizen), await ask(client, citizen, title="Lần hai")]
        for asked in questions:
            rejected = await client.post(
                f"/v1/questions/{asked['id']}/reject",
                json=REASON,
                headers={**responder, "Idempotency-Key": "reject-1"},
            )
            assert rejected.json() == {"id": asked["id"], "status": "rejected"}
            assert "Idempotent-Replayed" not in rejected.headers
        assert len(await outbox(ctx)) == 2

    async def test_retries_racing_their_first_request_all_get_its_answer(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        asked = await ask(client, citizen)
        url = f"/v1/questions/{asked['id']}/reject"
        headers = {**responder, "Idempotency-Key": "reject-raced"}
        answers = await asyncio.gather(
            *(client.post(url, json=REASON, headers=headers) for _ in range(4))
        )
        assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
        assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 3
        assert len(await outbox(ctx)) == 1
        assert await audit_actions(ctx, asked["id"]) == ["question.received", "question.rejected"]


class TestRejectWithoutAKey:
    async def test_the_same_reject_again_answers_the_question_as_it_stands(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        asked = await ask(client, citizen)
        url = f"/v1/questions/{asked['id']}/reject"
        first = await client.post(url, json=REASON, headers=responder)
        again = await client.post(url, json=REASON, headers=responder)
        assert (first.status_code, again.status_code) == (200, 200), again.text
        assert again.json() == first.json() == {"id": asked["id"], "status": "rejected"}
        assert "Idempotent-Replayed" not in again.headers
        assert len(await outbox(ctx)) == 1
        assert await audit_actions(ctx, asked["id"]) == ["question.received", "question.rejected"]
        # Another reason is refused, as before, and the asker still reads the first.
        refused = await client.post(url, json={"reason": "Trùng."}, headers=responder)
        assert assert_problem(refused, 409)["code"] == "question_closed"
        assert (await _mine(client, citizen, asked["id"]))["rejection_reason"] == REASON["reason"]

    async def test_rejects_racing_each_other_reject_once_and_all_succeed(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        asked = await ask(client, citizen)
        url = f"/v1/questions/{asked['id']}/reject"
        answers = await asyncio.gather(
            *(client.post(url, json=REASON, headers=responder) for _ in range(4))
        )
        assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
        assert len(await outbox(ctx)) == 1
        assert await audit_actions(ctx, asked["id"]) == ["question.received", "question.rejected"]


class TestDuplicateWithAKey:
    async def test_a_retry_gets_the_first_answer_and_links_once(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        other_citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        of = await _answered(client, other_citizen, responder, "Được, thêm người phụ thuộc.")
        asked = await ask(client, citizen)
        url = f"/v1/questions/{asked['id']}/duplicate"
        headers = {**responder, "Idempotency-Key": "duplicate-1"}
        first = await client.post(url, json={"of": of}, headers=headers)
        again = await client.post(url, json={"of": of}, headers=headers)
        assert (first.status_code, again.status_code) == (200, 200), again.text
        assert first.json() == {"id": asked["id"], "status": "answered"}
        assert again.json() == first.json()
        assert "Idempotent-Replayed" not in first.headers
        assert again.headers["Idempotent-Replayed"] == "true"
        assert (await _mine(client, citizen, asked["id"]))[
            "answer"
        ] == "Được, thêm người phụ thuộc."
        assert await audit_actions(ctx, asked["id"]) == ["question.received", "question.duplicate"]
        # One notification for the original's asker, one for this question's.
        assert len(await outbox(ctx)) == 2

    async def test_the_same_key_with_another_original_is_409_and_changes_nothing(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        other_citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        of = await _answered(client, other_citizen, responder, "Được.")
        other = await _answered(client, other_citizen, responder, "Không.")
        asked = await ask(client, citizen)
        url = f"/v1/questions/{asked['id']}/duplicate"
        headers = {**responder, "Idempotency-Key": "duplicate-1"}
        first = await client.post(url, json={"of": of}, headers=headers)
        assert first.status_code == 200, first.text
        reused = await client.post(url, json={"of": other}, headers=headers)
        assert assert_problem(reused, 409)["code"] == "idempotency_key_reused"
        assert (await _mine(client, citizen, asked["id"]))["answer"] == "Được."
        assert await audit_actions(ctx, asked["id"]) == ["question.received", "question.duplicate"]


class TestDuplicateWithoutAKey:
    async def test_the_same_link_again_answers_the_question_as_it_stands(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        other_citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        of = await _answered(client, other_citizen, responder, "Được.")
        asked = await ask(client, citizen)
        url = f"/v1/questions/{asked['id']}/duplicate"
        first = await client.post(url, json={"of": of}, headers=responder)
        again = await client.post(url, json={"of": of}, headers=responder)
        assert (first.status_code, again.status_code) == (200, 200), again.text
        assert again.json() == first.json() == {"id": asked["id"], "status": "answered"}
        assert "Idempotent-Replayed" not in again.headers
        assert await audit_actions(ctx, asked["id"]) == ["question.received", "question.duplicate"]
        assert len(await outbox(ctx)) == 2

    async def test_a_link_again_after_the_original_changed_takes_its_new_answer(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        other_citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        """The question then no longer stands as the link asks: it moves again, and the
        asker, already told there is an answer, is not told twice."""
        of = await _answered(client, other_citizen, responder, "Được.")
        asked = await ask(client, citizen)
        url = f"/v1/questions/{asked['id']}/duplicate"
        await client.post(url, json={"of": of}, headers=responder)
        await client.post(
            f"/v1/questions/{of}/answer", json={"body": "Được, ngay."}, headers=responder
        )
        relinked = await client.post(url, json={"of": of}, headers=responder)
        assert relinked.json() == {"id": asked["id"], "status": "answered"}
        assert (await _mine(client, citizen, asked["id"]))["answer"] == "Được, ngay."
        assert await audit_actions(ctx, asked["id"]) == [
            "question.received",
            "question.duplicate",
            "question.duplicate",
        ]
        assert len(await outbox(ctx)) == 2

    async def test_links_racing_each_other_link_once_and_all_succeed(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        other_citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        of = await _answered(client, other_citizen, responder, "Được.")
        asked = await ask(client, citizen)
        url = f"/v1/questions/{asked['id']}/duplicate"
        answers = await asyncio.gather(
            *(client.post(url, json={"of": of}, headers=responder) for _ in range(4))
        )
        assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
        assert await audit_actions(ctx, asked["id"]) == ["question.received", "question.duplicate"]
