"""A responder's answer sent again on a flaky line: with an Idempotency-Key the retry gets
the first answer; without one, an answer the question already stands as is answered as it
stands. Either way the asker is told once, the FAQ holds one entry, the move is audited
once; another answer to a published question is still 409."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from core.context import Context
from tests.questions.conftest import ask, assert_problem, audit_actions, outbox

PUBLISH = {
    "body": "Được, trong mục Người phụ thuộc.",
    "publish": True,
    "public_title": "Khai báo hộ người thân",
    "public_body": "Người thân không dùng điện thoại thì khai báo thế nào?",
}


async def _faq(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    listed = await client.get("/v1/faq")
    assert listed.status_code == 200, listed.text
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


class TestWithAKey:
    async def test_a_retry_gets_the_first_answer_and_publishes_once(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        asked = await ask(client, citizen)
        url = f"/v1/questions/{asked['id']}/answer"
        headers = {**responder, "Idempotency-Key": "answer-1"}
        first = await client.post(url, json=PUBLISH, headers=headers)
        again = await client.post(url, json=PUBLISH, headers=headers)
        assert (first.status_code, again.status_code) == (200, 200), again.text
        assert first.json() == {"id": asked["id"], "status": "published"}
        assert again.json() == first.json()
        assert "Idempotent-Replayed" not in first.headers
        assert again.headers["Idempotent-Replayed"] == "true"
        [entry] = await _faq(client)
        assert entry["title"] == "Khai báo hộ người thân"
        assert len(await outbox(ctx)) == 1
        assert await audit_actions(ctx, asked["id"]) == ["question.received", "question.published"]

    async def test_the_same_key_with_another_body_is_409_and_changes_nothing(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        asked = await ask(client, citizen)
        url = f"/v1/questions/{asked['id']}/answer"
        headers = {**responder, "Idempotency-Key": "answer-1", "Accept-Language": "vi"}
        first = await client.post(url, json={"body": "Được."}, headers=headers)
        assert first.json()["status"] == "answered"
        reused = await client.post(url, json=PUBLISH, headers=headers)
        assert assert_problem(reused, 409)["code"] == "idempotency_key_reused"
        assert reused.json()["title"] == "Khóa đã được dùng"
        assert await _faq(client) == []
        (mine,) = (await client.get("/v1/questions/mine", headers=citizen)).json()["items"]
        assert (mine["status"], mine["answer"]) == ("answered", "Được.")

    async def test_a_key_is_the_responders_own_for_one_question(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        questions = [await ask(client, citizen), await ask(client, citizen, title="Lần hai")]
        for asked in questions:
            answered = await client.post(
                f"/v1/questions/{asked['id']}/answer",
                json=PUBLISH,
                headers={**responder, "Idempotency-Key": "answer-1"},
            )
            assert answered.json() == {"id": asked["id"], "status": "published"}
            assert "Idempotent-Replayed" not in answered.headers
        assert len(await _faq(client)) == 2

    async def test_retries_racing_their_first_request_all_get_its_answer(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        asked = await ask(client, citizen)
        url = f"/v1/questions/{asked['id']}/answer"
        headers = {**responder, "Idempotency-Key": "answer-raced"}
        answers = await asyncio.gather(
            *(client.post(url, json=PUBLISH, headers=headers) for _ in range(4))
        )
        assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
        assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 3
        assert len(await _faq(client)) == 1
        assert len(await outbox(ctx)) == 1


class TestWithoutAKey:
    async def test_the_same_answer_again_answers_the_question_as_it_stands(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        asked = await ask(client, citizen)
        url = f"/v1/questions/{asked['id']}/answer"
        first = await client.post(url, json=PUBLISH, headers=responder)
        again = await client.post(url, json=PUBLISH, headers=responder)
        assert (first.status_code, again.status_code) == (200, 200), again.text
        assert again.json() == first.json() == {"id": asked["id"], "status": "published"}
        assert "Idempotent-Replayed" not in again.headers
        assert len(await _faq(client)) == 1
        assert len(await outbox(ctx)) == 1
        assert await audit_actions(ctx, asked["id"]) == ["question.received", "question.published"]
        # Anything else on a published question is refused, as before: another text,
        # another public title, or the same answer unpublished.
        for other in (
            {**PUBLISH, "body": "Được."},
            {**PUBLISH, "public_title": "Khai báo cho bố mẹ"},
            {"body": PUBLISH["body"]},
        ):
            refused = await client.post(url, json=other, headers=responder)
            assert assert_problem(refused, 409)["code"] == "question_closed"
        [entry] = await _faq(client)
        assert (entry["title"], entry["answer"]) == (PUBLISH["public_title"], PUBLISH["body"])

    async def test_an_answered_question_answered_the_same_way_moves_nothing(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        asked = await ask(client, citizen)
        url = f"/v1/questions/{asked['id']}/answer"
        for _ in range(2):
            answered = await client.post(url, json={"body": "Được."}, headers=responder)
            assert answered.json() == {"id": asked["id"], "status": "answered"}
        assert await audit_actions(ctx, asked["id"]) == ["question.received", "question.answered"]
        # Another text still replaces it, as before.
        replaced = await client.post(url, json={"body": "Được, ngay hôm nay."}, headers=responder)
        assert replaced.json()["status"] == "answered"
        (mine,) = (await client.get("/v1/questions/mine", headers=citizen)).json()["items"]
        assert mine["answer"] == "Được, ngay hôm nay."
        assert len(await outbox(ctx)) == 1

    async def test_answers_racing_each_other_publish_once_and_all_succeed(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        asked = await ask(client, citizen)
        url = f"/v1/questions/{asked['id']}/answer"
        answers = await asyncio.gather(
            *(client.post(url, json=PUBLISH, headers=responder) for _ in range(4))
        )
        assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
        assert {a.json()["status"] for a in answers} == {"published"}
        assert len(await _faq(client)) == 1
        assert await audit_actions(ctx, asked["id"]) == ["question.received", "question.published"]
