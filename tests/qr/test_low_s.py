"""One code, one text. An ECDSA signature (r, s) has a twin (r, n - s) that verifies just as
well, so every ES256 code had a second valid text nobody signed: a scanner or a list keyed
on the text (the record a scanned code is compared with, a cache, a log) could be walked
around with it. Codes are signed with the low s (s <= n/2, as Bitcoin's BIP 62 and
libsecp256k1 require) and a high s is refused as `bad_signature`, online and offline."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from core.clock import utcnow
from core.context import Context
from qr.signing import sign_person_token, sign_venue_token
from qr.tokens import TokenRejected, verify_person_token
from tests.checkpoints.helpers import (
    create_person,
    new_checkpoint,
    person_token,
    scan,
    staff_headers,
)
from tests.conftest import sign_in_citizen

# The order of the P-256 group.
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SIGNATURES = 24  # all low by chance: one in 2**24


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def s_of(token: str) -> int:
    signature = _b64decode(token.rsplit(".", 1)[1])
    assert len(signature) == 64
    return int.from_bytes(signature[32:])


def twin(token: str) -> str:
    """The same signature with s mirrored: (r, n - s), valid for any ECDSA verifier that
    does not insist on low s."""
    head, signature_segment = token.rsplit(".", 1)
    signature = _b64decode(signature_segment)
    mirrored = signature[:32] + (N - int.from_bytes(signature[32:])).to_bytes(32)
    return head + "." + base64.urlsafe_b64encode(mirrored).rstrip(b"=").decode()


class TestSignedWithLowS:
    async def test_every_personal_code_has_a_low_s(self, ctx: Context) -> None:
        assert ctx.settings.qr_algorithm == "ES256"
        for _ in range(SIGNATURES):
            issued, _record = await sign_person_token(ctx, "per_low_s", "green", now=utcnow())
            assert s_of(issued.token) <= N // 2

    async def test_every_venue_poster_has_a_low_s(self, ctx: Context) -> None:
        for _ in range(SIGNATURES):
            poster, _record = await sign_venue_token(ctx, "cp_low_s", "market", now=utcnow())
            assert s_of(poster.token) <= N // 2


class TestHighSRefused:
    async def test_the_twin_of_a_live_code_is_refused_by_the_verifier(self, ctx: Context) -> None:
        issued, record = await sign_person_token(ctx, "per_twin", "green", now=utcnow())
        await ctx.store.write([record])
        claims: dict[str, Any] = await verify_person_token(ctx, issued.token, now=utcnow())
        assert claims["jti"] == issued.jti
        with pytest.raises(TokenRejected) as rejected:
            await verify_person_token(ctx, twin(issued.token), now=utcnow())
        assert rejected.value.reason == "bad_signature"

    async def test_the_twin_of_a_live_code_is_denied_at_a_checkpoint(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        token = await person_token(client, citizen, person_id)
        checkpoint = await new_checkpoint(ctx, client)
        staff = await staff_headers(ctx, "checkpoint_staff", checkpoint["id"])
        denied = await scan(client, staff, checkpoint["id"], twin(token))
        assert (denied["decision"], denied["reason_code"]) == ("deny", "bad_signature")
        assert denied["status"] is None
        allowed = await scan(client, staff, checkpoint["id"], token)
        assert allowed["decision"] == "allow"
