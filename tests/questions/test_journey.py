"""The journey a new user would try: a citizen asks, a responder answers and publishes, and a
stranger finds the answer by typing without diacritics. On SQLite, and with
KHAIBAO_TEST_BACKEND=mongo on MongoDB."""

from __future__ import annotations

import httpx

from core.context import Context
from tests.questions.conftest import ASKER_PHONE, ask, audit_actions, outbox


class TestAskAnswerPublishFind:
    async def test_a_stranger_finds_the_published_answer_first(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        other_citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        # Other questions already answered, some sharing words with the new one.
        for title, answer in (
            ("Khai báo y tế ở đâu?", "Trong ứng dụng Khaibao, mục Khai báo."),
            ("Mã QR của bố mẹ tôi ở đâu?", "Mỗi người được khai báo có mã QR riêng."),
            ("Tôi cần tiêm mấy mũi?", "Theo hướng dẫn của Bộ Y tế."),
        ):
            asked_as = "Cho tôi hỏi: " + title
            earlier = await ask(client, other_citizen, title=asked_as, body=asked_as)
            published = await client.post(
                f"/v1/questions/{earlier['id']}/answer",
                json={"body": answer, "publish": True, "public_title": title, "public_body": title},
                headers=responder,
            )
            assert published.status_code == 200, published.text

        asked = await ask(client, citizen, title="Khai báo cho bố mẹ tôi")
        assert asked["status"] == "received"

        queue = await client.get("/v1/questions?status=received", headers=responder)
        assert [q["id"] for q in queue.json()["items"]] == [asked["id"]]

        answered = await client.post(
            f"/v1/questions/{asked['id']}/answer",
            json={
                "body": "Được. Bạn thêm bố mẹ là người phụ thuộc và khai báo cho từng người.",
                "publish": True,
                "public_title": "Tôi khai báo hộ bố mẹ được không?",
                "public_body": "Bố mẹ không dùng điện thoại thông minh thì khai báo thế nào?",
            },
            headers=responder,
        )
        assert answered.status_code == 200, answered.text
        assert answered.json()["status"] == "published"

        # A stranger: no sign-in at all.
        found = await client.get("/v1/faq", params={"q": "khai bao ho bo me"})
        assert found.status_code == 200
        first = found.json()["items"][0]
        assert first["title"] == "Tôi khai báo hộ bố mẹ được không?"
        assert first["answer"].startswith("Được.")

        mine = (await client.get("/v1/questions/mine", headers=citizen)).json()["items"]
        assert [(q["status"], q["faq_id"]) for q in mine] == [("published", first["id"])]
        assert mine[0]["answer"].startswith("Được.")

        told = [n for n in await outbox(ctx) if n["to"] == ASKER_PHONE]
        assert told == [{"to": ASKER_PHONE, "params": {"outcome": "answered"}, "locale": "en"}]
        assert await audit_actions(ctx, asked["id"]) == ["question.received", "question.published"]
