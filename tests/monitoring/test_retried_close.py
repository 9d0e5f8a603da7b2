"""An officer's phone on a flaky line sends a close again: with an Idempotency-Key it gets
the first answer; without one, a close the episode already has answers as it stands. Either
way the episode is closed, counted and audited once; only another outcome is 409."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from core.context import Context
from tests.monitoring.conftest import HANOI, TRANG_TIEN, officer, person_under_follow_up


def _url(episode: dict[str, Any]) -> str:
    return f"/v1/monitoring/{episode['id']}/close"


async def _closes_in_access_log(client: httpx.AsyncClient, citizen: dict[str, str]) -> int:
    """How many closes of their person's episode the citizen's access log shows."""
    log = await client.get("/v1/me/access-log", headers=citizen)
    assert log.status_code == 200, log.text
    return sum(e["action"] == "monitoring_close" for e in log.json()["items"])


async def _outcome(client: httpx.AsyncClient, citizen: dict[str, str], person_id: str) -> Any:
    mine = await client.get(f"/v1/people/{person_id}/monitoring", headers=citizen)
    [episode] = mine.json()["items"]
    return episode["status"], episode["outcome"]


class TestWithAKey:
    async def test_a_retry_gets_the_first_answer_and_closes_once(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, _, opened = await person_under_follow_up(ctx, client)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        headers = {**ward_officer, "Idempotency-Key": "close-1"}
        body = {"outcome": "became_case"}
        first = await client.post(_url(opened), json=body, headers=headers)
        again = await client.post(_url(opened), json=body, headers=headers)
        assert (first.status_code, again.status_code) == (200, 200), again.text
        assert (first.json()["status"], first.json()["outcome"]) == ("closed", "became_case")
        assert again.json() == first.json()
        assert "Idempotent-Replayed" not in first.headers
        assert again.headers["Idempotent-Replayed"] == "true"
        assert await _closes_in_access_log(client, citizen) == 1

    async def test_the_same_key_with_another_outcome_is_409_and_changes_nothing(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id, opened = await person_under_follow_up(ctx, client)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        headers = {**ward_officer, "Idempotency-Key": "close-1", "Accept-Language": "vi"}
        first = await client.post(_url(opened), json={"outcome": "completed"}, headers=headers)
        assert first.status_code == 200
        reused = await client.post(_url(opened), json={"outcome": "lost"}, headers=headers)
        assert reused.status_code == 409
        assert reused.headers["content-type"] == "application/problem+json"
        assert reused.json()["code"] == "idempotency_key_reused"
        assert reused.json()["title"] == "Khóa đã được dùng"
        assert await _outcome(client, citizen, person_id) == ("closed", "completed")
        assert await _closes_in_access_log(client, citizen) == 1

    async def test_a_key_is_the_officers_own_for_one_episode(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id, opened = await person_under_follow_up(ctx, client)
        other_citizen, other_person, other = await person_under_follow_up(ctx, client)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        headers = {**ward_officer, "Idempotency-Key": "close-1"}
        body = {"outcome": "completed"}
        for episode in (opened, other):
            closed = await client.post(_url(episode), json=body, headers=headers)
            assert closed.status_code == 200, closed.text
            assert closed.json()["id"] == episode["id"]
            assert "Idempotent-Replayed" not in closed.headers
        assert await _outcome(client, citizen, person_id) == ("closed", "completed")
        assert await _outcome(client, other_citizen, other_person) == ("closed", "completed")

    async def test_retries_racing_their_first_request_all_get_its_answer(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, _, opened = await person_under_follow_up(ctx, client)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        headers = {**ward_officer, "Idempotency-Key": "close-raced"}
        answers = await asyncio.gather(
            *(
                client.post(_url(opened), json={"outcome": "lost"}, headers=headers)
                for _ in range(4)
            )
        )
        assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
        assert len({a.text for a in answers}) == 1
        assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 3
        assert await _closes_in_access_log(client, citizen) == 1


class TestWithoutAKey:
    async def test_the_same_outcome_again_answers_the_episode_as_it_stands(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id, opened = await person_under_follow_up(ctx, client)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        colleague = await officer(ctx, client, HANOI, TRANG_TIEN)
        body = {"outcome": "became_case"}
        first = await client.post(_url(opened), json=body, headers=ward_officer)
        assert first.status_code == 200
        for headers in (ward_officer, colleague):
            again = await client.post(_url(opened), json=body, headers=headers)
            assert again.status_code == 200, again.text
            assert again.json() == first.json()
            assert "Idempotent-Replayed" not in again.headers
        assert await _closes_in_access_log(client, citizen) == 1
        # Another outcome for a closed episode is refused, as before.
        lost = await client.post(_url(opened), json={"outcome": "lost"}, headers=ward_officer)
        assert lost.status_code == 409
        assert lost.json()["code"] == "episode_closed"
        assert await _outcome(client, citizen, person_id) == ("closed", "became_case")

    async def test_closes_racing_each_other_close_once_and_all_succeed(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, _, opened = await person_under_follow_up(ctx, client)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        answers = await asyncio.gather(
            *(
                client.post(_url(opened), json={"outcome": "completed"}, headers=ward_officer)
                for _ in range(4)
            )
        )
        assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
        assert {a.json()["outcome"] for a in answers} == {"completed"}
        assert await _closes_in_access_log(client, citizen) == 1

    async def test_another_outcome_is_refused_with_words_for_a_close(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        """The officer is told the episode already has another outcome, in their language,
        not that nothing more can be reported (what a daily report on it is told)."""
        citizen, _, opened = await person_under_follow_up(ctx, client)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        closed = await client.post(
            _url(opened), json={"outcome": "completed"}, headers=ward_officer
        )
        assert closed.status_code == 200
        said = {}
        for lang in ("vi", "en"):
            refused = await client.post(
                _url(opened),
                json={"outcome": "became_case"},
                headers={**ward_officer, "Accept-Language": lang},
            )
            assert refused.status_code == 409
            assert refused.json()["code"] == "episode_closed"
            said[lang] = refused.json()["detail"]
        assert said == {
            "vi": "Đợt theo dõi này đã được kết thúc với một kết quả khác; "
            "không thể kết thúc lại với kết quả khác.",
            "en": "This monitoring episode is already closed with another outcome; "
            "it cannot be closed again with a different one.",
        }
        report = await client.post(
            f"/v1/monitoring/{opened['id']}/reports",
            json={"temperature": 36.8},
            headers={**citizen, "Accept-Language": "en"},
        )
        assert report.status_code == 409
        assert report.json()["detail"] == (
            "This monitoring episode is closed; nothing more can be reported on it."
        )
