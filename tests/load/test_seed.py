"""The seeding of a load run (load/seed.py), through the app in this process with the
operator's accounts given, as against a deployed service: every monitoring episode it plans
opens, for people who live where the officer works, and the monitoring scenario's officer
and citizens are answered."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI

from accounts.service import create_staff
from core.context import Context
from core.principals import Area, Role
from core.settings import Settings
from load.bench_requests import declaration_items
from load.data import otp_variable, provinces
from load.fixtures import Fixtures
from load.seed import SeedPlan, seed
from load.seed_staff import OFFICER_AREA, GivenStaff, Login
from load.server import load_phones
from tests.conftest import STAFF_PASSWORD, TEST_ADMIN, make_settings

PLAN = SeedPlan(checkpoints=0, scanned_households=24, concurrency=4, entry_families=2, monitored=12)
HCMC = 79


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The seeded households sign in with their test numbers' fixed codes."""
    phones = load_phones(0, PLAN.scanned_households)
    return make_settings(database_url, test_otp=otp_variable(phones))


async def seeded(ctx: Context, app: FastAPI, officer_area: Area | None) -> Fixtures:
    accounts: tuple[tuple[str, Role, Area | None], ...] = (
        ("load-admin", "admin", None),
        ("load-officer", "health_officer", officer_area),
    )
    for username, role, area in accounts:
        await create_staff(
            ctx, username=username, password=STAFF_PASSWORD, role=role, area=area, by=TEST_ADMIN
        )
    given = GivenStaff(
        admin=Login("load-admin", STAFF_PASSWORD), officer=Login("load-officer", STAFF_PASSWORD)
    )
    transport = httpx.ASGITransport(app=app)
    return await seed("http://testserver", PLAN, given=given, transport=transport)


def officer(fixtures: Fixtures) -> dict[str, str]:
    return {"Authorization": f"Bearer {fixtures.officer_token}"}


@pytest.mark.parametrize(
    ("area", "ward"),
    [
        (Area(HCMC, provinces()[2][HCMC][5]), (HCMC, provinces()[2][HCMC][5])),
        (Area(HCMC), (HCMC, provinces()[2][HCMC][0])),  # a whole province: one of its wards
        (None, OFFICER_AREA),  # the whole country
    ],
    ids=["ward", "province", "country"],
)
async def test_every_planned_episode_opens_where_the_officer_works(
    ctx: Context,
    app: FastAPI,
    client: httpx.AsyncClient,
    area: Area | None,
    ward: tuple[int, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fixtures = await seeded(ctx, app, area)
    assert [r.getMessage() for r in caplog.records if r.name == "load.seed"] == []
    assert len(fixtures.monitored) == PLAN.monitored
    assert fixtures.officer_ward == ward
    # Nor did anything else the run needs fall away on the way.
    assert len(fixtures.citizens) == PLAN.scanned_households
    assert len(fixtures.valid_tokens) == sum(len(c.person_ids) for c in fixtures.citizens)
    assert len(fixtures.entry_codes) == PLAN.entry_families
    # The scenario's officer: the worklist of their area holds every episode.
    worklist = await client.get("/v1/monitoring?status=active", headers=officer(fixtures))
    assert worklist.status_code == 200, worklist.text
    listed = {item["id"] for item in worklist.json()["items"]}
    assert listed == {m.episode_id for m in fixtures.monitored}
    # The scenario's citizen: the day's report for the person they declare for.
    episode = fixtures.monitored[0]
    report = await client.post(
        f"/v1/monitoring/{episode.episode_id}/reports",
        json={"temperature": 36.8, "symptoms": []},
        headers={"Authorization": f"Bearer {episode.citizen_token}", "Idempotency-Key": "k-1"},
    )
    assert report.status_code in (200, 201), report.text


async def test_the_submit_benchmark_declares_the_monitored_people_where_they_live(
    ctx: Context, app: FastAPI
) -> None:
    """Its declarations do not move them out of the ward their officer follows them in."""
    fixtures = await seeded(ctx, app, Area(*OFFICER_AREA))
    declarations = declaration_items(fixtures, PLAN, variants=1)
    first = [json.loads(body) for *_, body in declarations[: PLAN.monitored]]
    assert {(d["address"]["province"], d["address"]["ward"]) for d in first} == {OFFICER_AREA}
