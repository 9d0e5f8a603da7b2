"""Small-cell suppression: no report lets anyone learn a count below the threshold.

The rule, applied to every table this service publishes:

1. **Primary suppression.** A cell whose count is below `small_cell_threshold` (5 unless
   configured) is published as `count: null, suppressed: true` (`<5` in CSV). Cells with
   no declarations are simply absent, so a suppressed cell always stands for 1..threshold-1.
2. **The total is the sum of the shown cells only**, and says so (`basis:
   "sum_of_shown_cells"`, with the number of shown and suppressed cells). Subtracting the
   shown cells from the total therefore gives 0, never a suppressed value. The total
   undercounts by the suppressed cells; the dashboard labels it accordingly.

This was chosen over complementary suppression (hide the next-smallest cell when one cell
of a group is hidden) because it needs no per-group reasoning, hides nothing a user could
otherwise have seen, and cannot be defeated by a marginal we forgot to protect: the response
carries no subtotals at all.

What it does not prevent: differencing *across* reports. An analyst who pulls
`group_by=province` and then `group_by=province,status` can subtract the shown status cells
of a province from its total and narrow down a suppressed one. Analysts are trusted ministry
staff, and every report request is written to the audit log (`reports.audit`) so such
querying is traceable; rounding or noise would stop it, at the price of exact counts the
ministry relies on.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

K = TypeVar("K", bound=Hashable)

BASIS: Literal["sum_of_shown_cells"] = "sum_of_shown_cells"


@dataclass(frozen=True)
class Cell(Generic[K]):
    key: K
    count: int | None
    suppressed: bool


@dataclass(frozen=True)
class Total:
    count: int
    shown_cells: int
    suppressed_cells: int


def suppress(
    counts: Mapping[K, int], threshold: int, order: Iterable[K] | None = None
) -> tuple[list[Cell[K]], Total]:
    """Cells in `order` (default: the mapping's order) with small counts hidden, and the total
    of the shown cells. Zero counts are dropped: an empty cell is not a row."""
    cells: list[Cell[K]] = []
    shown_total = shown = hidden = 0
    for key in order if order is not None else counts:
        count = counts[key]
        if count <= 0:
            continue
        if count < threshold:
            cells.append(Cell(key, None, True))
            hidden += 1
        else:
            cells.append(Cell(key, count, False))
            shown_total += count
            shown += 1
    return cells, Total(count=shown_total, shown_cells=shown, suppressed_cells=hidden)
