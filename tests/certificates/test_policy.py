"""The acceptance policy lives in the status rules file the ministry edits: its
`[certificates]` table is read with the rules, and a mistake in it stops start-up with a
message naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from declarations.acceptance import AcceptancePolicy
from declarations.rules import DEFAULT_RULES_PATH, RulesError, parse_rules

DEFAULT_TEXT = DEFAULT_RULES_PATH.read_text(encoding="utf-8")


def edited(old: str, new: str) -> str:
    assert old in DEFAULT_TEXT
    return DEFAULT_TEXT.replace(old, new)


class TestTheRulesFile:
    def test_the_shipped_file_states_the_defaults(self) -> None:
        assert parse_rules(DEFAULT_TEXT).certificates == AcceptancePolicy()

    def test_a_ministry_edit_takes_effect(self, tmp_path: Path) -> None:
        text = edited("test_max_hours_pcr = 72", "test_max_hours_pcr = 24")
        text = text.replace('accept = ["vaccination", "test", "recovery"]', 'accept = ["test"]')
        policy = parse_rules(text).certificates
        assert policy.test_max_hours_pcr == 24
        assert policy.accept == frozenset({"test"})

    def test_a_file_without_the_table_keeps_the_defaults(self) -> None:
        text = DEFAULT_TEXT.split("[certificates]")[0]
        assert parse_rules(text).certificates == AcceptancePolicy()

    @pytest.mark.parametrize(
        ("old", "new", "named"),
        [
            ("recovery_max_days = 180", "recovery_max_days = -1", "recovery_max_days"),
            ("recovery_max_days = 180", "recovery_days = 180", "recovery_days"),
            ('accept = ["vaccination"', 'accept = ["antibodies"', "accept"),
            ("vaccination_complete_series = true", "vaccination_complete_series = 1", "series"),
        ],
    )
    def test_a_mistake_names_the_key(self, old: str, new: str, named: str) -> None:
        with pytest.raises(RulesError, match=named):
            parse_rules(edited(old, new))
