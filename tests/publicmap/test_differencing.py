"""Issue 21: no suppressed figure of the public map can be recovered from two answers.

Every answer the map gives for the seeded data is fetched: the provinces on each of the 30
dates one may ask for, and the wards of each seeded province on each date. Each figure is a
cell: the atoms (cases, declarations with symptoms, or people under monitoring, on one day
in one ward) it adds up. The trend's days are cells too. People under monitoring are
followed in wards large and small, some through the whole window, some closed within it, so
a province's figure less its large ward's is the small ward's. Then:

* **Every pair of answers** (two dates, a province against its wards, any two) is given to
  the differencing attacker (`tests.attacker`): wherever a combination of the two answers'
  shown figures adds up to a suppressed one, the combination's value must not be its true
  count. It is its published 0.
* **Every figure is a sum of rounded atoms**, so no set of answers, of any size, knows more
  than the rounded atoms (SECURITY.md, "Published figures").

On the code before issue 21 there is no map at all: these tests fail there (404).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
import pytest_asyncio

from tests.attacker import Attempt, Cell, attack
from tests.publicmap.conftest import CASES, DECLARATIONS, MapWorld, open_mapworld
from tests.publicmap.seeding import Followed, map_atoms, people_for
from tests.reports.seeding import (
    BA_DINH,
    DA_NANG,
    HA_NOI,
    HAI_CHAU,
    HO_CHI_MINH,
    HOAN_KIEM,
    VUNG_TAU,
    days_ago,
)

URL = "/v1/public/regions"
DATES = [days_ago(n) for n in range(30)]
PROVINCES = (HA_NOI, HO_CHI_MINH, DA_NANG)
FOLLOWED = (
    Followed(days_ago(20), HA_NOI, HOAN_KIEM, 8, days=14),  # closed a week ago
    Followed(days_ago(5), HA_NOI, HOAN_KIEM, 4, days=14),
    Followed(days_ago(9), HA_NOI, BA_DINH, 2, days=14),  # small, next to a large ward
    Followed(days_ago(15), HA_NOI, BA_DINH, 1, days=3),
    Followed(days_ago(11), HO_CHI_MINH, VUNG_TAU, 6, days=7),
    Followed(days_ago(3), HO_CHI_MINH, VUNG_TAU, 1, days=14),
    Followed(days_ago(6), DA_NANG, HAI_CHAU, 2, days=14),
)
ATOMS = map_atoms(DECLARATIONS, CASES, FOLLOWED)
# Which atoms a figure adds up: (measure, first day back, last day back) from its date.
FIGURES: dict[str, tuple[str, int | None]] = {
    "confirmed_cases": ("cases", None),  # every day up to the date
    "confirmed_last_7_days": ("cases", 6),
    "declarations_with_symptoms_last_7_days": ("symptomatic", 6),
    "under_monitoring": ("monitoring", 0),  # the date itself
}
TREND = {"confirmed": "cases", "declarations_with_symptoms": "symptomatic"}


@dataclass(frozen=True)
class Answer:
    name: str
    body: dict[str, Any]
    cells: list[Cell]


def _atoms(measure: str, first: date | None, last: date, place: dict[str, int]) -> frozenset[str]:
    return frozenset(
        atom
        for atom, (dims, _) in ATOMS.items()
        if dims["measure"] == measure
        and (first is None or first.isoformat() <= dims["day"])
        and dims["day"] <= last.isoformat()
        and all(dims[k] == v for k, v in place.items())
    )


def cells_of(body: dict[str, Any]) -> list[Cell]:
    day = date.fromisoformat(body["date"])
    cells = []
    for region in body["regions"]:
        place = (
            {"province": region["code"]}
            if body["level"] == "province"
            else {"province": body["province"], "ward": region["code"]}
        )
        for figure, (measure, back) in FIGURES.items():
            first = None if back is None else date.fromordinal(day.toordinal() - back)
            atoms = _atoms(measure, first, day, place)
            cells.append(Cell(f"{body['date']} {place} {figure}", atoms, region[figure]))
    scope = {} if body["province"] is None else {"province": body["province"]}
    for entry in body["trend"]:
        trend_day = date.fromisoformat(entry["day"])
        for field, measure in TREND.items():
            atoms = _atoms(measure, trend_day, trend_day, scope)
            cells.append(Cell(f"trend {entry['day']} {scope} {field}", atoms, entry[field]))
    return cells


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def mapworld(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[MapWorld]:
    """The shared map world, with people under monitoring."""
    declarations = (*DECLARATIONS, *people_for(FOLLOWED, days_ago(12)))
    async with open_mapworld(tmp_path_factory, request, declarations, FOLLOWED) as world:
        yield world


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def answers(mapworld: MapWorld) -> AsyncIterator[list[Answer]]:
    found = []
    for day in DATES:
        questions: list[dict[str, Any]] = [{"date": str(day)}]
        questions += [{"date": str(day), "level": "ward", "province": p} for p in PROVINCES]
        for params in questions:
            response = await mapworld.client.get(URL, params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            found.append(Answer(str(params), body, cells_of(body)))
    yield found


def truth(cell: Cell) -> int:
    return sum(ATOMS[atom][1] for atom in cell.atoms)


@pytest.mark.asyncio(loop_scope="module")
class TestNoPairOfMapAnswersRecoversASuppressedFigure:
    async def test_the_answers_have_suppressed_figures_next_to_shown_ones(
        self, answers: list[Answer]
    ) -> None:
        cells = [c for a in answers for c in a.cells if c.atoms]
        assert sum(1 for c in cells if c.published is None) >= 50
        assert sum(1 for c in cells if c.published) >= 50

    async def test_differencing_any_two_answers_never_gives_a_true_count(
        self, answers: list[Answer]
    ) -> None:
        recovered: list[tuple[str, str, Attempt]] = []
        values: set[int] = set()
        reached = 0
        for first, second in itertools.combinations(answers, 2):
            for attempt in attack(first.cells, second.cells):
                reached += 1
                values.add(attempt.value)
                if attempt.value == truth(attempt.cell):
                    recovered.append((first.name, second.name, attempt))
        assert reached > 0, "no pair combines to a suppressed figure: the test proves nothing"
        assert not recovered, f"{len(recovered)} of {reached} recovered, e.g. {recovered[:2]}"
        assert values == {0}

    async def test_under_monitoring_is_attacked_too(self, answers: list[Answer]) -> None:
        """The seeded monitoring gives suppressed people-under-monitoring figures that two
        answers combine to, so the test above covers that measure as well."""
        reached = {
            attempt.cell.label
            for first, second in itertools.combinations(answers, 2)
            for attempt in attack(first.cells, second.cells)
            if attempt.cell.label.endswith("under_monitoring")
        }
        assert len(reached) >= 5, sorted(reached)

    async def test_the_attacker_would_recover_exact_figures(self, answers: list[Answer]) -> None:
        """Control: had the map published true counts, hiding those under 5 (the rule before
        this change, in the reports), the same attacker recovers hidden figures exactly."""

        def exact(cells: list[Cell]) -> list[Cell]:
            return [Cell(c.label, c.atoms, None if 0 < truth(c) < 5 else truth(c)) for c in cells]

        recovered = 0
        for first, second in itertools.combinations(answers, 2):
            for attempt in attack(exact(first.cells), exact(second.cells)):
                recovered += attempt.value == truth(attempt.cell)
            if recovered > 100:
                break
        assert recovered > 100

    async def test_every_figure_is_a_sum_of_rounded_atoms(
        self, answers: list[Answer], mapworld: MapWorld
    ) -> None:
        from reports.suppression import rounding_for

        rounding = rounding_for(mapworld.ctx.settings)
        for answer in answers:
            for cell in answer.cells:
                parts = sum(rounding.publish(atom, ATOMS[atom][1]) for atom in cell.atoms)
                if not cell.atoms:
                    assert cell.published == 0, cell.label
                elif parts < 5:
                    assert cell.published is None, cell.label
                else:
                    assert cell.published == parts, cell.label
