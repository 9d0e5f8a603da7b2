"""Helpers for the personal data rights tests: a family declared over HTTP (a parent and a
child), codes scanned at a checkpoint, and every stored document read back."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx

from core.context import Context
from reports.folding import fold_pending
from runtime.collections import COLLECTIONS
from tests.checkpoints.helpers import new_checkpoint, person_token, scan, staff_for
from tests.declarations.conftest import (
    CHILD_ID_NUMBER,
    CHILD_NAME,
    FULL_NAME,
    ID_NUMBER,
    PHONE,
    STREET,
    child_declaration,
    declaration,
)

__all__ = ["CHILD_ID_NUMBER", "CHILD_NAME", "FULL_NAME", "ID_NUMBER", "PHONE", "STREET"]


@dataclass
class Family:
    parent: dict[str, str]  # the account's auth headers
    parent_id: str  # the account holder's person id
    child_id: str
    checkpoint: dict[str, Any]
    staff: dict[str, str]
    child_code: str


async def declare(client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> str:
    response = await client.post(
        "/v1/declarations",
        json=body,
        headers={**headers, "Idempotency-Key": secrets.token_hex(8)},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["person_id"])


async def family(ctx: Context, client: httpx.AsyncClient, parent: dict[str, str]) -> Family:
    """A parent who declared for themself and a child; the child's code scanned once."""
    parent_id = await declare(client, parent, declaration())
    child_id = await declare(client, parent, child_declaration())
    checkpoint = await new_checkpoint(ctx, client)
    staff = await staff_for(ctx, client, checkpoint["id"])
    code = await person_token(client, parent, child_id)
    assert (await scan(client, staff, checkpoint["id"], code))["decision"] == "allow"
    return Family(parent, parent_id, child_id, checkpoint, staff, code)


async def everything_stored(ctx: Context) -> str:
    """Every document of every collection, as one text to search."""
    found: list[str] = []
    for spec in COLLECTIONS:
        for document in await ctx.store.find(spec.name, {}):
            found.append(f"{spec.name} {document!r}")
    return "\n".join(found)


async def counters(ctx: Context) -> list[dict[str, Any]]:
    """The report counters of declarations (what the ministry's counts are read from), in a
    stable order. (Checkpoint counters are left out: scanning the erased code again is a
    new, denied scan, counted as one.) The declarations' pending steps are folded first, as a
    report folds them before it reads."""
    await fold_pending(ctx.store)
    found = await ctx.store.find("report_counters", {})
    found = [d for d in found if d.get("kind") != "checkpoints"]
    return sorted(found, key=lambda d: str(d["_id"]))


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["code"]
    return problem
