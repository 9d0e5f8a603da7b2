"""Ids (`core.clock.new_id`): what an operator reading them relies on."""

from __future__ import annotations

import re
import time

import pytest

from core.clock import new_id


def test_an_id_is_its_prefix_and_26_crockford_digits() -> None:
    ids = {new_id("dec") for _ in range(1000)}
    assert len(ids) == 1000  # 80 random bits each
    for made in ids:
        assert re.fullmatch(r"dec_[0-9A-HJKMNP-TV-Z]{26}", made), made


def test_ids_sort_in_the_order_they_were_made(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first 10 digits are the millisecond: later ids sort after earlier ones (B-tree
    inserts at the index's right edge), including across a digit's carry."""
    moments = [0.0, 0.031, 0.032, 1.0, 1_700_000_000.123, 1_700_000_000.124, 2**44 / 1000]
    made = []
    for moment in moments:
        monkeypatch.setattr(time, "time", lambda moment=moment: moment)
        made.append(new_id("x"))
    assert made == sorted(made)
    assert made[0].startswith("x_0000000000")
