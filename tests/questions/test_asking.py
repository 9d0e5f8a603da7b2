"""Asking: what is accepted and stored, the daily limit, and hostile input answered with a
problem in the caller's language, never a 500."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx
import pytest

from core.clock import VIETNAM
from core.context import Context
from tests.questions.conftest import HANOI, HCMC, HOAN_KIEM, ask, assert_problem, question


class TestAsking:
    async def test_a_question_is_stored_as_received_with_its_place(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        asked = await ask(client, citizen, province=HANOI, ward=HOAN_KIEM, body="  Mẹ tôi 70 tuổi ")
        stored = await ctx.store.get("questions", asked["id"])
        assert stored is not None
        assert (stored["status"], stored["province"], stored["ward"]) == (
            "received",
            HANOI,
            HOAN_KIEM,
        )
        assert stored["body"] == "Mẹ tôi 70 tuổi"
        assert "phone" not in str(sorted(stored))

    async def test_decomposed_text_is_stored_composed(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        asked = await ask(client, citizen, title="Khai báo y tế".replace("á", "a\u0301"))
        stored = await ctx.store.get("questions", asked["id"])
        assert stored is not None
        assert stored["title"] == "Khai báo y tế"


class TestDailyLimit:
    async def test_the_sixth_question_of_the_day_is_refused_in_vietnamese(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        other_citizen: dict[str, str],
    ) -> None:
        for n in range(ctx.settings.questions_per_day):
            await ask(client, citizen, title=f"Câu hỏi {n}")
        refused = await client.post(
            "/v1/questions", json=question(), headers={**citizen, "Accept-Language": "vi"}
        )
        problem = assert_problem(refused, 429)
        assert problem["code"] == "question_limit_reached"
        assert "trong ngày" in problem["detail"]
        assert 0 < int(refused.headers["Retry-After"]) <= 24 * 3600 + 1
        english = await client.post("/v1/questions", json=question(), headers=citizen)
        assert "as allowed today" in assert_problem(english, 429)["detail"]
        assert await ctx.store.count("questions", {}) == ctx.settings.questions_per_day
        await ask(client, other_citizen)  # the limit is per account

    async def test_the_day_ends_at_midnight_in_vietnam_and_the_wait_is_said_in_french(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """At 06:30 in Hà Nội (23:30 UTC the day before) the day's questions end at the
        coming midnight in Vietnam, 17 and a half hours on; 'Try again tomorrow.' was
        wrong then (the UTC day ended at 07:00 local) and English under `fr`."""
        morning = datetime(2026, 12, 8, 6, 30, tzinfo=VIETNAM).timestamp()
        monkeypatch.setattr("core.ratelimit.time.time", lambda: morning)
        for n in range(ctx.settings.questions_per_day):
            await ask(client, citizen, title=f"Câu hỏi {n}")
        refused = await client.post(
            "/v1/questions", json=question(), headers={**citizen, "Accept-Language": "fr"}
        )
        problem = assert_problem(refused, 429)
        assert problem["code"] == "question_limit_reached"
        assert refused.headers["Retry-After"] == str(17 * 3600 + 30 * 60 + 1)
        assert problem["detail"] == (
            "Vous avez envoyé autant de questions que permis aujourd'hui. Réessayez dans 18 heures."
        )
        vi = await client.post(
            "/v1/questions", json=question(), headers={**citizen, "Accept-Language": "vi"}
        )
        assert assert_problem(vi, 429)["detail"].endswith("Vui lòng thử lại sau 18 giờ.")
        # Still the same day at 23:59 in Hà Nội; the next at midnight.
        late = datetime(2026, 12, 8, 23, 59, tzinfo=VIETNAM).timestamp()
        monkeypatch.setattr("core.ratelimit.time.time", lambda: late)
        again = await client.post("/v1/questions", json=question(), headers=citizen)
        assert assert_problem(again, 429)["detail"].endswith("Try again in 2 minutes.")
        midnight = datetime(2026, 12, 9, 0, 0, tzinfo=VIETNAM).timestamp()
        monkeypatch.setattr("core.ratelimit.time.time", lambda: midnight)
        await ask(client, citizen, title="Hôm sau")


class TestRetries:
    async def test_a_retry_with_the_same_key_is_stored_and_counted_once(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        keyed = {**citizen, "Idempotency-Key": "q-1"}
        first = await client.post("/v1/questions", json=question(), headers=keyed)
        assert first.status_code == 201, first.text
        assert "Idempotent-Replayed" not in first.headers
        for _ in range(ctx.settings.questions_per_day + 1):
            again = await client.post("/v1/questions", json=question(), headers=keyed)
            assert again.status_code == 201, again.text
            assert again.json() == first.json()
            assert again.headers["Idempotent-Replayed"] == "true"
        assert await ctx.store.count("questions", {}) == 1
        # One of the day's questions spent: the others are still there, then the limit.
        for n in range(1, ctx.settings.questions_per_day):
            await ask(client, citizen, title=f"Câu hỏi {n}")
        refused = await client.post(
            "/v1/questions", json=question(title="Một nữa"), headers=citizen
        )
        assert assert_problem(refused, 429)["code"] == "question_limit_reached"
        # At the limit, a retry of an answered request is still answered.
        late = await client.post("/v1/questions", json=question(), headers=keyed)
        assert (late.status_code, late.json()) == (201, first.json())

    async def test_the_same_key_sent_twice_at_once_stores_one_question(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        keyed = {**citizen, "Idempotency-Key": "q-race"}
        answers = await asyncio.gather(
            *(client.post("/v1/questions", json=question(), headers=keyed) for _ in range(2))
        )
        assert [a.status_code for a in answers] == [201, 201]
        assert answers[0].json() == answers[1].json()
        assert await ctx.store.count("questions", {}) == 1

    async def test_the_same_key_with_another_body_is_a_conflict(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        keyed = {**citizen, "Idempotency-Key": "q-2", "Accept-Language": "vi"}
        await client.post("/v1/questions", json=question(), headers=keyed)
        other = await client.post("/v1/questions", json=question(title="Khác"), headers=keyed)
        problem = assert_problem(other, 409)
        assert problem["code"] == "idempotency_key_reused"
        assert "nội dung khác" in problem["detail"]
        assert await ctx.store.count("questions", {}) == 1

    async def test_keys_are_per_account_and_checked(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        other_citizen: dict[str, str],
    ) -> None:
        mine = await client.post(
            "/v1/questions", json=question(), headers={**citizen, "Idempotency-Key": "same"}
        )
        theirs = await client.post(
            "/v1/questions", json=question(), headers={**other_citizen, "Idempotency-Key": "same"}
        )
        assert (mine.status_code, theirs.status_code) == (201, 201)
        assert mine.json()["id"] != theirs.json()["id"]
        assert "Idempotent-Replayed" not in theirs.headers
        assert await ctx.store.count("questions", {}) == 2
        bad = await client.post(
            "/v1/questions", json=question(), headers={**citizen, "Idempotency-Key": "a b/c"}
        )
        assert_problem(bad, 422)
        assert await ctx.store.count("questions", {}) == 2

    async def test_erasing_the_account_erases_the_kept_answer(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        keyed = {**citizen, "Idempotency-Key": "q-3"}
        first = await client.post("/v1/questions", json=question(), headers=keyed)
        assert first.status_code == 201
        assert await ctx.store.count("idempotency", {}) == 1
        assert (await client.delete("/v1/me", headers=citizen)).status_code == 204
        assert await ctx.store.count("idempotency", {}) == 0
        assert await ctx.store.count("questions", {}) == 0
        # The old token's retry is told the account is gone, not the erased question's id.
        again = await client.post("/v1/questions", json=question(), headers=keyed)
        assert assert_problem(again, 401)["code"] == "account_erased"


class TestAfterErasure:
    async def test_an_erased_account_at_its_limit_is_told_it_is_erased(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        for n in range(ctx.settings.questions_per_day):
            await ask(client, citizen, title=f"Câu hỏi {n}")
        assert (await client.delete("/v1/me", headers=citizen)).status_code == 204
        refused = await client.post(
            "/v1/questions", json=question(), headers={**citizen, "Accept-Language": "vi"}
        )
        problem = assert_problem(refused, 401)
        assert problem["code"] == "account_erased"
        assert "Retry-After" not in refused.headers
        assert await ctx.store.count("questions", {}) == 0


HOSTILE: list[tuple[str, dict[str, Any]]] = [
    ("title too long", question(title="x" * 201)),
    ("body too long", question(body="đ" * 4001)),
    ("blank title", question(title="   ")),
    ("control character", question(body="xin chào\x00\x1b[2J")),
    ("unknown kind", question(kind="complaint")),
    ("unknown category", question(category="covid")),
    ("province as text", question(province="1")),
    ("province unknown", question(province=999)),
    ("ward of another province", question(province=HCMC, ward=HOAN_KIEM)),
    ("ward without province", question(ward=HOAN_KIEM)),
    ("extra field", question(asker="someone-else")),
    ("title as list", question(title=["a"])),
    ("huge number", question(province=10**30)),
]


class TestHostileInput:
    @pytest.mark.parametrize(("case", "body"), HOSTILE, ids=[case for case, _ in HOSTILE])
    @pytest.mark.parametrize("language", ["en", "vi"])
    async def test_bad_questions_get_a_problem_never_a_500(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        case: str,
        body: dict[str, Any],
        language: str,
    ) -> None:
        response = await client.post(
            "/v1/questions", json=body, headers={**citizen, "Accept-Language": language}
        )
        problem = assert_problem(response, 422)
        if language == "vi":
            assert problem["title"] != "Some fields are invalid"
        assert await ctx.store.count("questions", {}) == 0

    async def test_not_json_and_wrong_types_are_problems(
        self, client: httpx.AsyncClient, citizen: dict[str, str]
    ) -> None:
        for content, kind in ((b"{not json", "application/json"), (b"[]", "application/json")):
            response = await client.post(
                "/v1/questions", content=content, headers={**citizen, "Content-Type": kind}
            )
            assert_problem(response)

    @pytest.mark.parametrize(
        "q",
        [
            '"',
            "*",
            "NEAR(a b)",
            "a OR",
            "title:x",
            "'; DROP TABLE faq; --",
            "-khai",
            "$where",
            "\\",
            "đ" * 200,
            "😷 covid",
            "\u0301\u0301",
        ],
    )
    async def test_search_text_is_only_ever_words(
        self, client: httpx.AsyncClient, responder: dict[str, str], q: str
    ) -> None:
        public = await client.get("/v1/faq", params={"q": q})
        assert public.status_code == 200, public.text
        queue = await client.get("/v1/questions", params={"q": q}, headers=responder)
        assert queue.status_code == 200, queue.text

    async def test_bad_query_parameters_are_problems_in_both_languages(
        self, client: httpx.AsyncClient, responder: dict[str, str]
    ) -> None:
        for url in (
            "/v1/faq?q=" + "x" * 201,
            "/v1/faq?category=covid",
            "/v1/faq?limit=0",
            "/v1/faq?limit=1000",
            "/v1/faq/..%2F..%2Fetc",
            "/v1/faq/" + "a" * 65,
            "/v1/questions?status=lost",
            "/v1/questions?before=%22%3B",
        ):
            for language in ("en", "vi"):
                response = await client.get(url, headers={**responder, "Accept-Language": language})
                assert_problem(response)
        missing = await client.get("/v1/faq/faq_nothing", headers={"Accept-Language": "vi"})
        assert assert_problem(missing, 404)["title"] == "Không tìm thấy"
