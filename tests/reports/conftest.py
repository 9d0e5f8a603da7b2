"""Fixtures of the report tests: an analyst's headers, and one app seeded with the standard
declarations shared by the read-only tests of a module (seeding through the declaration
service and signing in with Argon2 take seconds; the reports under test only read)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from api.app import create_app
from core.context import Context
from tests.conftest import _mongo_database_url, make_settings, sign_in_staff
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
    if os.environ.get("KHAIBAO_TEST_BACKEND") == "mongo":
        url = _mongo_database_url(request.getfixturevalue("mongo_url"))
    else:
        directory: Path = tmp_path_factory.mktemp("reports")
        url = f"sqlite:///{directory}/khaibao.sqlite3"
    app = create_app(make_settings(url))
    async with app.router.lifespan_context(app):
        ctx: Context = app.state.context
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            count = await seed(ctx, standard_batches())
            headers = await sign_in_staff(ctx, client, "analyst")
            yield Seeded(ctx, client, headers, count)
