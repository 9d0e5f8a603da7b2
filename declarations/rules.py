"""Status rules, read from a TOML file the ministry edits (see `rules.default.toml`).

The condition language is a fixed set of named tests (`symptoms_any`, `exposure_any`, ...)
whose arguments are checked when the file is loaded: nothing in the file is evaluated as
code, and a mistake is reported at start-up naming the rule and the condition.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, get_args

from core.context import Context
from core.i18n import LANGUAGES, MORE_LANGUAGES, Text
from core.settings import Settings
from declarations.acceptance import AcceptancePolicy, parse_acceptance
from declarations.checkpoint_policy import parse_checkpoints
from declarations.fields import COUNTRIES, HOME_COUNTRY, province_exists
from declarations.monitoring_policy import MonitoringPolicy, parse_monitoring
from declarations.rule_values import flag, whole, words
from declarations.schemas import (
    CHRONIC_CONDITIONS,
    EXPOSURES,
    DeclarationIn,
)
from people.repository import SEVERITY, Status
from people.vocabulary import ENTRY_SYMPTOMS

DEFAULT_RULES_PATH = Path(__file__).with_name("rules.default.toml")
STATUSES: tuple[Status, ...] = get_args(Status)
_MAX_RULES = 200
_MAX_TEXT = 300
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# The forms a rule can apply to; a rule without `applies_to` applies to both.
FORMS = frozenset({"declaration", "entry"})


class RulesError(Exception):
    """The rules file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Facts:
    """What the conditions look at, taken from one declaration."""

    symptoms: frozenset[str]
    exposures: frozenset[str]
    chronic_conditions: frozenset[str]
    countries: frozenset[str]
    trip_provinces: frozenset[int]
    home_province: int
    pregnant: bool
    age: int
    # Which form the facts come from: a rule may apply to one only (`applies_to`).
    form: str = "declaration"

    @classmethod
    def of(cls, declaration: DeclarationIn, *, today: date) -> Facts:
        exposure = declaration.exposure.model_dump()
        trips = declaration.travel.domestic
        return cls(
            symptoms=frozenset(declaration.symptoms),
            exposures=frozenset(name for name, answer in exposure.items() if answer),
            chronic_conditions=frozenset(declaration.chronic_conditions),
            countries=frozenset(declaration.travel.countries),
            trip_provinces=frozenset(
                [t.from_province for t in trips] + [t.to_province for t in trips]
            ),
            home_province=declaration.address.province,
            pregnant=declaration.pregnant,
            age=today.year - declaration.person.birth_year,
        )


Test = Callable[[Facts], bool]


@dataclass(frozen=True)
class Reason:
    code: str
    status: Status
    en: str
    vi: str
    # The entry form's other languages, where the file gives them (`reason.ko`, ...).
    more: tuple[tuple[str, str], ...] = ()

    def text(self, lang: str) -> str:
        return Text(self.en, self.vi, self.more).pick(lang)

    def to_document(self) -> dict[str, str]:
        return {"code": self.code, "status": self.status, "en": self.en, "vi": self.vi}


@dataclass(frozen=True)
class Rule:
    reason: Reason
    tests: tuple[Test, ...] = field(repr=False)
    forms: frozenset[str] = FORMS
    # The conditions as the file writes them, for `GET /v1/rules`.
    conditions: Mapping[str, Any] = field(default_factory=dict)

    def holds(self, facts: Facts) -> bool:
        return facts.form in self.forms and all(test(facts) for test in self.tests)


@dataclass(frozen=True)
class Outcome:
    status: Status
    reasons: tuple[Reason, ...]
    rules_version: str


@dataclass(frozen=True)
class RuleSet:
    version: str
    rules: tuple[Rule, ...]
    default: Reason
    # How certificates from abroad are judged at checkpoints (`[certificates]`).
    certificates: AcceptancePolicy = field(default_factory=AcceptancePolicy)
    # How medical monitoring runs (`[monitoring]`): days, fever threshold, reminders.
    monitoring: MonitoringPolicy = field(default_factory=MonitoringPolicy)
    # Countries the ministry counts as affected (`affected_countries` in the file).
    affected_countries: frozenset[str] = frozenset()
    # The statuses a checkpoint lets in (`[checkpoints] allow`); every other is denied.
    checkpoint_allows: frozenset[Status] = frozenset({"green"})

    def evaluate(self, declaration: DeclarationIn, *, today: date) -> Outcome:
        return self.judge(Facts.of(declaration, today=today))

    def judge(self, facts: Facts) -> Outcome:
        """The outcome for facts from any form (a declaration, an entry declaration)."""
        matched = tuple(rule.reason for rule in self.rules if rule.holds(facts))
        if not matched:
            return Outcome(self.default.status, (self.default,), self.version)
        worst = max(matched, key=lambda reason: SEVERITY[reason.status])
        return Outcome(worst.status, matched, self.version)


