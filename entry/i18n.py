"""The entry form's eight languages: labels, help texts, choices and error messages, one
JSON file per language under `i18n/` so translators edit text, not code."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from pydantic_core import PydanticCustomError

from core.i18n import LANGUAGES, Text

__all__ = ["LANGUAGES", "catalogue", "invalid", "message", "problem_texts"]
_FOLDER = Path(__file__).with_name("i18n")


@cache
def catalogue(lang: str) -> dict[str, Any]:
    """One language's texts; an unknown language gets English."""
    if lang not in LANGUAGES:
        lang = "en"
    texts: dict[str, Any] = json.loads((_FOLDER / f"{lang}.json").read_text(encoding="utf-8"))
    return texts


@cache
def message(key: str) -> Text:
    """An error message in every language of the form, keyed as in `errors` of the files."""
    return _text(lambda lang: catalogue(lang)["errors"][key])


def _text(lookup: Any) -> Text:
    more = tuple((lang, _first(lookup(lang))) for lang in LANGUAGES if lang not in ("en", "vi"))
    return Text(_first(lookup("en")), _first(lookup("vi")), more=more)


def problem_texts(code: str) -> tuple[Text, Text]:
    """The title and detail of a problem `code` in every language of the form."""
    title = _text(lambda lang: catalogue(lang)["errors"][code][0])
    detail = _text(lambda lang: catalogue(lang)["errors"][code][1])
    return title, detail


def invalid(key: str, field: str | None = None) -> PydanticCustomError:
    """A field error the problem renderer shows in the caller's language. From a check
    across fields (a model validator), `field` names the one to fix."""
    text = message(key)
    context: dict[str, object] = {"reason": text}
    if field is not None:
        context["field"] = field
    return PydanticCustomError("value_error", text.en, context)


def _first(value: Any) -> str:
    return str(value[0] if isinstance(value, list) else value)
