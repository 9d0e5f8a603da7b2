"""`GET /v1/entry/form`: the form's fields with labels, help texts and choices in one
language, so an app or a web page renders it without translations of its own.

The field list is derived from the request model (`EntryDeclarationIn`), so a field added to
the model cannot be missing from the form; each field's words come from `i18n/<lang>.json`.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson

from entry.i18n import LANGUAGES, catalogue
from entry.schemas import MAX_COMPANIONS, TRANSPORT_MODES
from people.vocabulary import ENTRY_SYMPTOMS

GENDERS = ("male", "female", "other")

# (section, path in the body, i18n key, input type, required, extra facts)
_FIELDS: tuple[tuple[str, str, str, str, bool, dict[str, Any]], ...] = (
    ("traveller", "traveller.full_name", "full_name", "text", True, {"max_length": 100}),
    (
        "traveller",
        "traveller.passport_number",
        "passport_number",
        "text",
        True,
        {"pattern": "^[A-Z0-9]{6,12}$"},
    ),
    ("traveller", "traveller.nationality", "nationality", "country", True, {}),
    ("traveller", "traveller.birth_year", "birth_year", "year", True, {"min": 1900}),
    ("traveller", "traveller.gender", "gender", "choice", True, {}),
    ("traveller", "traveller.phone", "phone", "phone", False, {}),
    ("traveller", "traveller.email", "email", "email", False, {}),
    ("companions", "companions[].full_name", "full_name", "text", True, {"max_length": 100}),
    (
        "companions",
        "companions[].passport_number",
        "passport_number",
        "text",
        True,
        {"pattern": "^[A-Z0-9]{6,12}$"},
    ),
    ("companions", "companions[].nationality", "nationality", "country", True, {}),
    ("companions", "companions[].birth_year", "birth_year", "year", True, {"min": 1900}),
    ("companions", "companions[].gender", "gender", "choice", True, {}),
    (
        "trip",
        "trip.point_of_entry",
        "point_of_entry",
        "point_of_entry",
        True,
        {"choices_from": "/v1/entry/points"},
    ),
    ("trip", "trip.arrival_date", "arrival_date", "date", True, {}),
    ("trip", "trip.transport.mode", "transport.mode", "choice", True, {}),
    ("trip", "trip.transport.number", "transport.number", "text", False, {"max_length": 16}),
    ("trip", "trip.transport.seat", "transport.seat", "text", False, {"max_length": 8}),
    ("trip", "trip.departure_country", "departure_country", "country", True, {}),
    ("trip", "trip.transit_countries", "transit_countries", "countries", False, {"max_items": 10}),
    (
        "trip",
        "trip.countries_last_14_days",
        "countries_last_14_days",
        "countries",
        False,
        {"max_items": 30},
    ),
    ("stay", "stay.province", "province", "province", True, {}),
    ("stay", "stay.ward", "ward", "ward", True, {}),
    ("stay", "stay.street", "street", "text", True, {"max_length": 200}),
    ("stay", "stay.until", "until", "date", False, {}),
    ("symptoms", "symptoms", "symptoms", "multichoice", False, {}),
    ("exposure", "exposure.confirmed_case", "exposure.confirmed_case", "yes_no", False, {}),
    ("exposure", "exposure.suspected_case", "exposure.suspected_case", "yes_no", False, {}),
    ("exposure", "exposure.from_affected_area", "exposure.from_affected_area", "yes_no", False, {}),
    (
        "exposure",
        "exposure.symptomatic_contact",
        "exposure.symptomatic_contact",
        "yes_no",
        False,
        {},
    ),
)
_CHOICES = {
    "gender": ("gender", GENDERS),
    "transport.mode": ("transport.mode", TRANSPORT_MODES),
    "symptoms": ("symptoms", ENTRY_SYMPTOMS),
}


@cache
def entry_form_json(lang: str) -> bytes:
    """The form as sent: the same bytes every time, so its tag names them (`web.caching`)."""
    return orjson.dumps(entry_form(lang))


@cache
def entry_form(lang: str) -> dict[str, Any]:
    lang = lang if lang in LANGUAGES else "en"
    texts = catalogue(lang)
    sections: dict[str, dict[str, Any]] = {}
    for section, path, key, kind, required, extra in _FIELDS:
        label, help_text = texts["fields"][key]
        field: dict[str, Any] = {
            "name": path,
            "type": kind,
            "required": required,
            "label": label,
            **({"help": help_text} if help_text else {}),
            **extra,
        }
        if key in _CHOICES:
            group, values = _CHOICES[key]
            field["choices"] = [{"value": v, "label": texts["choices"][group][v]} for v in values]
        elif kind == "yes_no":
            field["choices"] = [
                {"value": value == "true", "label": texts["choices"]["yes_no"][value]}
                for value in ("true", "false")
            ]
        block = sections.setdefault(
            section, {"key": section, "title": texts["sections"][section], "fields": []}
        )
        block["fields"].append(field)
    sections["companions"]["max_items"] = MAX_COMPANIONS
    return {
        "lang": lang,
        "languages": [
            {"code": code, "name": catalogue(code)["language_name"]} for code in LANGUAGES
        ],
        "title": texts["title"],
        "intro": texts["intro"],
        "submit": texts["submit"],
        "sections": list(sections.values()),
    }
