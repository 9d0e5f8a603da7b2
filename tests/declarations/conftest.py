"""Declaration test helpers: a valid form to start from, and a signed-in citizen."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import httpx
import pytest

from core.clock import local_day, utcnow
from core.context import Context
from tests.conftest import sign_in_citizen

FULL_NAME = "Nguyễn Thị Lan"
ID_NUMBER = "001190012345"
PHONE = "+84912345678"
STREET = "12 Tràng Tiền"
CHILD_NAME = "Trần Minh Khôi"
CHILD_ID_NUMBER = "001215098765"


def declaration(**overrides: Any) -> dict[str, Any]:
    """The form as API.md shows it, with a domestic trip three days ago; `overrides` replace
    top-level sections."""
    trip_day = local_day(utcnow()) - timedelta(days=3)
    body: dict[str, Any] = {
        "person": {
            "full_name": FULL_NAME,
            "id_number": ID_NUMBER,
            "birth_year": 1990,
            "gender": "female",
            "nationality": "VN",
            "phone": PHONE,
        },
        "address": {"province": 1, "ward": 70, "street": STREET},
        "symptoms": [],
        "exposure": {
            "confirmed_case": False,
            "suspected_case": False,
            "from_affected_area": False,
            "symptomatic_contact": False,
        },
        "chronic_conditions": [],
        "pregnant": False,
        "travel": {
            "countries": [],
            "domestic": [
                {
                    "vehicle": "bus",
                    "from_province": 79,
                    "to_province": 1,
                    "date": trip_day.isoformat(),
                }
            ],
        },
    }
    body.update(copy.deepcopy(overrides))
    return body


def child_declaration(**overrides: Any) -> dict[str, Any]:
    body = declaration(**overrides)
    body["person"] = {
        "full_name": CHILD_NAME,
        "id_number": CHILD_ID_NUMBER,
        "birth_year": 2015,
        "gender": "male",
        "nationality": "VN",
        "relation": "child",
    }
    return body


def set_path(body: dict[str, Any], path: str, value: Any) -> None:
    """Set `a.b.0.c` inside a nested body."""
    *parents, last = path.split(".")
    node: Any = body
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


async def declare(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    body: dict[str, Any],
    key: str,
    **extra_headers: str,
) -> httpx.Response:
    return await client.post(
        "/v1/declarations", json=body, headers={**headers, "Idempotency-Key": key, **extra_headers}
    )


async def count_declarations(ctx: Context) -> int:
    return await ctx.store.count("declarations", {})


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


@pytest.fixture
async def citizen(client: httpx.AsyncClient) -> dict[str, str]:
    return await sign_in_citizen(client, "+84900000001")


@pytest.fixture
async def other_citizen(client: httpx.AsyncClient) -> dict[str, str]:
    return await sign_in_citizen(client, "+84900000002")
