"""Helpers for the questions tests: citizens and responders signed in over HTTP, a
question body, and the outbox and audit trail read back."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from core.context import Context
from core.principals import Area
from notifications.outbox import PARAMS_CONTEXT, RECIPIENT_CONTEXT
from tests.conftest import sign_in_citizen, sign_in_staff

HANOI, HOAN_KIEM, CUA_NAM = 1, 70, 73
HCMC = 79
ASKER_PHONE = "+84900000001"
# What a responder publishes in their own words: publishing needs both.
PUBLIC_TEXT = {
    "public_title": "Khai báo hộ người thân",
    "public_body": "Người thân không dùng điện thoại thông minh thì khai báo thế nào?",
}


def question(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "question",
        "category": "declaration",
        "title": "Tôi khai báo hộ bố mẹ được không?",
        "body": "Bố mẹ tôi không dùng điện thoại thông minh. Tôi khai báo giúp được không?",
    }
    body.update(overrides)
    return body


async def ask(
    client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    response = await client.post("/v1/questions", json=question(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def assert_problem(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """A problem+json answer with a stable code, never a 5xx."""
    assert response.status_code < 500, response.text
    if status is not None:
        assert response.status_code == status, response.text
    else:
        assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["code"]
    assert problem["status"] == response.status_code
    return problem


async def outbox(ctx: Context, kind: str = "question_update") -> list[dict[str, Any]]:
    """The outbox entries of one kind, decrypted: who is told what."""
    found = await ctx.store.find("notifications", {"kind": kind}, sort=[("created_at", 1)])
    return [
        {
            "to": ctx.cipher.decrypt(doc["to_enc"], context=RECIPIENT_CONTEXT),
            "params": orjson.loads(ctx.cipher.decrypt(doc["params_enc"], context=PARAMS_CONTEXT)),
            "locale": doc["locale"],
        }
        for doc in found
    ]


async def audit_actions(ctx: Context, target: str) -> list[str]:
    found = await ctx.store.find("audit_log", {"target": target}, sort=[("at", 1)])
    return [str(doc["action"]) for doc in found]


@pytest.fixture
async def citizen(client: httpx.AsyncClient) -> dict[str, str]:
    return await sign_in_citizen(client, ASKER_PHONE)


@pytest.fixture
async def other_citizen(client: httpx.AsyncClient) -> dict[str, str]:
    return await sign_in_citizen(client, "+84900000002")


@pytest.fixture
async def responder(ctx: Context, client: httpx.AsyncClient) -> dict[str, str]:
    """A responder for the whole country."""
    return await sign_in_staff(ctx, client, "responder")


async def area_responder(
    ctx: Context, client: httpx.AsyncClient, province: int, ward: int | None = None
) -> dict[str, str]:
    return await sign_in_staff(ctx, client, "responder", area=Area(province, ward))
