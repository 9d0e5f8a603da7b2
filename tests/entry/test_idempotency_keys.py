"""The Idempotency-Key a border declaration takes is the one its refusal describes, in each
of the form's eight languages (the message said "8 to 64 letters, digits, - or _" while the
service took 1 to 128 of A-Z a-z 0-9 _ - : .)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from core.idempotency import IDEMPOTENCY_KEY_PATTERN
from entry.i18n import LANGUAGES
from tests.entry.conftest import family, submit


def _rule_of_the_pattern() -> tuple[list[str], set[str]]:
    """What the server's pattern accepts, read from the pattern itself: the ranges and
    characters of its one class, and its two length bounds."""
    shape = re.fullmatch(r"\^\[(.+)\]\{([0-9]+),([0-9]+)\}\$", IDEMPOTENCY_KEY_PATTERN)
    assert shape is not None, IDEMPOTENCY_KEY_PATTERN
    characters = ["".join(part) for part in re.findall(r"\\(.)|(.-.)|(.)", shape.group(1))]
    return characters, {shape.group(2), shape.group(3)}


def _one_traveller(passport: str) -> dict[str, Any]:
    body = family(companions=[])
    body["traveller"]["passport_number"] = passport
    return body


class TestTheKeyRule:
    async def test_every_language_states_the_pattern_the_server_checks(
        self, client: httpx.AsyncClient
    ) -> None:
        characters, bounds = _rule_of_the_pattern()
        for lang in LANGUAGES:
            refused = await submit(client, family(), key="not a key", lang=lang)
            assert refused.status_code == 400
            assert refused.json()["code"] == "idempotency_key_invalid"
            detail = refused.json()["detail"]
            for character in characters:
                assert character in detail, (lang, character, detail)
            # Every number it states (the digits of "0-9" aside) is a bound of the pattern.
            assert set(re.findall(r"(?<![0-9-])[0-9]+(?![0-9-])", detail)) == bounds, (
                lang,
                detail,
            )

    async def test_the_stated_rule_in_vietnamese_english_and_korean(
        self, client: httpx.AsyncClient
    ) -> None:
        for lang, detail in (
            ("vi", "Idempotency-Key chỉ gồm các ký tự A-Z a-z 0-9 _ - : ., dài 1 đến 128 ký tự."),
            ("en", "The Idempotency-Key may hold only A-Z a-z 0-9 _ - : ., 1 to 128 characters."),
            ("ko", "Idempotency-Key는 A-Z a-z 0-9 _ - : .만 쓸 수 있으며 1~128자입니다."),
        ):
            refused = await submit(client, family(), key="k" * 129, lang=lang)
            assert (refused.status_code, refused.json()["detail"]) == (400, detail), lang

    async def test_keys_the_message_allows_are_taken(self, client: httpx.AsyncClient) -> None:
        for n, key in enumerate(("abc", "a:b.c-d_e1", "K" * 128, "Z")):
            taken = await submit(client, _one_traveller(f"M5550000{n}"), key=key, lang="vi")
            assert taken.status_code == 201, (key, taken.text)
        for key in ("k" * 129, "a/b", "a+b"):
            refused = await submit(client, _one_traveller("M55500009"), key=key, lang="vi")
            assert refused.status_code == 400, key
            assert refused.json()["code"] == "idempotency_key_invalid"
