"""Monitoring test helpers: a person under follow-up, officers with areas, time moved by
passing `now` to the jobs (never by sleeping)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import httpx

from core.clock import VIETNAM, local_day, utcnow
from core.context import Context
from core.principals import Area
from tests.checkpoints.helpers import create_person
from tests.conftest import sign_in_citizen, sign_in_staff

HANOI, TRANG_TIEN = 1, 70


def at(day: date, hour: int) -> datetime:
    """A moment of a Vietnamese day."""
    return datetime.combine(day, time(hour), tzinfo=VIETNAM)


async def officer(
    ctx: Context, client: httpx.AsyncClient, province: int | None = HANOI, ward: int | None = None
) -> dict[str, str]:
    area = Area(province, ward) if province is not None else None
    return await sign_in_staff(ctx, client, "health_officer", area=area)


async def person_under_follow_up(
    ctx: Context,
    client: httpx.AsyncClient,
    *,
    starts_on: date | None = None,
    citizen: dict[str, str] | None = None,
) -> tuple[dict[str, str], str, dict[str, Any]]:
    """A citizen's dependant with an episode opened by a ward officer. Pass `citizen` to add
    another dependant of one signed-in citizen: a phone gets 3 sign-in codes an hour from
    one address (`KHAIBAO_OTP_PER_PHONE_PER_ADDRESS_PER_HOUR`)."""
    citizen = citizen or await sign_in_citizen(client)
    person_id = await create_person(client, citizen)
    ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
    opened = await client.post(
        "/v1/monitoring",
        json={
            "person_id": person_id,
            "reason": "contact",
            "place": "home",
            "address": {"province": HANOI, "ward": TRANG_TIEN, "street": "12 Tràng Tiền"},
            "starts_on": (starts_on or local_day(utcnow())).isoformat(),
        },
        headers=ward_officer,
    )
    assert opened.status_code == 201, opened.text
    return citizen, person_id, opened.json()


def days_later(days: int) -> date:
    return local_day(utcnow()) + timedelta(days=days)