# -- the condition language -----------------------------------------------------------------


def _provinces(value: Any) -> frozenset[int]:
    if not isinstance(value, list) or not value:
        raise ValueError("must be a non-empty list of province codes")
    codes = [whole(v, 1, 99) for v in value]
    unknown = sorted(c for c in codes if not province_exists(c))
    if unknown:
        raise ValueError(f"unknown province codes {unknown}")
    return frozenset(codes)


def _symptoms_any(value: Any) -> Test:
    wanted = words(value, ENTRY_SYMPTOMS, "symptoms")
    return lambda facts: bool(facts.symptoms & wanted)


def _min_symptoms(value: Any) -> Test:
    least = whole(value, 1, len(ENTRY_SYMPTOMS))
    return lambda facts: len(facts.symptoms) >= least


def _exposure_any(value: Any) -> Test:
    wanted = words(value, EXPOSURES, "exposure answers")
    return lambda facts: bool(facts.exposures & wanted)


def _chronic_any(value: Any) -> Test:
    wanted = words(value, CHRONIC_CONDITIONS, "chronic conditions")
    return lambda facts: bool(facts.chronic_conditions & wanted)


def _pregnant(value: Any) -> Test:
    wanted = flag(value)
    return lambda facts: facts.pregnant == wanted


def _abroad(value: Any) -> Test:
    wanted = flag(value)
    return lambda facts: bool(facts.countries - {HOME_COUNTRY}) == wanted


def _countries_any(value: Any) -> Test:
    wanted = words(value, tuple(sorted(COUNTRIES)), "country codes")
    return lambda facts: bool(facts.countries & wanted)


def _trip_provinces_any(value: Any) -> Test:
    wanted = _provinces(value)
    return lambda facts: bool(facts.trip_provinces & wanted)


def _home_provinces_any(value: Any) -> Test:
    wanted = _provinces(value)
    return lambda facts: facts.home_province in wanted


def _age_min(value: Any) -> Test:
    least = whole(value, 0, 150)
    return lambda facts: facts.age >= least


def _age_max(value: Any) -> Test:
    most = whole(value, 0, 150)
    return lambda facts: facts.age <= most


CONDITIONS: Mapping[str, Callable[[Any], Test]] = {
    "symptoms_any": _symptoms_any,
    "min_symptoms": _min_symptoms,
    "exposure_any": _exposure_any,
    "chronic_any": _chronic_any,
    "pregnant": _pregnant,
    "abroad": _abroad,
    "countries_any": _countries_any,
    "trip_provinces_any": _trip_provinces_any,
    "home_provinces_any": _home_provinces_any,
    "age_min": _age_min,
    "age_max": _age_max,
}
_RULE_KEYS = frozenset({"code", "status", "reason", "applies_to"})


# -- loading --------------------------------------------------------------------------------


def _reason(table: Mapping[str, Any], where: str) -> Reason:
    code = table.get("code")
    if not isinstance(code, str) or not _CODE.match(code):
        raise RulesError(f"{where}: `code` must be 1-64 of a-z, 0-9 and _, starting with a letter")
    status = table.get("status")
    if status not in STATUSES:
        raise RulesError(f"{where}: `status` must be one of {', '.join(STATUSES)}")
    texts = table.get("reason")
    if not isinstance(texts, dict) or not {"en", "vi"} <= set(texts) <= set(LANGUAGES):
        known = ", ".join(f"`reason.{lang}`" for lang in LANGUAGES)
        raise RulesError(f"{where}: `reason` needs `reason.en` and `reason.vi`; known: {known}")
    for lang, text in texts.items():
        if not isinstance(text, str) or not text.strip() or len(text) > _MAX_TEXT:
            raise RulesError(f"{where}: `reason.{lang}` must be text of 1-{_MAX_TEXT} characters")
    more = tuple((lang, texts[lang].strip()) for lang in MORE_LANGUAGES if lang in texts)
    return Reason(code, status, texts["en"].strip(), texts["vi"].strip(), more)


def _forms(value: Any) -> frozenset[str]:
    return words(value, tuple(sorted(FORMS)), "forms")


def _from_affected_country(value: Any, affected: frozenset[str]) -> Test:
    wanted = flag(value)
    return lambda facts: bool(facts.countries & affected) == wanted


