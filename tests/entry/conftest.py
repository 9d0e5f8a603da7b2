"""Entry test helpers: the Korean family of the contract, border checkpoints and staff."""

from __future__ import annotations

import copy
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from core.clock import local_day, utcnow
from core.context import Context
from declarations.rules import DEFAULT_RULES_PATH
from tests.conftest import sign_in_staff

NOI_BAI = "poe_vvnb"


def family(**overrides: Any) -> dict[str, Any]:
    """The contract's example: a Korean traveller with two companions, arriving today."""
    today = local_day(utcnow()).isoformat()
    body: dict[str, Any] = {
        "traveller": {
            "full_name": "Kim Min-jun",
            "passport_number": "M12345678",
            "nationality": "KR",
            "birth_year": 1985,
            "gender": "male",
            "phone": "+821012345678",
            "email": "m@example.kr",
        },
        "companions": [
            {
                "full_name": "Kim Ji-woo",
                "passport_number": "M87654321",
                "nationality": "KR",
                "birth_year": 2016,
                "gender": "female",
            },
            {
                "full_name": "박서연",
                "passport_number": "M11223344",
                "nationality": "KR",
                "birth_year": 1987,
                "gender": "female",
            },
        ],
        "trip": {
            "point_of_entry": NOI_BAI,
            "arrival_date": today,
            "transport": {"mode": "air", "number": "VN417", "seat": "23A"},
            "departure_country": "KR",
            "transit_countries": [],
            "countries_last_14_days": ["KR"],
        },
        "stay": {"province": 1, "ward": 70, "street": "1 Tràng Tiền", "until": today},
        "symptoms": [],
        "exposure": {
            "confirmed_case": False,
            "suspected_case": False,
            "from_affected_area": False,
            "symptomatic_contact": False,
        },
    }
    for name, value in overrides.items():
        body[name] = value
    return copy.deepcopy(body)


async def submit(
    client: httpx.AsyncClient, body: dict[str, Any], *, key: str | None = None, lang: str = "ko"
) -> httpx.Response:
    return await client.post(
        "/v1/entry-declarations",
        json=body,
        headers={"Idempotency-Key": key or secrets.token_hex(12), "Accept-Language": lang},
    )


def client_at(app: FastAPI, address: str) -> httpx.AsyncClient:
    """A client whose requests come from `address`, as the edge sees it."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def border_checkpoint(
    ctx: Context, client: httpx.AsyncClient, *, kind: str = "border"
) -> tuple[str, dict[str, str]]:
    """A checkpoint at Nội Bài registered by an admin, and a signed-in staff member of it."""
    admin = await sign_in_staff(ctx, client, "admin")
    created = await client.post(
        "/v1/checkpoints",
        json={"name": "Nội Bài T2 arrivals", "province": 1, "ward": 70, "kind": kind},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    checkpoint_id = str(created.json()["id"])
    staff = await sign_in_staff(ctx, client, "checkpoint_staff", checkpoints=(checkpoint_id,))
    return checkpoint_id, staff


async def arrive(ctx: Context, client: httpx.AsyncClient, declared: httpx.Response) -> None:
    """Border staff scan a posted form in at Nội Bài: it is an arrival from then on."""
    assert declared.status_code == 201, declared.text
    checkpoint_id, staff = await border_checkpoint(ctx, client)
    scanned = await client.post(
        f"/v1/checkpoints/{checkpoint_id}/entry-scans",
        json={"code": declared.json()["code"]},
        headers=staff,
    )
    assert scanned.status_code == 200, scanned.text


@pytest.fixture
def affected_rules(tmp_path: Path) -> Path:
    """The default rules with South Korea listed as affected, as the ministry would edit it."""
    text = DEFAULT_RULES_PATH.read_text(encoding="utf-8").replace(
        "affected_countries = []", 'affected_countries = ["KR"]'
    )
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path
