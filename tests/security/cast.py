"""The people the security tests act as, every one signed in through the real endpoints.

Two citizens (A and B) who each declared for themselves, staff of checkpoint X and of
checkpoint Y, a health officer, an analyst, an admin, and nobody (no token). A third
citizen, C, exists only to be confirmed as a case, so that confirming it changes nobody
the other rows depend on.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from core.context import Context
from tests.conftest import TEST_PHONES, sign_in_citizen, sign_in_staff
from tests.declarations.conftest import declaration

# Column order of the authorisation table.
PRINCIPALS = ("citizen_a", "citizen_b", "staff_x", "staff_y", "officer", "analyst", "admin", "anon")

PHONE_A, PHONE_B, PHONE_C, PHONE_REFRESH = (
    "+84900000001",
    "+84900000002",
    "+84900000003",
    "+84900000004",
)
ID_NUMBERS = {PHONE_A: "001190012345", PHONE_B: "079085054321", PHONE_C: "001201000777"}
_keys = itertools.count()


def declaration_body(phone: str, id_number: str) -> dict[str, Any]:
    """A complete, valid form for the account holder, as API.md shows it."""
    body = declaration()
    body["person"] = {**body["person"], "phone": phone, "id_number": id_number}
    return body


def idempotency_key() -> str:
    return f"sec-{uuid.uuid4().hex[:12]}-{next(_keys)}"


@dataclass
class Cast:
    headers: dict[str, dict[str, str]]
    person_a: str
    person_b: str
    person_c: str
    declaration_a: str
    declaration_b: str
    checkpoint_x: str
    checkpoint_y: str
    venue_x: str
    extra: dict[str, Any] = field(default_factory=dict)

    def auth(self, principal: str) -> dict[str, str]:
        return self.headers[principal]


async def declare(
    client: httpx.AsyncClient, headers: dict[str, str], phone: str, id_number: str
) -> dict[str, Any]:
    response = await client.post(
        "/v1/declarations",
        json=declaration_body(phone, id_number),
        headers={**headers, "Idempotency-Key": idempotency_key()},
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def assemble(ctx: Context, client: httpx.AsyncClient) -> Cast:
    """Everyone signed in for real (OTP for citizens, password for staff)."""
    citizen_a = await sign_in_citizen(client, PHONE_A)
    citizen_b = await sign_in_citizen(client, PHONE_B)
    citizen_c = await sign_in_citizen(client, PHONE_C)
    admin = await sign_in_staff(ctx, client, "admin")
    checkpoints = []
    for name in ("Chợ Đồng Xuân", "Bệnh viện Bạch Mai"):
        created = await client.post(
            "/v1/checkpoints",
            json={"name": name, "province": 1, "ward": 70, "kind": "market"},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        checkpoints.append(created.json())
    x, y = checkpoints
    headers = {
        "citizen_a": citizen_a,
        "citizen_b": citizen_b,
        "staff_x": await sign_in_staff(ctx, client, "checkpoint_staff", checkpoints=(x["id"],)),
        "staff_y": await sign_in_staff(ctx, client, "checkpoint_staff", checkpoints=(y["id"],)),
        "officer": await sign_in_staff(ctx, client, "health_officer"),
        "analyst": await sign_in_staff(ctx, client, "analyst"),
        "admin": admin,
        "anon": {},
    }
    a = await declare(client, citizen_a, PHONE_A, ID_NUMBERS[PHONE_A])
    b = await declare(client, citizen_b, PHONE_B, ID_NUMBERS[PHONE_B])
    c = await declare(client, citizen_c, PHONE_C, ID_NUMBERS[PHONE_C])
    return Cast(
        headers=headers,
        person_a=a["person_id"],
        person_b=b["person_id"],
        person_c=c["person_id"],
        declaration_a=a["id"],
        declaration_b=b["id"],
        checkpoint_x=x["id"],
        checkpoint_y=y["id"],
        venue_x=x["venue_token"],
    )


async def fresh_refresh_token(client: httpx.AsyncClient) -> str:
    """A new single-use refresh token (a citizen signs in again)."""
    phone = PHONE_REFRESH
    assert (await client.post("/v1/auth/otp", json={"phone": phone})).status_code == 202
    token = await client.post("/v1/auth/token", json={"phone": phone, "otp": TEST_PHONES[phone]})
    assert token.status_code == 200, token.text
    return str(token.json()["refresh_token"])
