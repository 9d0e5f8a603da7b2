"""The ministry's rules judge entry forms too: where a rule applies, and the list of
affected countries it edits without a deploy."""

from __future__ import annotations

from datetime import date

import pytest

from declarations.rules import DEFAULT_RULES_PATH, Facts, RulesError, parse_rules
from entry.schemas import EntryDeclarationIn
from entry.service import entry_facts
from tests.entry.conftest import family

TODAY = date(2026, 12, 6)


def _facts(**trip: object) -> Facts:
    body = family()
    body["trip"].update(arrival_date=TODAY.isoformat(), **trip)
    body["stay"]["until"] = None
    form = EntryDeclarationIn.model_validate(body, context={"today": TODAY})
    return entry_facts(form, today=TODAY)


def _rules(affected: str = "[]", extra: str = "") -> str:
    text = DEFAULT_RULES_PATH.read_text(encoding="utf-8")
    return text.replace("affected_countries = []", f"affected_countries = {affected}") + extra


def test_travel_abroad_does_not_make_every_arrival_yellow() -> None:
    outcome = parse_rules(_rules()).judge(_facts())
    assert outcome.status == "green"


def test_an_affected_country_on_the_way_makes_an_arrival_yellow() -> None:
    rules = parse_rules(_rules('["TH"]'))
    facts = _facts(departure_country="KR", transit_countries=["TH"])
    assert rules.judge(facts).status == "yellow"


def test_a_rule_can_apply_to_entry_forms_only() -> None:
    extra = (
        '\n[[rules]]\ncode = "long_haul"\nstatus = "red"\nreason.en = "x"\nreason.vi = "x"\n'
        'countries_any = ["KR"]\napplies_to = ["entry"]\n'
    )
    assert parse_rules(_rules(extra=extra)).judge(_facts()).status == "red"


@pytest.mark.parametrize(
    ("affected", "extra", "message"),
    [
        ('["XX"]', "", "affected_countries"),
        (
            "[]",
            '\n[[rules]]\ncode = "a"\nstatus = "red"\nreason.en = "x"\nreason.vi = "x"\n'
            'abroad = true\napplies_to = ["checkpoint"]\n',
            "applies_to",
        ),
    ],
)
def test_mistakes_are_named_at_load(affected: str, extra: str, message: str) -> None:
    with pytest.raises(RulesError, match=message):
        parse_rules(_rules(affected, extra))
