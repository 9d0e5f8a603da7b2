"""Keyed random rounding of atoms (reports.suppression): the arithmetic the reports and the
map publish through."""

from __future__ import annotations

from statistics import mean

import pytest

from reports.suppression import Rounding, rounding_for, suppress
from tests.conftest import make_settings

ROUNDING = Rounding.from_secret("a test secret", 5)


class TestRounding:
    def test_an_empty_atom_is_zero_and_a_multiple_of_the_base_stays_itself(self) -> None:
        assert ROUNDING.publish("decl|2026-12-01|1|70|green", 0) == 0
        for n in (5, 10, 35):
            assert ROUNDING.publish("decl|2026-12-01|1|70|green", n) == n

    def test_every_count_rounds_to_a_neighbouring_multiple(self) -> None:
        for n in range(1, 60):
            for atom in (f"decl|day|{i}" for i in range(20)):
                published = ROUNDING.publish(atom, n)
                assert published % 5 == 0
                assert published in (5 * (n // 5), 5 * (n // 5) + 5)

    def test_the_same_atom_always_gets_the_same_value(self) -> None:
        again = Rounding.from_secret("a test secret", 5)
        assert all(ROUNDING.publish(f"a{i}", 3) == again.publish(f"a{i}", 3) for i in range(50))

    def test_a_small_count_is_rounded_down_or_up_as_its_size_says(self) -> None:
        """Unbiased: over many atoms, 3 is published as 5 about 3 times in 5."""
        published = [ROUNDING.publish(f"decl|2026-12-01|1|{ward}|red", 3) for ward in range(4000)]
        assert set(published) == {0, 5}
        assert mean(published) == pytest.approx(3, abs=0.15)

    def test_the_key_decides(self) -> None:
        other = Rounding.from_secret("another secret", 5)
        atoms = [f"sym|x|{i}" for i in range(200)]
        assert [ROUNDING.offset(a) for a in atoms] != [other.offset(a) for a in atoms]

    def test_a_base_below_three_would_hide_nothing(self) -> None:
        with pytest.raises(ValueError, match="at least 3"):
            Rounding(b"k", 2)

    def test_the_service_rounds_to_its_threshold_with_its_own_key(self) -> None:
        settings = make_settings("sqlite:///unused.sqlite3")
        assert rounding_for(settings).base == 5
        assert rounding_for(make_settings("sqlite:///u", small_cell_threshold=2)).base == 3
        keyed = make_settings("sqlite:///u", publication_key="publication key of 32 characters")
        assert rounding_for(keyed).fingerprint != rounding_for(settings).fingerprint


class TestSuppress:
    def test_cells_below_the_threshold_are_hidden_and_left_out_of_the_total(self) -> None:
        cells, total = suppress({"a": 10, "b": 0, "c": 5}, 5)
        assert [(c.key, c.count, c.suppressed) for c in cells] == [
            ("a", 10, False),
            ("b", None, True),
            ("c", 5, False),
        ]
        assert (total.count, total.shown_cells, total.suppressed_cells) == (15, 2, 1)
