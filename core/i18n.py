"""Languages the service speaks, and the translations of its generic messages.

Everything has English and Vietnamese. The entry form speaks six more languages (travellers
arrive from everywhere), so the messages any request can meet — a refused body, a missing
field, a rate limit — are translated into those too: `messages/<lang>.json`, one file per
language, for translators. A message without a translation is answered in English.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

LANGUAGES = ("vi", "en", "zh", "ko", "ja", "ru", "fr", "th")
MORE_LANGUAGES = LANGUAGES[2:]
_FOLDER = Path(__file__).with_name("messages")


def language_of(tag: str) -> str | None:
    """The language of a tag as clients send it, by its primary subtag: `vi-VN` and
    `vi_VN` (the POSIX spelling some HTTP stacks send) are `vi`, `zh-Hans-CN` is `zh`;
    None when the service does not speak it. Accept-Language and `?lang=` both read it."""
    lang = tag.strip().lower().replace("_", "-").split("-", 1)[0]
    return lang if lang in LANGUAGES else None


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

    def fill(self, **values: Text | str) -> Text:
        """Each `{name}` replaced, in every language, by that value (a `Text`: in the same
        language). Values are the service's own words and numbers, never user input."""
        if "{" not in self.en:
            return self

        def filled(lang: str, template: str) -> str:
            for name, value in values.items():
                said = value.pick(lang) if isinstance(value, Text) else value
                template = template.replace("{" + name + "}", said)
            return template

        more = tuple((lang, filled(lang, text)) for lang, text in self.more)
        return Text(filled("en", self.en), filled("vi", self.vi), more)


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


# A wait shorter than this is "a moment"; from it on, in minutes; from `HOURS_FROM`
# minutes (or whole hours), in hours.
MINUTE = 60
HOURS_FROM = 90
_WAITS = {
    "moment": ("in a moment", "sau một lát"),
    "minute": ("in {n} minute", "sau {n} phút"),
    "minutes": ("in {n} minutes", "sau {n} phút"),
    "hour": ("in {n} hour", "sau {n} giờ"),
    "hours": ("in {n} hours", "sau {n} giờ"),
}


def waiting(seconds: int) -> Text:
    """How long until a refused request may be sent again, as people say it ("in 24
    minutes"): rounded up, so it never tells them to come back before `Retry-After` does."""
    minutes = math.ceil(seconds / 60)
    if seconds < MINUTE:
        kind, n = "moment", 0
    elif minutes < HOURS_FROM and minutes % 60:
        kind, n = "minute" if minutes == 1 else "minutes", minutes
    else:
        n = math.ceil(minutes / 60)
        kind = "hour" if n == 1 else "hours"
    en, vi = _WAITS[kind]
    more = tuple((lang, str(_catalogue(lang)["waits"][kind])) for lang in MORE_LANGUAGES)
    return Text(en, vi, more).fill(n=str(n))


def wait_more(part: str) -> tuple[tuple[str, str], ...]:
    """A sentence about a wait (`again`: "Try again {wait}.") beyond en/vi."""
    return tuple((lang, str(_catalogue(lang)["waits"][part])) for lang in MORE_LANGUAGES)
