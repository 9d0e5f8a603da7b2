"""A scanner on a flaky line sends a scan again: with an Idempotency-Key it gets the first
answer and the person is scanned once (in their access log and the checkpoint's counts);
without one, every request is a scan, as before."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from core.clock import local_day, utcnow
from core.context import Context
from reports.folding import fold_pending
from tests.checkpoints.helpers import new_checkpoint, staff_headers


def _url(checkpoint_id: str) -> str:
    return f"/v1/checkpoints/{checkpoint_id}/scans"


async def _scans_in_access_log(client: httpx.AsyncClient, citizen: dict[str, str]) -> list[str]:
    """The decisions of the scans the citizen's access log shows, as the citizen sees it."""
    log = await client.get("/v1/me/access-log", headers=citizen)
    assert log.status_code == 200, log.text
    return [str(e["decision"]) for e in log.json()["items"] if e["action"] == "scan"]


async def _counted(ctx: Context, checkpoint_id: str, decision: str) -> int:
    """The checkpoint's scans of the day with this decision, as the reports count them."""
    await fold_pending(ctx.store)  # as a report does before it reads
    day = local_day(utcnow()).isoformat()
    counter = await ctx.store.get("report_counters", f"cp|{day}|{checkpoint_id}|scan|{decision}")
    return 0 if counter is None else int(counter["n"])


class TestWithAKey:
    async def test_a_retry_gets_the_first_answer_and_scans_once(
        self, ctx: Context, client: httpx.AsyncClient, scene: dict[str, Any]
    ) -> None:
        url, body = _url(scene["checkpoint_id"]), {"token": scene["token"]}
        headers = {**scene["staff"], "Idempotency-Key": "scan-1"}
        first = await client.post(url, json=body, headers=headers)
        again = await client.post(url, json=body, headers=headers)
        assert (first.status_code, again.status_code) == (200, 200), again.text
        assert first.json()["decision"] == "allow"
        assert again.json() == first.json()
        assert "Idempotent-Replayed" not in first.headers
        assert again.headers["Idempotent-Replayed"] == "true"
        assert await _scans_in_access_log(client, scene["citizen"]) == ["allow"]
        assert await _counted(ctx, scene["checkpoint_id"], "allow") == 1
        # A new key is a new scan.
        anew = await client.post(url, json=body, headers={**headers, "Idempotency-Key": "scan-2"})
        assert anew.status_code == 200
        assert "Idempotent-Replayed" not in anew.headers
        assert await _scans_in_access_log(client, scene["citizen"]) == ["allow", "allow"]

    async def test_the_same_key_with_another_code_is_409_and_records_nothing(
        self, ctx: Context, client: httpx.AsyncClient, scene: dict[str, Any]
    ) -> None:
        url = _url(scene["checkpoint_id"])
        headers = {**scene["staff"], "Idempotency-Key": "scan-1", "Accept-Language": "vi"}
        first = await client.post(url, json={"token": scene["token"]}, headers=headers)
        assert first.status_code == 200
        reused = await client.post(url, json={"token": "garbage"}, headers=headers)
        assert reused.status_code == 409
        assert reused.headers["content-type"] == "application/problem+json"
        assert reused.json()["code"] == "idempotency_key_reused"
        assert reused.json()["title"] == "Khóa đã được dùng"
        assert await _counted(ctx, scene["checkpoint_id"], "deny") == 0
        assert await _counted(ctx, scene["checkpoint_id"], "allow") == 1

    async def test_a_key_is_the_staff_members_own_at_one_checkpoint(
        self, ctx: Context, client: httpx.AsyncClient, scene: dict[str, Any]
    ) -> None:
        other = (await new_checkpoint(ctx, client))["id"]
        gate = await staff_headers(ctx, "checkpoint_staff", scene["checkpoint_id"], other)
        colleague = await staff_headers(ctx, "checkpoint_staff", scene["checkpoint_id"])
        body = {"token": scene["token"]}
        for staff, checkpoint_id in (
            (gate, scene["checkpoint_id"]),
            (gate, other),
            (colleague, scene["checkpoint_id"]),
        ):
            headers = {**staff, "Idempotency-Key": "scan-1"}
            answer = await client.post(_url(checkpoint_id), json=body, headers=headers)
            assert answer.status_code == 200, answer.text
            assert "Idempotent-Replayed" not in answer.headers
        assert await _scans_in_access_log(client, scene["citizen"]) == ["allow"] * 3

    async def test_retries_racing_their_first_request_all_get_its_answer(
        self, ctx: Context, client: httpx.AsyncClient, scene: dict[str, Any]
    ) -> None:
        url, body = _url(scene["checkpoint_id"]), {"token": scene["token"]}
        headers = {**scene["staff"], "Idempotency-Key": "scan-raced"}
        answers = await asyncio.gather(
            *(client.post(url, json=body, headers=headers) for _ in range(4))
        )
        assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
        assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 3
        assert await _scans_in_access_log(client, scene["citizen"]) == ["allow"]
        assert await _counted(ctx, scene["checkpoint_id"], "allow") == 1

    async def test_the_kept_answer_goes_with_the_persons_erasure(
        self, ctx: Context, client: httpx.AsyncClient, scene: dict[str, Any]
    ) -> None:
        url, body = _url(scene["checkpoint_id"]), {"token": scene["token"]}
        headers = {**scene["staff"], "Idempotency-Key": "scan-1"}
        first = await client.post(url, json=body, headers=headers)
        assert first.json()["status"] == "green"
        erased = await client.delete(f"/v1/people/{scene['person_id']}", headers=scene["citizen"])
        assert erased.status_code == 204
        # The retry tells nothing of the erased person: it is scanned anew, and refused.
        again = await client.post(url, json=body, headers=headers)
        assert again.status_code == 200
        assert "Idempotent-Replayed" not in again.headers
        assert (again.json()["decision"], again.json()["status"]) == ("deny", None)


class TestWithoutAKey:
    async def test_every_request_is_a_scan_as_before(
        self, ctx: Context, client: httpx.AsyncClient, scene: dict[str, Any]
    ) -> None:
        url, body = _url(scene["checkpoint_id"]), {"token": scene["token"]}
        answers = [await client.post(url, json=body, headers=scene["staff"]) for _ in range(2)]
        assert [a.status_code for a in answers] == [200, 200]
        assert answers[0].json() == answers[1].json()
        assert not [a for a in answers if "Idempotent-Replayed" in a.headers]
        assert await _scans_in_access_log(client, scene["citizen"]) == ["allow", "allow"]
        assert await _counted(ctx, scene["checkpoint_id"], "allow") == 2
