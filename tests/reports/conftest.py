"""Fixtures of the report tests: an analyst's headers, and one app seeded with the standard
declarations shared by the read-only tests of a module (seeding through the declaration
service and signing in with Argon2 take seconds; the reports under test only read)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio

from core.context import Context
from tests.conftest import module_app, sign_in_staff
from tests.reports.seeding import seed, standard_batches


@dataclass(frozen=True)
class Seeded:
    """A running app holding `standard_batches()`, a client and an analyst's headers."""

    ctx: Context
    client: httpx.AsyncClient
    analyst: dict[str, str]
    declarations: int


@pytest.fixture
async def analyst(ctx: Context, client: httpx.AsyncClient) -> dict[str, str]:
    return await sign_in_staff(ctx, client, "analyst")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def seeded(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Seeded]:
    async with module_app(tmp_path_factory, request, "reports") as (ctx, client):
        count = await seed(ctx, standard_batches())
        headers = await sign_in_staff(ctx, client, "analyst")
        yield Seeded(ctx, client, headers, count)
