"""Publishing counts so that no combination of answers recovers a small cell.

Every count this service publishes, in the ministry's reports and on the public map, is
built the same way:

1. **Atoms.** The counters kept on write are the finest cells there are (one day × ward ×
   status for declarations, one day × ward for the map's cases). Each counter document is an
   atom; its `_id` is the atom's identity.
2. **Each atom is rounded once, the same way every time.** `Rounding.publish` turns an
   atom's true count `v` into a multiple of the base `b`: `b * floor((v + o) / b)`, where the
   offset `o` in `0..b-1` comes from an HMAC of the atom's identity under a secret key. This
   is unbiased random rounding (`v` is rounded up with probability `(v mod b) / b`), but the
   draw is fixed by the key and the atom, so asking again never gives a second draw to
   average.
3. **A published cell is the sum of its atoms' rounded values**, never a rounding of its
   own true total. A cell whose published value is below the threshold is shown as
   suppressed (`count: null`, `<5` in CSV); an empty cell is not a row.

Why this survives differencing, for any number of answers and not only pairs: every number
in every answer is a function of the atoms' rounded values (and of which cells are empty).
Two answers can be subtracted, overlapped or combined at will; what comes out is again a sum
of rounded atoms. A suppressed cell has published value 0, so each of its atoms was rounded
to 0, and an atom rounded to 0 that is not empty holds anything from 1 to `b - 1`: at least
two values when `b >= 3`, whatever else is known. So a suppressed cell is never pinned to
one value. (An attacker who knew the key would know each offset; the key never leaves the
server, and without it each offset is an independent uniform draw.)

Rejected alternatives: rounding each published cell independently leaves the cells
inconsistent with each other, and the bounds of several independently rounded cells can
meet at a corner and pin a small cell (a total of 20 and four hidden wards of at most 4
each). Complementary suppression must know every table an analyst may ask for and every
pair of them; the query space (groupings × any date range × province) is too large to
protect one table at a time. The price of this method: published counts are not exact, a
sum over `k` non-empty atoms is off by at most `(b - 1) * k` and typically by about
`b/2 * sqrt(k)`, unbiased.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from core.settings import Settings

K = TypeVar("K", bound=Hashable)

BASIS: Literal["sum_of_shown_cells"] = "sum_of_shown_cells"
METHOD: Literal["keyed_random_rounding"] = "keyed_random_rounding"
# Below 3 an atom rounded to 0 that is not empty could only hold 1: nothing would be hidden.
MIN_BASE = 3
_KEY_CONTEXT = b"khaibao.publication.rounding.v1"


@dataclass(frozen=True)
class Rounding:
    """Keyed random rounding of atoms to multiples of `base`."""

    key: bytes = field(repr=False)
    base: int

    def __post_init__(self) -> None:
        if self.base < MIN_BASE:
            raise ValueError(f"rounding base must be at least {MIN_BASE}")

    @classmethod
    def from_secret(cls, secret: str, base: int) -> Rounding:
        """A rounding key derived from a service secret, separate from its other uses."""
        return cls(hmac.new(secret.encode(), _KEY_CONTEXT, hashlib.sha256).digest(), base)

    def offset(self, atom: str) -> int:
        digest = hmac.new(self.key, atom.encode(), hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") % self.base

    def publish(self, atom: str, count: int) -> int:
        """The atom's published count: a multiple of `base`, 0 for an empty atom."""
        if count <= 0:
            return 0
        return self.base * ((count + self.offset(atom)) // self.base)

    @property
    def fingerprint(self) -> str:
        """Names this key and base in stored summaries, so a change rebuilds them."""
        digest = hmac.new(self.key, b"fingerprint", hashlib.sha256).hexdigest()[:16]
        return f"{self.base}:{digest}"


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
    published: Mapping[K, int], threshold: int, order: Iterable[K] | None = None
) -> tuple[list[Cell[K]], Total]:
    """Cells in `order` (default: the mapping's order) from published (already rounded)
    counts, those below the threshold hidden, and the total of the shown cells. The mapping
    holds the non-empty cells only, a cell rounded to 0 included."""
    cells: list[Cell[K]] = []
    shown_total = shown = hidden = 0
    for key in order if order is not None else published:
        count = published[key]
        if count < threshold:
            cells.append(Cell(key, None, True))
            hidden += 1
        else:
            cells.append(Cell(key, count, False))
            shown_total += count
            shown += 1
    return cells, Total(count=shown_total, shown_cells=shown, suppressed_cells=hidden)


def rounding_for(settings: Settings) -> Rounding:
    """The service's rounding: base = the small-cell threshold (at least 3), keyed by
    `KHAIBAO_PUBLICATION_KEY`, or by a key derived from `KHAIBAO_SECRET_KEY` without it."""
    key = settings.publication_key or settings.secret_key
    return Rounding.from_secret(
        key.get_secret_value(), max(settings.small_cell_threshold, MIN_BASE)
    )
