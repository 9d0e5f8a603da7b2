"""Languages the service speaks, and the translations of its generic messages.

Everything has English and Vietnamese. The entry form speaks six more languages (travellers
arrive from everywhere), so the messages any request can meet — a refused body, a missing
field, a rate limit — are translated into those too: `messages/<lang>.json`, one file per
language, for translators. A message without a translation is answered in English.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

LANGUAGES = ("vi", "en", "zh", "ko", "ja", "ru", "fr", "th")
MORE_LANGUAGES = LANGUAGES[2:]
_FOLDER = Path(__file__).with_name("messages")


@dataclass(frozen=True)
class Text:
    """A message in both languages the service speaks, and optionally in more (the entry
    form speaks eight): `more` pairs a language code with its text; any language without a
    text gets English."""

    en: str
    vi: str
    more: tuple[tuple[str, str], ...] = ()

    def pick(self, lang: str) -> str:
        if lang == "vi":
            return self.vi
        for code, text in self.more:
            if code == lang:
                return text
        return self.en


@cache
def _catalogue(lang: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((_FOLDER / f"{lang}.json").read_text(encoding="utf-8"))
    return data


def problem_more(code: str, part: int) -> tuple[tuple[str, str], ...]:
    """A generic problem's title (`part` 0) or detail (1) in the languages beyond en/vi."""
    return tuple((lang, str(_catalogue(lang)["problems"][code][part])) for lang in MORE_LANGUAGES)


def field_more(kind: str) -> tuple[tuple[str, str], ...]:
    """A generic field message (`missing`, `too_long`, …) beyond en/vi."""
    return tuple((lang, str(_catalogue(lang)["fields"][kind])) for lang in MORE_LANGUAGES)
