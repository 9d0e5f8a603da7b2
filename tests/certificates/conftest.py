"""Who certificate tests act as: an admin who keeps the trust list, and the staff of one
checkpoint who scan certificates there."""

from __future__ import annotations

import httpx
import pytest

from core.context import Context
from tests.checkpoints.helpers import new_checkpoint, staff_headers


@pytest.fixture
async def admin(ctx: Context) -> dict[str, str]:
    return await staff_headers(ctx, "admin")


@pytest.fixture
async def checkpoint(ctx: Context, client: httpx.AsyncClient) -> str:
    return str((await new_checkpoint(ctx, client))["id"])


@pytest.fixture
async def staff(ctx: Context, checkpoint: str) -> dict[str, str]:
    return await staff_headers(ctx, "checkpoint_staff", checkpoint)