def _rule(table: Any, number: int, affected: frozenset[str] = frozenset()) -> Rule:
    where = f"rule {number}"
    if not isinstance(table, dict):
        raise RulesError(f"{where}: must be a table under [[rules]]")
    if isinstance(table.get("code"), str):
        where += f" ({table['code']!r})"
    reason = _reason(table, where)
    conditions = {k: v for k, v in table.items() if k not in _RULE_KEYS}
    if not conditions:
        raise RulesError(f"{where}: has no conditions; known: {', '.join(CONDITIONS)}")
    tests: list[Test] = []
    known = ", ".join([*CONDITIONS, "from_affected_country"])
    try:
        forms = _forms(table["applies_to"]) if "applies_to" in table else FORMS
    except ValueError as exc:
        raise RulesError(f"{where}: `applies_to` {exc}") from None
    for name, value in conditions.items():
        build = CONDITIONS.get(name)
        if build is None and name != "from_affected_country":
            raise RulesError(f"{where}: unknown condition {name!r}; known: {known}")
        try:
            if build is None:  # reads the file's own `affected_countries` list
                tests.append(_from_affected_country(value, affected))
            else:
                tests.append(build(value))
        except ValueError as exc:
            raise RulesError(f"{where}: `{name}` {exc}") from None
    return Rule(reason=reason, tests=tuple(tests), forms=forms, conditions=conditions)


def parse_rules(text: str, *, source: str = "rules") -> RuleSet:
    """A RuleSet from TOML text, or RulesError with a message an editor can act on."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{source}: not valid TOML: {exc}") from None
    try:
        known = {
            "version",
            "default",
            "rules",
            "certificates",
            "monitoring",
            "affected_countries",
            "checkpoints",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise RulesError(f"unknown top-level keys {unknown}")
        version = data.get("version")
        if not isinstance(version, str) or not version.strip() or len(version) > 64:
            raise RulesError("`version` must be text of 1-64 characters")
        default_table = data.get("default")
        if not isinstance(default_table, dict):
            raise RulesError("a [default] table is required")
        extra = sorted(set(default_table) - _RULE_KEYS)
        if extra:
            raise RulesError(f"[default]: takes no conditions, found {extra}")
        default = _reason(default_table, "[default]")
        tables = data.get("rules", [])
        if not isinstance(tables, list) or len(tables) > _MAX_RULES:
            raise RulesError(f"`rules` must be at most {_MAX_RULES} [[rules]] tables")
        try:
            raw_affected = data.get("affected_countries", [])
            affected = (
                words(raw_affected, tuple(sorted(COUNTRIES)), "country codes")
                if raw_affected
                else frozenset[str]()
            )
        except ValueError as exc:
            raise RulesError(f"`affected_countries` {exc}") from None
        rules = tuple(
            _rule(table, number, affected) for number, table in enumerate(tables, start=1)
        )
        codes = [rule.reason.code for rule in rules] + [default.code]
        repeated = sorted({code for code in codes if codes.count(code) > 1})
        if repeated:
            raise RulesError(f"rule codes must be unique; repeated: {repeated}")
        try:
            certificates = parse_acceptance(data.get("certificates", {}))
            monitoring = parse_monitoring(data.get("monitoring", {}))
            checkpoint_allows = parse_checkpoints(data.get("checkpoints", {}))
        except ValueError as exc:
            raise RulesError(str(exc)) from None
    except RulesError as exc:
        raise RulesError(f"{source}: {exc}") from None
    return RuleSet(
        version=version.strip(),
        rules=rules,
        default=default,
        certificates=certificates,
        monitoring=monitoring,
        affected_countries=affected,
        checkpoint_allows=checkpoint_allows,
    )


def load_rules(path: Path) -> RuleSet:
    """A rules file, read and checked."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"{path}: cannot read the rules file ({exc})") from None
    return parse_rules(text, source=str(path))


def read_rules(settings: Settings) -> RuleSet:
    """The rules file the settings name (the default one without), read and checked."""
    return load_rules(settings.rules_path or DEFAULT_RULES_PATH)


class LoadedRules:
    """The rules a context works by, read once (at start-up: `declarations.router` checks
    them there), so edits take effect on restart."""

    def __init__(self) -> None:
        self.rules: RuleSet | None = None


def rules_for(ctx: Context) -> RuleSet:
    loaded = ctx.caches.of(LoadedRules)
    if loaded.rules is None:
        loaded.rules = read_rules(ctx.settings)
    return loaded.rules
