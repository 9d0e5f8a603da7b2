"""A responder reading the queue reads what citizens wrote: each question shown is in the
audit trail, and its asker's `GET /v1/me/access-log` says a responder saw it, never who."""

from __future__ import annotations

from typing import Any

import httpx

from core.context import Context
from tests.conftest import sign_in_citizen
from tests.questions.conftest import ask


async def _access_log(client: httpx.AsyncClient, citizen: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get("/v1/me/access-log", headers=citizen)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _user_id(ctx: Context) -> str:
    """The responder's account id, as the audit log names it."""
    (entry,) = await ctx.store.find("audit_log", {"action": "questions.read"}, limit=1)
    return str(entry["user"])


class TestEachQuestionShownIsAudited:
    async def test_the_askers_access_log_shows_a_responder_read_their_questions(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        other_citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        mine = [await ask(client, citizen, title=f"Câu hỏi {n}") for n in range(2)]
        theirs = await ask(client, other_citizen, title="Xét nghiệm ở đâu?")
        assert await _access_log(client, citizen) == []

        page = await client.get("/v1/questions?limit=2", headers=responder)
        assert [q["id"] for q in page.json()["items"]] == [theirs["id"], mine[1]["id"]]

        (seen,) = await _access_log(client, citizen)
        assert seen["question_id"] == mine[1]["id"]
        assert seen["person_id"] is None
        assert (seen["action"], seen["role"]) == ("question_read", "responder")
        assert seen["what"] == "A responder saw your question in their work queue"
        assert [e["question_id"] for e in await _access_log(client, other_citizen)] == [
            theirs["id"]
        ]

        # A search shows questions too; the log is in the caller's language.
        found = await client.get("/v1/questions?q=cau+hoi", headers=responder)
        assert {q["id"] for q in found.json()["items"]} == {q["id"] for q in mine}
        response = await client.get(
            "/v1/me/access-log", headers={**citizen, "Accept-Language": "vi"}
        )
        logged = response.json()["items"]
        assert sorted(e["question_id"] for e in logged) == sorted(
            [mine[0]["id"], mine[1]["id"], mine[1]["id"]]
        )
        assert {e["what"] for e in logged} == {
            "Cán bộ trả lời đã xem câu hỏi của bạn trong danh sách cần xử lý"
        }
        # Never who: the responder's account id is nowhere in what the citizen reads.
        assert await _user_id(ctx) not in response.text

        # The audit trail: one entry per page with its filters, one per question shown.
        pages = await ctx.store.find("audit_log", {"action": "questions.read"}, sort=[("at", 1)])
        assert [p["params"]["shown"] for p in pages] == [2, 2]
        reads = await ctx.store.find("audit_log", {"action": "question_read"})
        assert sorted(r["subject_id"] for r in reads) == sorted(
            [theirs["id"], mine[1]["id"], mine[0]["id"], mine[1]["id"]]
        )
        assert {r["user"] for r in reads} == {await _user_id(ctx)}

    async def test_erasing_the_account_keeps_the_reads_without_whose_they_were(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        asked = await ask(client, citizen)
        stored = await ctx.store.get("questions", asked["id"])
        assert stored is not None
        account = str(stored["asker"])
        assert (await client.get("/v1/questions", headers=responder)).status_code == 200

        assert (await client.delete("/v1/me", headers=citizen)).status_code == 204

        (read,) = await ctx.store.find("audit_log", {"action": "question_read"})
        assert (read["account_id"], read["subject_id"], read["role"]) == (None, None, "responder")
        assert await ctx.store.find("audit_log", {"account_id": account}) == []
        # The same phone signing in again opens the same account id: its log starts empty.
        again = await sign_in_citizen(client)
        assert await _access_log(client, again) == []
