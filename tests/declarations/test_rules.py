"""Status rules: the default file judged case by case, a ministry's edited file taking
effect without code changes, and a broken file stopping start-up."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from core.settings import Settings
from declarations.rules import DEFAULT_RULES_PATH, RulesError, load_rules, parse_rules
from declarations.schemas import DeclarationIn
from tests.conftest import make_settings, sign_in_citizen
from tests.declarations.conftest import declaration, declare

TODAY = date(2026, 11, 23)
NO = {"confirmed_case": False, "suspected_case": False}
NO |= {"from_affected_area": False, "symptomatic_contact": False}


def form(**overrides: Any) -> DeclarationIn:
    body = declaration(**overrides)
    body["travel"]["domestic"] = []
    return DeclarationIn.model_validate(body, context={"today": TODAY})


def exposed(**answers: bool) -> dict[str, bool]:
    return {**NO, **answers}


DEFAULT_CASES = [
    ("nothing to report", {}, "green", ["no_risk"]),
    ("a domestic trip is not a risk by itself", {"travel": {"domestic": []}}, "green", ["no_risk"]),
    ("one symptom", {"symptoms": ["fatigue"]}, "yellow", ["symptoms"]),
    (
        "confirmed case contact",
        {"exposure": exposed(confirmed_case=True)},
        "red",
        ["confirmed_case_contact"],
    ),
    (
        "fever with a symptomatic contact",
        {"symptoms": ["fever"], "exposure": exposed(symptomatic_contact=True)},
        "red",
        ["symptoms_with_exposure", "symptoms", "possible_exposure"],
    ),
    (
        "fever and a confirmed case",
        {"symptoms": ["fever"], "exposure": exposed(confirmed_case=True)},
        "red",
        ["confirmed_case_contact", "symptoms_with_exposure", "symptoms"],
    ),
    (
        "sore throat with exposure is not in the red list",
        {"symptoms": ["sore_throat"], "exposure": exposed(from_affected_area=True)},
        "yellow",
        ["symptoms", "possible_exposure"],
    ),
    ("suspected case", {"exposure": exposed(suspected_case=True)}, "yellow", ["possible_exposure"]),
    (
        "travel abroad",
        {"travel": {"countries": ["SG"], "domestic": []}},
        "yellow",
        ["travel_abroad"],
    ),
    (
        "Vietnam is not abroad",
        {"travel": {"countries": ["VN"], "domestic": []}},
        "green",
        ["no_risk"],
    ),
    ("chronic conditions alone", {"chronic_conditions": ["diabetes"]}, "green", ["no_risk"]),
]


class TestDefaultRules:
    @pytest.mark.parametrize(
        ("overrides", "status", "codes"),
        [case[1:] for case in DEFAULT_CASES],
        ids=[case[0] for case in DEFAULT_CASES],
    )
    def test_outcome(self, overrides: dict[str, Any], status: str, codes: list[str]) -> None:
        outcome = load_rules(DEFAULT_RULES_PATH).evaluate(form(**overrides), today=TODAY)
        assert outcome.status == status
        assert [r.code for r in outcome.reasons] == codes
        assert all(r.en and r.vi for r in outcome.reasons)

    def test_every_reason_is_in_both_languages(self) -> None:
        rules = load_rules(DEFAULT_RULES_PATH)
        for reason in [rules.default, *(rule.reason for rule in rules.rules)]:
            assert reason.en.strip()
            assert reason.vi.strip()
            assert reason.en != reason.vi


MINISTRY_RULES = """
version = "hanoi-2026-12"

[default]
code = "clear"
status = "green"
reason.en = "Clear."
reason.vi = "Bình thường."

[[rules]]
code = "fatigue_elderly"
status = "red"
reason.en = "Fatigue at 60 or older."
reason.vi = "Mệt mỏi ở người từ 60 tuổi."
symptoms_any = ["fatigue"]
age_min = 60

