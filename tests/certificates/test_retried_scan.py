"""A scanner on a flaky line sends a certificate scan again: with an Idempotency-Key it gets
the first answer, holder included, and the scan is logged once, while the kept answer
holds nothing about the holder; without one, every request is a scan, as before."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx

from core.context import Context
from tests.certificates.issuers import EuSigner


async def _trusted_code(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    signer = EuSigner("VN")
    body = {"certificate": signer.certificate_b64, "country": "VN"}
    trusted = await client.post("/v1/trust/dcc-signers", json=body, headers=admin)
    assert trusted.status_code == 201, trusted.text
    return signer.vaccination(issued=datetime.now(UTC) - timedelta(hours=1))


async def _scan(
    client: httpx.AsyncClient, staff: dict[str, str], checkpoint: str, qr: str, key: str | None
) -> httpx.Response:
    headers = staff if key is None else {**staff, "Idempotency-Key": key}
    return await client.post(
        f"/v1/checkpoints/{checkpoint}/certificates", json={"qr": qr}, headers=headers
    )


async def _logged(ctx: Context, checkpoint: str) -> int:
    return await ctx.store.count("certificate_scans", {"checkpoint_id": checkpoint})


class TestWithAKey:
    async def test_a_retry_gets_the_first_answer_and_is_logged_once(
        self,
        ctx: Context,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        staff: dict[str, str],
        checkpoint: str,
    ) -> None:
        code = await _trusted_code(client, admin)
        first = await _scan(client, staff, checkpoint, code, "cert-1")
        again = await _scan(client, staff, checkpoint, code, "cert-1")
        assert (first.status_code, again.status_code) == (200, 200), again.text
        assert first.json()["decision"] == "allow"
        assert again.json() == first.json()
        assert again.json()["holder"]["name"] == "Thị Lan Nguyễn"
        assert "Idempotent-Replayed" not in first.headers
        assert again.headers["Idempotent-Replayed"] == "true"
        assert await _logged(ctx, checkpoint) == 1
        # The kept answer is kept without the holder.
        (kept,) = await ctx.store.find("idempotency", {})
        assert json.loads(kept["response"])["holder"] is None
        stored = json.dumps(kept, default=str, ensure_ascii=False)
        assert "Nguyễn" not in stored
        assert "Thị" not in stored
        anew = await _scan(client, staff, checkpoint, code, "cert-2")
        assert "Idempotent-Replayed" not in anew.headers
        assert await _logged(ctx, checkpoint) == 2

    async def test_the_same_key_with_another_code_is_409_and_logs_nothing(
        self,
        ctx: Context,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        staff: dict[str, str],
        checkpoint: str,
    ) -> None:
        code = await _trusted_code(client, admin)
        assert (await _scan(client, staff, checkpoint, code, "cert-1")).status_code == 200
        reused = await _scan(client, staff, checkpoint, "HC1:garbage", "cert-1")
        assert reused.status_code == 409, reused.text
        assert reused.headers["content-type"] == "application/problem+json"
        assert reused.json()["code"] == "idempotency_key_reused"
        assert await _logged(ctx, checkpoint) == 1

    async def test_retries_racing_their_first_request_are_logged_once(
        self,
        ctx: Context,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        staff: dict[str, str],
        checkpoint: str,
    ) -> None:
        code = await _trusted_code(client, admin)
        answers = await asyncio.gather(
            *(_scan(client, staff, checkpoint, code, "cert-raced") for _ in range(4))
        )
        assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
        assert all(a.json() == answers[0].json() for a in answers)
        assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 3
        assert await _logged(ctx, checkpoint) == 1


class TestWithoutAKey:
    async def test_every_request_is_a_scan_as_before(
        self,
        ctx: Context,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        staff: dict[str, str],
        checkpoint: str,
    ) -> None:
        code = await _trusted_code(client, admin)
        answers = [await _scan(client, staff, checkpoint, code, None) for _ in range(2)]
        assert [a.status_code for a in answers] == [200, 200]
        assert not [a for a in answers if "Idempotent-Replayed" in a.headers]
        assert await _logged(ctx, checkpoint) == 2
