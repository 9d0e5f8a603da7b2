"""GET /v1/public/regions: figures per province and ward from the counters, without sign-in,
rounded and suppressed, with ETags and Cache-Control for a national crowd."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from core.clock import utcnow
from core.context import Context
from core.storage import Delete
from publicmap import service
from publicmap.service import refresh
from reports.suppression import rounding_for
from tests.publicmap.conftest import CASES, DECLARATIONS, MapWorld
from tests.publicmap.seeding import Cases, map_atoms, rounded, seed_cases
from tests.reports.seeding import (
    BA_DINH,
    DA_NANG,
    HA_NOI,
    HO_CHI_MINH,
    HOAN_KIEM,
    VUNG_TAU,
    Batch,
    days_ago,
    seed,
    today,
)

URL = "/v1/public/regions"
FIGURES = (
    "confirmed_cases",
    "confirmed_last_7_days",
    "under_monitoring",
    "declarations_with_symptoms_last_7_days",
)


async def regions(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get(URL, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def by_code(body: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {region["code"]: region for region in body["regions"]}


def expected(world: MapWorld, day: date, place: tuple[int, int | None]) -> dict[str, int | None]:
    """A province's (ward None) or ward's figures on `day`: sums of the rounded atoms."""
    atoms = map_atoms(DECLARATIONS, CASES)
    published = rounded(atoms, rounding_for(world.ctx.settings))
    sums = {figure: [0, False] for figure in FIGURES}
    for atom, (dims, _) in atoms.items():
        if (dims["province"], dims["ward"] if place[1] is not None else None) != place:
            continue
        age = (day - date.fromisoformat(dims["day"])).days
        if age < 0:
            continue
        wanted = (
            ["confirmed_cases"] + (["confirmed_last_7_days"] if age < 7 else [])
            if dims["measure"] == "cases"
            else (["declarations_with_symptoms_last_7_days"] if age < 7 else [])
        )
        for figure in wanted:
            sums[figure][0] += published[atom]
            sums[figure][1] = True
    threshold = world.ctx.settings.small_cell_threshold
    return {
        figure: (0 if not present else (int(value) if value >= threshold else None))
        for figure, (value, present) in sums.items()
    }


@pytest.mark.asyncio(loop_scope="module")
class TestFigures:
    async def test_every_province_without_signing_in(self, mapworld: MapWorld) -> None:
        body = await regions(mapworld.client)
        assert body["level"] == "province"
        assert body["date"] == today().isoformat()
        assert len(body["regions"]) == 34
        assert [r["code"] for r in body["regions"]] == sorted(r["code"] for r in body["regions"])
        assert set(body["regions"][0]) == {"code", "name", *FIGURES}
        assert by_code(body)[HA_NOI]["name"] == "Thành phố Hà Nội"
        assert body["rounding"] == {"method": "keyed_random_rounding", "base": 5}
        for code in (HA_NOI, HO_CHI_MINH, DA_NANG):
            figures = {k: by_code(body)[code][k] for k in FIGURES}
            assert figures == expected(mapworld, today(), (code, None)), code
        quiet = by_code(body)[56]  # Khánh Hòa: nothing declared, nothing confirmed
        assert [quiet[k] for k in FIGURES] == [0, 0, 0, 0]

    async def test_the_wards_of_a_province(self, mapworld: MapWorld) -> None:
        body = await regions(mapworld.client, level="ward", province=HA_NOI)
        assert body["province_name"] == "Thành phố Hà Nội"
        assert len(body["regions"]) == 126  # every ward of Hà Nội since July 2025
        wards = by_code(body)
        assert wards[HOAN_KIEM]["name"] == "Phường Hoàn Kiếm"
        for ward in (HOAN_KIEM, BA_DINH):
            figures = {k: wards[ward][k] for k in FIGURES}
            assert figures == expected(mapworld, today(), (HA_NOI, ward)), ward

    async def test_a_province_reads_as_the_sum_of_its_wards(self, mapworld: MapWorld) -> None:
        """One atom, one rounding: the same figures however they are added up."""
        for day in (today(), days_ago(4)):
            provinces = by_code(await regions(mapworld.client, date=str(day)))
            for code in (HA_NOI, HO_CHI_MINH):
                wards = await regions(mapworld.client, level="ward", province=code, date=str(day))
                for figure in FIGURES:
                    # A hidden figure is a rounded 0 (the base is the threshold).
                    parts = [w[figure] or 0 for w in wards["regions"]]
                    assert (provinces[code][figure] or 0) == sum(parts), figure

    async def test_an_earlier_date_leaves_out_what_came_after(self, mapworld: MapWorld) -> None:
        day = days_ago(6)
        body = await regions(mapworld.client, date=str(day))
        assert body["date"] == day.isoformat()
        for code in (HA_NOI, HO_CHI_MINH, DA_NANG):
            figures = {k: by_code(body)[code][k] for k in FIGURES}
            assert figures == expected(mapworld, day, (code, None)), code

    async def test_the_trend_is_thirty_days_of_rounded_daily_figures(
        self, mapworld: MapWorld
    ) -> None:
        body = await regions(mapworld.client, level="ward", province=HO_CHI_MINH)
        trend = body["trend"]
        assert [d["day"] for d in trend] == [str(days_ago(n)) for n in range(29, -1, -1)]
        atoms = map_atoms(DECLARATIONS, CASES)
        published = rounded(atoms, rounding_for(mapworld.ctx.settings))
        for entry in trend:
            for prefix, field in (("mcase", "confirmed"), ("msym", "declarations_with_symptoms")):
                atom = f"{prefix}|{entry['day']}|{HO_CHI_MINH}|{VUNG_TAU}"
                if atom not in atoms:
                    assert entry[field] == 0
                else:
                    assert entry[field] == (published[atom] if published[atom] >= 5 else None)

    async def test_no_one_is_under_monitoring_until_monitoring_is_recorded(
        self, mapworld: MapWorld
    ) -> None:
        body = await regions(mapworld.client)
        assert {r["under_monitoring"] for r in body["regions"]} == {0}


@pytest.mark.asyncio(loop_scope="module")
class TestCaching:
    async def test_strong_etag_and_cache_control(self, mapworld: MapWorld) -> None:
        response = await mapworld.client.get(URL)
        etag = response.headers["etag"]
        assert etag.startswith('"')
        assert not etag.startswith("W/")
        assert response.headers["cache-control"] == "public, max-age=60"
        again = await mapworld.client.get(URL, params={"date": str(today())})
        assert again.headers["etag"] == etag  # the same question, the same bytes
        assert again.content == response.content
        other = await mapworld.client.get(URL, params={"level": "ward", "province": HA_NOI})
        assert other.headers["etag"] != etag

    async def test_a_repeat_with_the_tag_is_304_without_a_body(self, mapworld: MapWorld) -> None:
        first = await mapworld.client.get(URL)
        etag = first.headers["etag"]
        for header in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
            response = await mapworld.client.get(URL, headers={"If-None-Match": header})
            assert response.status_code == 304, header
            assert response.content == b""
            assert response.headers["etag"] == etag
            assert response.headers["cache-control"] == "public, max-age=60"
        stale = await mapworld.client.get(URL, headers={"If-None-Match": '"old"'})
        assert stale.status_code == 200

    async def test_gzip_once_with_a_tag_of_its_own(self, mapworld: MapWorld) -> None:
        plain = await mapworld.client.get(URL, headers={"Accept-Encoding": "identity"})
        packed = await mapworld.client.get(URL, headers={"Accept-Encoding": "gzip"})
        assert "content-encoding" not in plain.headers
        assert packed.headers["content-encoding"] == "gzip"
        assert packed.json() == plain.json()
        assert packed.headers["etag"] != plain.headers["etag"]  # strong: other bytes
        assert packed.headers["vary"] == plain.headers["vary"] == "Accept-Encoding"
        for sent, coding in ((plain, "identity"), (packed, "gzip")):
            again = await mapworld.client.get(
                URL, headers={"Accept-Encoding": coding, "If-None-Match": sent.headers["etag"]}
            )
            assert again.status_code == 304, coding
            # RFC 9110 15.4.5: what the 200 would have said, so a cache keeps them apart.
            assert again.headers["vary"] == "Accept-Encoding"
            assert again.headers["cache-control"] == sent.headers["cache-control"]

    async def test_a_rebuild_with_nothing_new_keeps_the_tag(self, mapworld: MapWorld) -> None:
        before = (await mapworld.client.get(URL)).headers["etag"]
        await refresh(mapworld.ctx)
        assert (await mapworld.client.get(URL)).headers["etag"] == before


class TestRefresh:
    async def test_new_cases_appear_after_the_job_and_change_the_tag(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        first = await client.get(URL)
        assert by_code(first.json())[HA_NOI]["confirmed_cases"] == 0
        cases = [Cases(days_ago(1), HA_NOI, HOAN_KIEM, 10)]
        await seed(ctx, [Batch(days_ago(3), HA_NOI, HOAN_KIEM, "green", count=10)])
        await seed_cases(ctx, cases)
        # Until the job runs, the published snapshot stands (and so does its tag).
        assert (await client.get(URL)).headers["etag"] == first.headers["etag"]
        await refresh(ctx)
        second = await client.get(URL)
        assert second.headers["etag"] != first.headers["etag"]
        # One atom of 10 (one ward, one day), a multiple of the base: published as it is.
        assert by_code(second.json())[HA_NOI]["confirmed_cases"] == 10
        counter = await ctx.store.get(
            "report_counters", f"mcase|{days_ago(1)}|{HA_NOI}|{HOAN_KIEM}"
        )
        assert counter is not None
        assert counter["n"] == 10

    async def test_cases_from_before_the_window_count_to_date(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        old = days_ago(70)
        await seed(ctx, [Batch(old, HA_NOI, HOAN_KIEM, "green", count=5)])
        await seed_cases(ctx, [Cases(old, HA_NOI, HOAN_KIEM, 5)])
        for _ in range(2):  # the day's first build reads them; the next reuses its sum
            await refresh(ctx)
            for day in (today(), days_ago(29)):
                hanoi = by_code(await regions(client, date=str(day)))[HA_NOI]
                assert hanoi["confirmed_cases"] == 5
                assert hanoi["confirmed_last_7_days"] == 0
            await seed(ctx, [Batch(today(), DA_NANG, 20242, "green", count=1)])

    async def test_another_process_sees_the_new_snapshot(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        await client.get(URL)
        await seed(ctx, [Batch(today(), DA_NANG, 20242, "yellow", ("fever",), count=5)])
        # Another process rebuilds: this one learns of it from the head it polls.
        other = Context(ctx.settings, ctx.store, ctx.cipher, ctx.limiter)
        await refresh(other)
        monkeypatch.setattr(service, "CHECK_SECONDS", 0.0)
        response = await client.get(URL, headers={"Accept-Encoding": "identity"})
        assert by_code(response.json())[DA_NANG]["declarations_with_symptoms_last_7_days"] == 5
        # Both processes send the same bytes under the same tag.
        built = service.cache_of(other).snapshot
        assert built is not None
        question = service.question(built, "province", None, None)
        assert response.headers["etag"] == service.etag_of(built, question)
        assert response.content == service.answer(other, built, question).body

    async def test_the_figures_come_from_counters_never_from_declarations(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        await seed(ctx, [Batch(today(), HA_NOI, HOAN_KIEM, "yellow", ("cough",), count=5)])
        await ctx.store.write([Delete("declarations", {})])
        await refresh(ctx)
        body = (await client.get(URL)).json()
        assert by_code(body)[HA_NOI]["declarations_with_symptoms_last_7_days"] == 5

    async def test_a_new_day_is_built_before_it_is_answered(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        await refresh(ctx, now=utcnow() - timedelta(days=1))  # built yesterday
        body = await regions(client)
        assert body["date"] == today().isoformat()


@pytest.mark.asyncio(loop_scope="module")
class TestRefusals:
    @pytest.mark.parametrize(
        ("params", "code", "field"),
        [
            ({"date": str(days_ago(30))}, "map_date_out_of_range", "date"),
            ({"date": str(today() + timedelta(days=1))}, "map_date_out_of_range", "date"),
            ({"level": "ward"}, "map_province_required", "province"),
            ({"level": "ward", "province": 2}, "province_unknown", "province"),
            ({"level": "district"}, "validation_failed", "query.level"),
            ({"date": "2026-02-30"}, "validation_failed", "query.date"),
        ],
    )
    async def test_bad_question_is_422_problem_json(
        self, mapworld: MapWorld, params: dict[str, Any], code: str, field: str
    ) -> None:
        response = await mapworld.client.get(URL, params=params, headers={"Accept-Language": "vi"})
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["code"] == code
        assert [e["field"] for e in problem["errors"]] == [field]

    async def test_messages_in_vietnamese_and_english(self, mapworld: MapWorld) -> None:
        params = {"level": "ward"}
        vi = await mapworld.client.get(URL, params=params, headers={"Accept-Language": "vi"})
        en = await mapworld.client.get(URL, params=params, headers={"Accept-Language": "en"})
        assert vi.json()["errors"][0]["message"].startswith("`level=ward` liệt kê")
        assert en.json()["errors"][0]["message"].startswith("`level=ward` lists")
