"""How a 429 says how long to wait: in words a person reads, rounded up, so it never tells
them to come back sooner than `Retry-After` does."""

from __future__ import annotations

import pytest

from core.errors import RateLimited
from core.i18n import Text
from declarations.errors import TOO_OFTEN


class TestGenericRefusal:
    @pytest.mark.parametrize(
        ("seconds", "en", "vi"),
        [
            (1, "Wait a moment and try again.", "Vui lòng đợi một lát rồi thử lại."),
            (59, "Wait a moment and try again.", "Vui lòng đợi một lát rồi thử lại."),
            (60, "Try again in 1 minute.", "Vui lòng thử lại sau 1 phút."),
            (61, "Try again in 2 minutes.", "Vui lòng thử lại sau 2 phút."),
            (1396, "Try again in 24 minutes.", "Vui lòng thử lại sau 24 phút."),
            (3600, "Try again in 1 hour.", "Vui lòng thử lại sau 1 giờ."),
            (3601, "Try again in 61 minutes.", "Vui lòng thử lại sau 61 phút."),
            (5400, "Try again in 2 hours.", "Vui lòng thử lại sau 2 giờ."),
            (86_399, "Try again in 24 hours.", "Vui lòng thử lại sau 24 giờ."),
        ],
    )
    def test_the_wait_is_said_in_english_and_vietnamese(
        self, seconds: int, en: str, vi: str
    ) -> None:
        refusal = RateLimited(seconds)
        assert (refusal.detail.pick("en"), refusal.detail.pick("vi")) == (en, vi)
        assert refusal.headers["Retry-After"] == str(seconds)

    def test_the_entry_forms_languages_say_it_too(self) -> None:
        refusal = RateLimited(1396)
        assert refusal.detail.pick("fr") == "Réessayez dans 24 minutes."
        assert refusal.detail.pick("zh") == "请24分钟后再试。"
        for lang in ("ja", "ko", "ru", "th"):
            said = refusal.detail.pick(lang)
            assert "24" in said
            assert "{" not in said
            assert said != refusal.detail.pick("en")


class TestOwnWords:
    def test_a_limit_with_its_own_words_fills_in_the_wait(self) -> None:
        refusal = RateLimited(1396, TOO_OFTEN["account"])
        assert refusal.detail.pick("en").endswith("Try again in 24 minutes.")
        assert refusal.detail.pick("vi").endswith("Vui lòng thử lại sau 24 phút.")

    def test_words_without_a_wait_are_kept(self) -> None:
        tomorrow = Text("Try again tomorrow.", "Vui lòng thử lại vào ngày mai.")
        refusal = RateLimited(40_000, tomorrow)
        assert refusal.detail == tomorrow
