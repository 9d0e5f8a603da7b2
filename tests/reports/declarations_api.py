"""Asking GET /v1/reports/declarations as the tests do: over `span()` (the seeded days),
its counts by dimension, and what to compare them with: the true counts behind them
(`exact`, never published) and the analyst's expected table (`expected`)."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from core.clock import utcnow
from reports.service import DeclarationQuery, declaration_counts, parse_group_by
from reports.suppression import rounding_for
from tests.reports.conftest import Seeded
from tests.reports.seeding import days_ago, published_table, standard_batches, today

URL = "/v1/reports/declarations"
TRUE_TOTAL = 49  # standard_batches()


def span() -> dict[str, str]:
    return {"from": days_ago(3).isoformat(), "to": today().isoformat()}


async def report(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    """The JSON report for `span()` unless `from`/`to` are given."""
    response = await client.get(URL, params={**span(), **params}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def counts(body: dict[str, Any], *dims: str) -> dict[tuple[Any, ...], int | None]:
    return {tuple(row[d] for d in dims): row["count"] for row in body["rows"]}


async def exact(
    seeded: Seeded, group_by: str, province: int | None = None
) -> dict[tuple[Any, ...], int]:
    """The true counts behind a report of `span()` (never published), through the same
    counters and summaries."""
    query = DeclarationQuery(days_ago(3), today(), parse_group_by(group_by), province)
    found = await declaration_counts(
        seeded.ctx.store,
        query,
        now=utcnow(),
        rounding=rounding_for(seeded.ctx.settings),
        exact=True,
    )
    return dict(found)


def expected(
    seeded: Seeded, group_by: str, province: int | None = None, **days: date
) -> dict[tuple[Any, ...], int | None]:
    """What the analyst should see: the standard batches' atoms, rounded and summed."""
    return published_table(
        standard_batches(),
        rounding_for(seeded.ctx.settings),
        seeded.ctx.settings.small_cell_threshold,
        group_by.split(","),
        first=days.get("first", days_ago(3)),
        last=days.get("last", today()),
        province=province,
    )
