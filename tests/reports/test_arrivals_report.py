"""Issue 18: arrivals by day, point of entry, nationality and status, from the counters an
entry declaration writes in its own batch; rounded and suppressed like every report."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from core.clock import local_day, utcnow
from core.context import Context
from reports.suppression import rounding_for
from tests.conftest import sign_in_staff
from tests.entry.conftest import NOI_BAI, family, submit

URL = "/v1/reports/arrivals"
TAN_SON_NHAT = "poe_vvts"


def traveller(nationality: str, passport: str) -> dict[str, Any]:
    return {
        "full_name": "John Smith",
        "passport_number": passport,
        "nationality": nationality,
        "birth_year": 1980,
        "gender": "male",
    }


async def arrive(
    client: httpx.AsyncClient, point: str, nationality: str, *, companions: int, sick: bool
) -> str:
    """One form: a traveller and `companions` of the same nationality; returns its status."""
    body = family(
        companions=[traveller(nationality, f"C{i:08d}") for i in range(companions)],
        symptoms=["fever"] if sick else [],
    )
    body["traveller"]["nationality"] = nationality
    body["trip"]["point_of_entry"] = point
    response = await submit(client, body, lang="en")
    assert response.status_code == 201, response.text
    return str(response.json()["status"])


# (point, nationality, companions, sick) per form
FORMS = (
    (NOI_BAI, "KR", 2, False),
    (NOI_BAI, "KR", 2, False),
    (NOI_BAI, "KR", 0, True),
    (NOI_BAI, "US", 0, False),
    (TAN_SON_NHAT, "US", 4, False),
    (TAN_SON_NHAT, "JP", 1, True),
)


async def seed(client: httpx.AsyncClient) -> dict[str, int]:
    """Submits FORMS; returns the true count of each counter cell (atom) they fill."""
    atoms: dict[str, int] = {}
    day = local_day(utcnow()).isoformat()
    for point, nationality, companions, sick in FORMS:
        status = await arrive(client, point, nationality, companions=companions, sick=sick)
        atom = f"arr|{day}|{point}|{nationality}|{status}"
        atoms[atom] = atoms.get(atom, 0) + 1 + companions
    return atoms


def expected(
    ctx: Context, atoms: dict[str, int], group_by: Sequence[str]
) -> dict[tuple[str, ...], int | None]:
    rounding = rounding_for(ctx.settings)
    sums: dict[tuple[str, ...], int] = {}
    for atom, n in atoms.items():
        _, day, point, nationality, status = atom.split("|")
        dims = {"day": day, "point_of_entry": point, "nationality": nationality, "status": status}
        key = tuple(dims[d] for d in group_by)
        sums[key] = sums.get(key, 0) + rounding.publish(atom, n)
    return {key: (v if v >= 5 else None) for key, v in sums.items()}


def today() -> str:
    return local_day(utcnow()).isoformat()


@pytest.mark.parametrize(
    "group_by",
    ["day", "point_of_entry", "nationality", "status", "point_of_entry,nationality", "day,status"],
)
async def test_every_grouping_is_a_sum_of_rounded_counters(
    ctx: Context, client: httpx.AsyncClient, group_by: str
) -> None:
    atoms = await seed(client)
    analyst = await sign_in_staff(ctx, client, "analyst")
    response = await client.get(
        URL, params={"from": today(), "to": today(), "group_by": group_by}, headers=analyst
    )
    assert response.status_code == 200, response.text
    body = response.json()
    dims = group_by.split(",")
    got = {tuple(row[d] for d in dims): row["count"] for row in body["rows"]}
    assert got == expected(ctx, atoms, dims)
    assert all(row["suppressed"] == (row["count"] is None) for row in body["rows"])
    assert body["unit"] == "travellers"
    assert body["rounding"]["base"] == 5
    assert body["total"]["count"] == sum(n for n in got.values() if n is not None)
    assert sum(atoms.values()) == 15  # companions count: 3 + 3 + 1 + 1 + 5 + 2


async def test_csv_and_the_audit_trail(ctx: Context, client: httpx.AsyncClient) -> None:
    atoms = await seed(client)
    analyst = await sign_in_staff(ctx, client, "analyst")
    params = {"from": today(), "to": today(), "group_by": "point_of_entry,status"}
    response = await client.get(URL, params=params, headers={**analyst, "Accept": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert f"khaibao-arrivals-{today()}-{today()}.csv" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["point_of_entry", "status", "count"]
    want = expected(ctx, atoms, ["point_of_entry", "status"])
    assert {(r[0], r[1]): r[2] for r in rows[1:]} == {
        key: "<5" if n is None else str(n) for key, n in want.items()
    }
    [entry] = await ctx.store.find("audit_log", {"report": "arrivals"})
    assert entry["params"] == {**params, "group_by": ["point_of_entry", "status"], "format": "csv"}


async def test_days_outside_the_range_are_left_out(ctx: Context, client: httpx.AsyncClient) -> None:
    await seed(client)
    analyst = await sign_in_staff(ctx, client, "analyst")
    response = await client.get(
        URL, params={"from": "2026-01-01", "to": "2026-01-31"}, headers=analyst
    )
    assert response.status_code == 200
    assert response.json()["rows"] == []


async def test_bad_grouping_is_422_in_the_callers_language(
    ctx: Context, client: httpx.AsyncClient
) -> None:
    analyst = await sign_in_staff(ctx, client, "analyst")
    for group_by in ("province", "day,day", "day,status,nationality", "<script>"):
        response = await client.get(
            URL,
            params={"from": today(), "to": today(), "group_by": group_by},
            headers={**analyst, "Accept-Language": "vi"},
        )
        assert response.status_code == 422, group_by
        problem = response.json()
        assert problem["code"] == "report_group_by_invalid"
        assert "nationality" in problem["detail"]
        assert "không lặp lại" in problem["detail"]
        assert "script" not in response.text
    assert await ctx.store.count("audit_log", {"report": "arrivals"}) == 0


async def test_only_analysts(ctx: Context, client: httpx.AsyncClient) -> None:
    params = {"from": today(), "to": today()}
    assert (await client.get(URL, params=params)).status_code == 401
    officer = await sign_in_staff(ctx, client, "health_officer")
    assert (await client.get(URL, params=params, headers=officer)).status_code == 403
