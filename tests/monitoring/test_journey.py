"""The issue's journey, as a new user would meet it: a contact traced at a market gets an
episode, reports a fever on day 3, tops the ward officer's list, is invisible to another
ward's officer, and after 14 quiet days the episode closes itself."""

from __future__ import annotations

from datetime import date, timedelta

import httpx

from core.clock import local_day, utcnow
from core.context import Context
from core.principals import Principal
from monitoring.daily_reports import add_report
from monitoring.jobs import run_daily_jobs
from monitoring.schemas import ReportIn
from tests.checkpoints.helpers import (
    account_id,
    create_person,
    new_checkpoint,
    person_token,
    scan,
    staff_headers,
)
from tests.conftest import sign_in_citizen
from tests.monitoring.conftest import HANOI, TRANG_TIEN, at, officer


async def test_a_contact_traced_at_a_market_is_followed_up_to_the_end(
    ctx: Context, client: httpx.AsyncClient
) -> None:
    market = await new_checkpoint(ctx, client, name="Chợ Hàng Da", kind="market")
    staff = await staff_headers(ctx, "checkpoint_staff", market["id"])
    case_citizen = await sign_in_citizen(client, "+84900000001")
    contact_citizen = await sign_in_citizen(client, "+84900000002")
    case_id = await create_person(client, case_citizen)
    contact_id = await create_person(client, contact_citizen)
    for citizen, person_id in ((case_citizen, case_id), (contact_citizen, contact_id)):
        token = await person_token(client, citizen, person_id)
        assert (await scan(client, staff, market["id"], token))["decision"] == "allow"

    health_officer = await officer(ctx, client, HANOI, None)
    confirmed = await client.post("/v1/cases", json={"person_id": case_id}, headers=health_officer)
    assert confirmed.status_code == 201, confirmed.text

    # The contact has an episode at home, opened by tracing.
    [episode] = (
        await client.get(f"/v1/people/{contact_id}/monitoring", headers=contact_citizen)
    ).json()["items"]
    assert (episode["reason"], episode["status"], episode["day"]) == ("contact", "active", 1)
    started = date.fromisoformat(episode["starts_on"])

    # Day 3: a fever, reported from the phone.
    day_three = at(started + timedelta(days=2), 8)
    reporter = Principal(account_id(contact_citizen), "citizen")
    reported = await add_report(
        ctx, reporter, episode["id"], ReportIn(temperature=38.6), now=day_three
    )
    assert (reported.created.day, reported.created.flags) == (3, ["fever"])

    ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
    listed = await client.get(
        "/v1/monitoring", params={"needs_attention": "true"}, headers=ward_officer
    )
    assert listed.json()["items"][0]["id"] == episode["id"]
    other_ward = await officer(ctx, client, HANOI, 4)
    assert (await client.get("/v1/monitoring", headers=other_ward)).json()["items"] == []

    # Then quiet days with reports, and the fourteenth day passes.
    for day in range(3, 14):
        quiet = at(started + timedelta(days=day), 9)
        await add_report(ctx, reporter, episode["id"], ReportIn(temperature=36.8), now=quiet)
    ends_on = started + timedelta(days=13)
    assert (await run_daily_jobs(ctx, at(ends_on + timedelta(days=1), 0))).closed == 1
    [closed] = (
        await client.get(f"/v1/people/{contact_id}/monitoring", headers=contact_citizen)
    ).json()["items"]
    assert (closed["status"], closed["outcome"]) == ("closed", "completed")
    assert local_day(utcnow()) <= ends_on
