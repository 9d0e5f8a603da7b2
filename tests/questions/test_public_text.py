"""What the FAQ publishes is the responder's own text, never the citizen's words: publishing
without a public title and text, or with the asker's text copied into them, is refused; an
entry an older version published from the asker's own words goes with their erasure."""

from __future__ import annotations

from typing import Any

import httpx

from core.clock import utcnow
from core.context import Context
from core.storage import Insert, Update
from tests.conftest import sign_in_citizen
from tests.questions.conftest import ask, assert_problem

# The reviewer's question: a name, an address and a diagnosis, and no number the number
# guard would catch.
NAMED_TITLE = "Test result for Tran Van Binh"
NAMED_BODY = "I am Tran Van Binh at 12 Trang Tien, my PCR came back positive"
EDITED = {
    "public_title": "What to do after a positive PCR test",
    "public_body": "My PCR test came back positive. What should I do?",
}


async def _faq_text(client: httpx.AsyncClient, query: str = "") -> str:
    listed = await client.get("/v1/faq" + query)
    assert listed.status_code == 200, listed.text
    return listed.text


class TestPublishingNeedsTheRespondersOwnText:
    async def test_publish_without_public_text_is_422_naming_the_missing_fields(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        asked = await ask(client, citizen, title=NAMED_TITLE, body=NAMED_BODY)
        url = f"/v1/questions/{asked['id']}/answer"
        answer = {"body": "Stay home and call 115.", "publish": True}

        refused = await client.post(url, json=answer, headers=responder)
        problem = assert_problem(refused, 422)
        assert problem["code"] == "public_text_required"
        assert [e["field"] for e in problem["errors"]] == ["public_title", "public_body"]
        assert "public_title" in problem["detail"]

        half = {**answer, "public_title": EDITED["public_title"]}
        in_vietnamese = await client.post(
            url, json=half, headers={**responder, "Accept-Language": "vi"}
        )
        problem = assert_problem(in_vietnamese, 422)
        assert problem["code"] == "public_text_required"
        assert [e["field"] for e in problem["errors"]] == ["public_body"]
        assert "bắt buộc khi công khai" in problem["errors"][0]["message"]
        assert "công khai" in problem["detail"]

        # Nothing moved: not published, not answered, the asker not told.
        stored = await ctx.store.get("questions", asked["id"])
        assert stored is not None
        assert (stored["status"], stored["answer"]) == ("received", None)
        assert await ctx.store.count("faq", {}) == 0
        assert await ctx.store.count("notifications", {}) == 0
        assert "Binh" not in await _faq_text(client, "?q=binh")

    async def test_the_askers_words_copied_into_the_public_text_are_refused(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        asked = await ask(client, citizen, title=NAMED_TITLE, body=NAMED_BODY)
        url = f"/v1/questions/{asked['id']}/answer"
        copies: list[tuple[dict[str, Any], list[str]]] = [
            ({**EDITED, "public_title": NAMED_TITLE}, ["public_title"]),
            # Case and spacing do not make it the responder's own.
            (
                {
                    **EDITED,
                    "public_body": "  i am TRAN VAN BINH at 12 Trang Tien,\nmy PCR came back "
                    "positive ",
                },
                ["public_body"],
            ),
            (
                {"public_title": NAMED_BODY, "public_body": NAMED_TITLE},
                ["public_title", "public_body"],
            ),
        ]
        for public, fields in copies:
            refused = await client.post(
                url,
                json={"body": "Stay home and call 115.", "publish": True, **public},
                headers=responder,
            )
            problem = assert_problem(refused, 422)
            assert problem["code"] == "public_text_as_asked"
            assert [e["field"] for e in problem["errors"]] == fields
        assert await ctx.store.count("faq", {}) == 0

    async def test_the_published_entry_shows_only_the_responders_text(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        asked = await ask(client, citizen, title=NAMED_TITLE, body=NAMED_BODY)
        published = await client.post(
            f"/v1/questions/{asked['id']}/answer",
            json={"body": "Stay home and call 115.", "publish": True, **EDITED},
            headers=responder,
        )
        assert published.json() == {"id": asked["id"], "status": "published"}

        # A stranger searching for the asker's name finds nothing; the entry reads as edited.
        assert (await client.get("/v1/faq?q=binh")).json()["items"] == []
        (entry,) = (await client.get("/v1/faq?q=positive+pcr")).json()["items"]
        assert (entry["title"], entry["question"], entry["answer"]) == (
            EDITED["public_title"],
            EDITED["public_body"],
            "Stay home and call 115.",
        )
        shown = (await client.get(f"/v1/faq/{entry['id']}")).text
        for words in ("Binh", "Trang Tien", "I am"):
            assert words not in shown


class TestErasureTakesTheAskersWordsOutOfTheFaq:
    async def test_an_entry_showing_the_askers_words_goes_and_the_responders_own_stays(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        # As an older version published it: the question's title and body as asked.
        old = await ask(client, citizen, title=NAMED_TITLE, body=NAMED_BODY)
        stored = await ctx.store.get("questions", old["id"])
        assert stored is not None
        now = utcnow()
        verbatim = {
            "_id": "faq_verbatim",
            "category": stored["category"],
            "title": NAMED_TITLE,
            "question": NAMED_BODY,
            "answer": "Stay home and call 115.",
            "published_at": now,
        }
        await ctx.store.write(
            [
                Insert("faq", verbatim),
                Update(
                    "questions",
                    old["id"],
                    set={"status": "published", "faq_id": "faq_verbatim", "answer": "x"},
                ),
            ]
        )
        # Another citizen's question linked to it as a duplicate keeps its own question.
        other = await sign_in_citizen(client, "+84900000002")
        theirs = await ask(client, other, title="PCR positive, what now?")
        linked = await client.post(
            f"/v1/questions/{theirs['id']}/duplicate", json={"of": old["id"]}, headers=responder
        )
        assert linked.status_code == 200, linked.text
        # The same asker's other question, published in the responder's own words.
        edited = await ask(client, citizen, title="Quarantine for Tran Van Binh")
        kept = await client.post(
            f"/v1/questions/{edited['id']}/answer",
            json={"body": "Seven days at home.", "publish": True, **EDITED},
            headers=responder,
        )
        assert kept.status_code == 200, kept.text
        assert "Tran Van Binh" in await _faq_text(client, "?q=binh")

        erased = await client.delete("/v1/me", headers=citizen)
        assert erased.status_code == 204, erased.text

        assert (await client.get("/v1/faq?q=binh")).json()["items"] == []
        assert_problem(await client.get("/v1/faq/faq_verbatim"), 404)
        (left,) = (await client.get("/v1/faq")).json()["items"]
        assert (left["title"], left["answer"]) == (EDITED["public_title"], "Seven days at home.")
        audit = await ctx.store.find("audit_log", {"action": "rights.faq_unpublished"})
        assert [(a["user"], a["params"]) for a in audit] == [(None, {"faq_entries": 1})]
        assert await ctx.store.get("questions", theirs["id"]) is not None
