"""The scene a scan needs: a citizen with a declared person and their code, and the staff of
one checkpoint."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.context import Context
from tests.checkpoints.helpers import create_person, new_checkpoint, person_token, staff_headers
from tests.conftest import sign_in_citizen

ID_NUMBER = "001190054321"


@pytest.fixture
async def scene(ctx: Context, client: httpx.AsyncClient) -> dict[str, Any]:
    citizen = await sign_in_citizen(client)
    person_id = await create_person(client, citizen, id_number=ID_NUMBER)
    token = await person_token(client, citizen, person_id)
    checkpoint = await new_checkpoint(ctx, client)
    staff = await staff_headers(ctx, "checkpoint_staff", checkpoint["id"])
    return {
        "citizen": citizen,
        "person_id": person_id,
        "token": token,
        "checkpoint_id": checkpoint["id"],
        "staff": staff,
    }
