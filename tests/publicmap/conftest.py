"""One app holding `DECLARATIONS` and `CASES`, shared by the read-only map tests of a module
(seeding through the services takes seconds; the answers under test only read). A module
that also wants people under monitoring opens its own with `open_mapworld`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio

from core.context import Context
from publicmap.service import refresh
from tests.conftest import module_app
from tests.publicmap.seeding import Cases, Followed, people_for, seed_map
from tests.reports.seeding import (
    BA_DINH,
    DA_NANG,
    HA_NOI,
    HAI_CHAU,
    HO_CHI_MINH,
    HOAN_KIEM,
    VUNG_TAU,
    Batch,
    days_ago,
)

CASES = (
    Cases(days_ago(9), HA_NOI, HOAN_KIEM, 3),
    Cases(days_ago(5), HA_NOI, HOAN_KIEM, 2),
    Cases(days_ago(1), HA_NOI, HOAN_KIEM, 6),
    Cases(days_ago(0), HA_NOI, HOAN_KIEM, 1),
    Cases(days_ago(3), HA_NOI, BA_DINH, 1),
    Cases(days_ago(8), HO_CHI_MINH, VUNG_TAU, 7),
    Cases(days_ago(2), HO_CHI_MINH, VUNG_TAU, 2),
    Cases(days_ago(4), DA_NANG, HAI_CHAU, 1),
)
DECLARATIONS = (
    *people_for(CASES, days_ago(12)),
    Batch(days_ago(6), HA_NOI, HOAN_KIEM, "yellow", ("fever",), count=2),
    Batch(days_ago(2), HA_NOI, HOAN_KIEM, "yellow", ("fever", "cough"), count=4),
    Batch(days_ago(3), HO_CHI_MINH, VUNG_TAU, "yellow", ("fever",), count=1),
    Batch(days_ago(1), HO_CHI_MINH, VUNG_TAU, "yellow", ("cough",), count=6),
    Batch(days_ago(0), DA_NANG, HAI_CHAU, "yellow", ("sore_throat",), count=2),
    Batch(days_ago(0), DA_NANG, HAI_CHAU, "yellow", count=3),  # no symptom: not counted
)


@dataclass(frozen=True)
class MapWorld:
    ctx: Context
    client: httpx.AsyncClient


@asynccontextmanager
async def open_mapworld(
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    declarations: Sequence[Batch] = DECLARATIONS,
    followed: Sequence[Followed] = (),
) -> AsyncIterator[MapWorld]:
    async with module_app(tmp_path_factory, request, "publicmap") as (ctx, client):
        await seed_map(ctx, declarations, CASES, followed)
        await refresh(ctx)  # what the refresh job does once the data is in
        yield MapWorld(ctx, client)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def mapworld(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[MapWorld]:
    async with open_mapworld(tmp_path_factory, request) as world:
        yield world
