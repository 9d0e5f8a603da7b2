"""A differencing attacker, shared by the report and map tests.

It is given two published answers, each a list of cells, and for every cell the set of
atoms (finest counter cells: one day × ward × status, say) it adds up. It knows which atoms
are non-empty (more than a real attacker knows). It then tries every linear combination of
the shown cells of both answers: when a suppressed cell's atoms are exactly such a
combination (its indicator lies in the row space of the shown cells), the same combination
of the published numbers is the attacker's value for it. With exact counts that value *is*
the suppressed count: `ward` minus the shown cells of `ward,status`, or `[d1..d3]` minus
`[d2..d3]`, are two such combinations.

Linear algebra runs modulo a large prime: membership and the combination's value are then
exact integers (the value of a consistent system is an integer; a denominator divisible by
the prime is out of reach of these tiny systems).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PRIME = (1 << 61) - 1


@dataclass(frozen=True)
class Cell:
    label: str
    atoms: frozenset[str]
    published: int | None  # None: suppressed


@dataclass(frozen=True)
class Attempt:
    cell: Cell
    value: int  # what differencing the two answers says the suppressed cell holds


def _signed(value: int) -> int:
    return value - PRIME if value > PRIME // 2 else value


class RowSpace:
    """The shown cells of some answers, reduced (row echelon form, modulo PRIME), each basis
    row remembering which combination of the original cells it is."""

    def __init__(self, cells: Sequence[Cell]) -> None:
        self.cells = [c for c in cells if c.published is not None and c.atoms]
        self.index = {a: i for i, a in enumerate(sorted({a for c in self.cells for a in c.atoms}))}
        self.basis: list[tuple[int, list[int], dict[int, int]]] = []
        for number, cell in enumerate(self.cells):
            vector = self._vector(cell.atoms)
            assert vector is not None
            combo = {number: 1}
            vector, combo = self._reduce(vector, combo)
            pivot = next((i for i, x in enumerate(vector) if x), None)
            if pivot is None:
                continue
            inverse = pow(vector[pivot], PRIME - 2, PRIME)
            vector = [x * inverse % PRIME for x in vector]
            combo = {k: v * inverse % PRIME for k, v in combo.items()}
            self.basis.append((pivot, vector, combo))

    def _vector(self, atoms: Iterable[str]) -> list[int] | None:
        vector = [0] * len(self.index)
        for atom in atoms:
            if atom not in self.index:
                return None  # an atom no shown cell covers: no combination reaches it
            vector[self.index[atom]] = 1
        return vector

    def _reduce(self, vector: list[int], combo: dict[int, int]) -> tuple[list[int], dict[int, int]]:
        for pivot, row, row_combo in self.basis:
            factor = vector[pivot]
            if factor:
                vector = [(x - factor * y) % PRIME for x, y in zip(vector, row, strict=True)]
                for k, v in row_combo.items():
                    combo[k] = (combo.get(k, 0) - factor * v) % PRIME
        return vector, combo

    def value_of(self, atoms: frozenset[str]) -> int | None:
        """The published numbers combined as `atoms` is combined from the shown cells, or
        None when no combination of them gives exactly `atoms`."""
        vector = self._vector(atoms)
        if vector is None:
            return None
        residue, combo = self._reduce(vector, {})
        if any(residue):
            return None
        # vector - Σ combo_k·cell_k = 0, so vector = Σ (-combo_k)·cell_k.
        total = sum(-v * (self.cells[k].published or 0) for k, v in combo.items()) % PRIME
        return _signed(total)


def attack(first: Sequence[Cell], second: Sequence[Cell]) -> list[Attempt]:
    """Every suppressed cell of either answer that the two answers' shown cells combine to,
    with the value the combination gives."""
    space = RowSpace([*first, *second])
    attempts = []
    for cell in [*first, *second]:
        if cell.published is None and cell.atoms:
            value = space.value_of(cell.atoms)
            if value is not None:
                attempts.append(Attempt(cell, value))
    return attempts
