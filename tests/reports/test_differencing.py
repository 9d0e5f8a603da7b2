"""Issue 17, item 5: no suppressed report cell can be recovered from two answers.

A data set with small cells is declared through the service. Every allowed report is asked
for over HTTP: each grouping (one or two of day, province, ward, status, symptom; the order
of two only sorts the rows) × every date range inside the seeded days, nationally and for
each seeded province. Then:

* **Every pair of answers** is given to the differencing attacker (`tests.attacker`): for
  each suppressed cell that some linear combination of the two answers' shown cells adds up
  to (`ward` minus the shown cells of `ward,status`; `[d1..d3]` minus `[d2..d3]`; any other),
  the combination's value must not be the cell's true count. On the code before this change
  it is, for many cells: that is the attack the issue reports.
* **Every answer is a sum of rounded atoms** (SECURITY.md, "Published figures"): each
  published cell equals the sum of its atoms' keyed-rounded counts, and is suppressed exactly
  when that sum is below the threshold. Every number any answer holds is then a function of
  the rounded atoms, so no set of answers, of any size, knows more than they do; a suppressed
  cell's atoms all rounded to 0, which each of 1..4 does: the cell is never pinned to one
  value. The attacker's value for a suppressed cell is accordingly its published 0.

Two answers that share no atom (two provinces' filtered answers, a symptom table and a
declaration table) cannot be combined: such pairs are skipped as the attacker would.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
import pytest_asyncio

from core.context import Context
from tests.attacker import Attempt, Cell, attack
from tests.conftest import module_app, sign_in_staff
from tests.reports.seeding import (
    BA_DINH,
    DA_NANG,
    HA_NOI,
    HAI_CHAU,
    HO_CHI_MINH,
    HOAN_KIEM,
    VUNG_TAU,
    Atoms,
    Batch,
    atoms_of,
    days_ago,
    seed,
)

URL = "/v1/reports/declarations"
DIMENSIONS = ("day", "province", "ward", "status", "symptom")
GROUPINGS = [",".join(g) for n in (1, 2) for g in itertools.combinations(DIMENSIONS, n)]
DAYS = [days_ago(n) for n in (3, 2, 1, 0)]
RANGES = [(a, b) for i, a in enumerate(DAYS) for b in DAYS[i:]]
PROVINCES = (HA_NOI, HO_CHI_MINH, DA_NANG)


def batches() -> list[Batch]:
    """Four days, three provinces, four wards: many cells of 1 to 4 next to larger ones."""
    d3, d2, d1, d0 = DAYS
    return [
        Batch(d3, HA_NOI, HOAN_KIEM, "green", count=6),
        Batch(d3, HA_NOI, HOAN_KIEM, "yellow", ("fever",), count=2),
        Batch(d3, HA_NOI, BA_DINH, "green", count=5),
        Batch(d3, HO_CHI_MINH, VUNG_TAU, "green", count=7),
        Batch(d2, HA_NOI, HOAN_KIEM, "green", count=5),
        Batch(d2, HA_NOI, HOAN_KIEM, "red", ("cough",), count=1),
        Batch(d2, HO_CHI_MINH, VUNG_TAU, "yellow", ("fever",), count=6),
        Batch(d2, DA_NANG, HAI_CHAU, "yellow", ("sore_throat",), count=3),
        Batch(d1, HA_NOI, HOAN_KIEM, "green", count=8),
        Batch(d1, HA_NOI, BA_DINH, "yellow", ("fever",), count=3),
        Batch(d1, HO_CHI_MINH, VUNG_TAU, "green", count=5),
        Batch(d1, HO_CHI_MINH, VUNG_TAU, "red", ("fever", "cough"), count=2),
        Batch(d0, HA_NOI, HOAN_KIEM, "green", count=5),
        Batch(d0, DA_NANG, HAI_CHAU, "green", count=6),
        Batch(d0, HO_CHI_MINH, VUNG_TAU, "yellow", count=4),
    ]


@dataclass(frozen=True)
class Answer:
    name: str
    group_by: tuple[str, ...]
    body: dict[str, Any]
    cells: list[Cell]


@dataclass(frozen=True)
class World:
    ctx: Context
    answers: dict[tuple[str, date, date, int | None], Answer]
    atoms: Atoms
    symptom_atoms: Atoms


def cells_of(body: dict[str, Any], group_by: tuple[str, ...], atoms: Atoms) -> list[Cell]:
    """Each row as the atoms it adds up (those of its range, province and row key)."""
    first, last, province = body["from"], body["to"], body["province"]
    cells = []
    for row in body["rows"]:
        key = tuple(row[d] for d in group_by)
        members = frozenset(
            atom
            for atom, (dims, _) in atoms.items()
            if first <= dims["day"] <= last
            and (province is None or dims["province"] == province)
            and tuple(dims[d] for d in group_by) == key
        )
        label = f"{','.join(group_by)} {first}..{last} {key}"
        cells.append(Cell(label, members, None if row["suppressed"] else row["count"]))
    return cells


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[World]:
    async with module_app(tmp_path_factory, request, "differencing") as (ctx, client):
        await seed(ctx, batches())
        analyst = await sign_in_staff(ctx, client, "analyst")
        atoms, symptom_atoms = atoms_of(batches()), atoms_of(batches(), symptoms=True)
        answers: dict[tuple[str, date, date, int | None], Answer] = {}
        for grouping in GROUPINGS:
            group_by = tuple(grouping.split(","))
            family = symptom_atoms if "symptom" in group_by else atoms
            for (first, last), province in itertools.product(RANGES, (None, *PROVINCES)):
                params: dict[str, Any] = {"from": str(first), "to": str(last)}
                params["group_by"] = grouping
                if province is not None:
                    params["province"] = province
                response = await client.get(URL, params=params, headers=analyst)
                assert response.status_code == 200, response.text
                body = response.json()
                name = f"group_by={grouping} {first}..{last} province={province}"
                answers[(grouping, first, last, province)] = Answer(
                    name, group_by, body, cells_of(body, group_by, family)
                )
        yield World(ctx, answers, atoms, symptom_atoms)


def truth(cell: Cell, world: World) -> int:
    every = {**world.atoms, **world.symptom_atoms}
    return sum(every[atom][1] for atom in cell.atoms)


@pytest.mark.asyncio(loop_scope="module")
class TestNoPairOfReportsRecoversASuppressedCell:
    async def test_the_data_set_has_suppressed_cells_within_shown_ones(self, world: World) -> None:
        national = [a for (_, _, _, p), a in world.answers.items() if p is None]
        hidden = sum(1 for a in national for c in a.cells if c.published is None)
        shown = sum(1 for a in national for c in a.cells if c.published is not None)
        assert hidden >= 100, hidden
        assert shown >= 100, shown

    async def test_differencing_any_two_answers_never_gives_a_true_count(
        self, world: World
    ) -> None:
        answers = list(world.answers.values())
        scope = [frozenset().union(*(c.atoms for c in a.cells)) for a in answers]
        recovered: list[tuple[str, str, Attempt]] = []
        values: set[int] = set()
        reached = pairs = 0
        for i, j in itertools.combinations(range(len(answers)), 2):
            if scope[i].isdisjoint(scope[j]):
                continue
            pairs += 1
            first, second = answers[i], answers[j]
            for attempt in attack(first.cells, second.cells):
                reached += 1
                values.add(attempt.value)
                if attempt.value == truth(attempt.cell, world):
                    recovered.append((first.name, second.name, attempt))
        assert pairs > 10_000
        assert reached > 0, "no pair combines to a suppressed cell: the test proves nothing"
        assert not recovered, (
            f"{len(recovered)} of {reached} attempts over {pairs} pairs recovered a suppressed "
            f"cell, e.g. {recovered[:2]}"
        )
        # Differencing gives back the cell's published value, which is 0 (module docstring).
        assert values == {0}

    async def test_every_answer_is_a_sum_of_rounded_atoms(self, world: World) -> None:
        """What makes any number of answers safe, not only pairs (module docstring)."""
        settings = world.ctx.settings
        threshold = settings.small_cell_threshold
        for answer in world.answers.values():
            rounding = answer.body.get("rounding")
            assert rounding == {"method": "keyed_random_rounding", "base": 5}, answer.name
            for cell in answer.cells:
                parts = sum(_rounded(atom, world) for atom in cell.atoms)
                if parts < threshold:
                    assert cell.published is None, (answer.name, cell.label)
                else:
                    assert cell.published == parts, (answer.name, cell.label)


def _rounded(atom: str, world: World) -> int:
    from reports.suppression import rounding_for

    every = {**world.atoms, **world.symptom_atoms}
    return rounding_for(world.ctx.settings).publish(atom, every[atom][1])
