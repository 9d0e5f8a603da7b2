"""Retention: a question is personal data and is deleted `KHAIBAO_RETENTION_DAYS` after it
was received or last answered; the FAQ entry published from it is public text naming
nobody, and stays."""

from __future__ import annotations

from datetime import timedelta

import httpx

from core.context import Context
from tests.questions.conftest import PUBLIC_TEXT, ask


class TestQuestionsExpire:
    async def test_a_question_is_kept_the_retention_then_gone_and_its_faq_entry_stays(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        kept = timedelta(days=ctx.settings.retention_days)
        published = await ask(client, citizen, title="Khai báo hộ được không?")
        unanswered = await ask(client, citizen, kind="feedback", title="Ứng dụng chậm")
        stored = await ctx.store.get("questions", unanswered["id"])
        assert stored is not None
        assert stored["expires_at"] == stored["received_at"] + kept

        answer = {"body": "Được, khai báo hộ trong ứng dụng.", "publish": True, **PUBLIC_TEXT}
        answered = await client.post(
            f"/v1/questions/{published['id']}/answer", json=answer, headers=responder
        )
        assert answered.status_code == 200, answered.text
        moved = await ctx.store.get("questions", published["id"])
        assert moved is not None
        # Counted from the answer, so the asker has the whole retention to read it.
        assert moved["expires_at"] == moved["updated_at"] + kept

        await ctx.store.purge_expired(stored["expires_at"] - timedelta(seconds=1))
        assert len((await client.get("/v1/questions/mine", headers=citizen)).json()["items"]) == 2

        await ctx.store.purge_expired(moved["expires_at"] + timedelta(seconds=1))
        assert await ctx.store.count("questions", {}) == 0
        assert (await client.get("/v1/questions/mine", headers=citizen)).json()["items"] == []
        assert (await client.get("/v1/questions", headers=responder)).json()["items"] == []
        (entry,) = (await client.get("/v1/faq")).json()["items"]
        assert entry["answer"] == answer["body"]