[[rules]]
code = "from_hcmc"
status = "yellow"
reason.en = "Came from Ho Chi Minh City."
reason.vi = "Đến từ TP. Hồ Chí Minh."
trip_provinces_any = [79]
"""


class TestMinistryRulesFile:
    async def test_an_edited_file_changes_the_outcome_and_is_recorded(
        self, tmp_path: Path, database_url: str
    ) -> None:
        rules_file = tmp_path / "rules.toml"
        rules_file.write_text(MINISTRY_RULES, encoding="utf-8")
        settings = make_settings(database_url, rules_path=rules_file)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            ctx = app.state.context
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                citizen = await sign_in_citizen(client)
                body = declaration(symptoms=["fatigue"])
                body["person"]["birth_year"] = 1950
                answer = await declare(client, citizen, body, "elderly")
                assert answer.status_code == 201, answer.text
                assert answer.json()["status"] == "red"
                assert [r["code"] for r in answer.json()["reasons"]] == [
                    "fatigue_elderly",
                    "from_hcmc",
                ]
                stored = await ctx.store.get("declarations", answer.json()["id"])
                assert stored["rules_version"] == "hanoi-2026-12"
                read = await client.get(f"/v1/declarations/{stored['_id']}", headers=citizen)
                assert read.json()["rules_version"] == "hanoi-2026-12"

    async def test_an_edited_file_takes_effect_on_restart(
        self, tmp_path: Path, database_url: str
    ) -> None:
        rules_file = tmp_path / "rules.toml"
        rules_file.write_text(MINISTRY_RULES, encoding="utf-8")
        settings = make_settings(database_url, rules_path=rules_file)
        published = []
        for version in ("hanoi-2026-12", "hanoi-2026-12b"):
            edited = MINISTRY_RULES.replace('version = "hanoi-2026-12"', f'version = "{version}"')
            rules_file.write_text(edited, encoding="utf-8")
            app = create_app(settings)  # a restart: a new app with the same settings
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                    published.append((await client.get("/v1/rules")).json()["version"])
        assert published == ["hanoi-2026-12", "hanoi-2026-12b"]

    async def test_the_default_version_is_stored(
        self, client: httpx.AsyncClient, citizen: dict[str, str], settings: Settings
    ) -> None:
        answer = await declare(client, citizen, declaration(), "v")
        read = await client.get(f"/v1/declarations/{answer.json()['id']}", headers=citizen)
        assert read.json()["rules_version"] == load_rules(DEFAULT_RULES_PATH).version

    async def test_a_broken_file_stops_start_up_naming_the_mistake(
        self, tmp_path: Path, database_url: str
    ) -> None:
        rules_file = tmp_path / "rules.toml"
        rules_file.write_text(
            MINISTRY_RULES.replace('symptoms_any = ["fatigue"]', 'symptom_any = ["fatigue"]'),
            encoding="utf-8",
        )
        app = create_app(make_settings(database_url, rules_path=rules_file))
        with pytest.raises(RulesError, match=r"rule 1 \('fatigue_elderly'\): unknown condition"):
            async with app.router.lifespan_context(app):
                pass

    async def test_a_missing_file_stops_start_up(self, tmp_path: Path, database_url: str) -> None:
        app = create_app(make_settings(database_url, rules_path=tmp_path / "nope.toml"))
        with pytest.raises(RulesError, match="cannot read the rules file"):
            async with app.router.lifespan_context(app):
                pass


def rules_with(rule: str) -> str:
    head = MINISTRY_RULES.split("[[rules]]")[0]
    return head + "[[rules]]\n" + rule


class TestRulesFileChecks:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("version = ", "not valid TOML"),
            (MINISTRY_RULES.replace('version = "hanoi-2026-12"', ""), "`version`"),
            (MINISTRY_RULES.replace("[default]", "[fallback]"), "unknown top-level keys"),
            (
                rules_with('code = "x"\nstatus = "purple"\nreason.en = "a"\nreason.vi = "b"\n'),
                "`status` must be one of",
            ),
            (
                rules_with('code = "x"\nstatus = "red"\nreason.en = "a"\nabroad = true\n'),
                "reason.vi",
            ),
            (
                rules_with('code = "x"\nstatus = "red"\nreason.en = "a"\nreason.vi = "b"\n'),
                "has no conditions",
            ),
            (
                rules_with(
                    'code = "x"\nstatus = "red"\nreason.en = "a"\nreason.vi = "b"\n'
                    'symptoms_any = ["headache"]\n'
                ),
                r"unknown symptoms \['headache'\]",
            ),
            (
                rules_with(
                    'code = "x"\nstatus = "red"\nreason.en = "a"\nreason.vi = "b"\n'
                    "trip_provinces_any = [2]\n"
                ),
                "unknown province codes",
            ),
            (
                rules_with(
                    'code = "x"\nstatus = "red"\nreason.en = "a"\nreason.vi = "b"\nabroad = "yes"\n'
                ),
                "`abroad` must be true or false",
            ),
            (
                rules_with(
                    'code = "clear"\nstatus = "red"\nreason.en = "a"\nreason.vi = "b"\n'
                    "abroad = true\n"
                ),
                "repeated",
            ),
            (
                rules_with(
                    'code = "__import__(\'os\')"\nstatus = "red"\nreason.en = "a"\n'
                    'reason.vi = "b"\nabroad = true\n'
                ),
                "`code` must be",
            ),
        ],
    )
    def test_mistake_is_reported(self, text: str, message: str) -> None:
        with pytest.raises(RulesError, match=message):
            parse_rules(text, source="rules.toml")
