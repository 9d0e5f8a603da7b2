"""How a 429 says how long to wait: in words a person reads, rounded up, so it never tells
them to come back sooner than `Retry-After` does."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from accounts.errors import CodeLocked
from core.clock import VIETNAM
from core.errors import RateLimited
from core.i18n import LANGUAGES, Text
from core.ratelimit import RateLimiter, SqliteCounter
from declarations.errors import TOO_OFTEN
from questions.asking import QuestionLimitReached
from rights.errors import ExportLimitReached


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


class TestDailyLimitsSayTheWait:
    """The daily limits said "Try again tomorrow.", in English only: wrong between midnight
    and 07:00 in Vietnam while the day was UTC's, and English under `fr`."""

    @pytest.mark.parametrize("refusal", [ExportLimitReached, QuestionLimitReached])
    def test_in_every_language_of_the_other_429s(self, refusal: type[RateLimited]) -> None:
        refused = refusal(45_180)
        said = {lang: refused.detail.pick(lang) for lang in LANGUAGES}
        assert said["en"].endswith("Try again in 13 hours.")
        assert said["vi"].endswith("Vui lòng thử lại sau 13 giờ.")
        assert said["fr"].endswith("Réessayez dans 13 heures.")
        assert said["zh"].endswith("请13小时后再试。")
        for lang, text in said.items():
            assert "13" in text, lang
            assert "{" not in text, lang
            assert "tomorrow" not in text
        assert len(set(said.values())) == len(LANGUAGES)


class TestDayWindowsAreVietnamDays:
    """A window of whole days starts at midnight in Vietnam (17:00 UTC), where people
    expect a daily limit to start again; shorter windows are unchanged."""

    async def test_a_day_ends_at_midnight_in_hanoi(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        clock = [datetime(2026, 12, 8, 6, 30, tzinfo=VIETNAM).timestamp()]
        monkeypatch.setattr("core.ratelimit.time.time", lambda: clock[0])
        limiter = RateLimiter(SqliteCounter(tmp_path / "khaibao.ratelimit"))
        try:
            await limiter.hit("daily", limit=1, window_seconds=86_400)
            with pytest.raises(RateLimited) as refused:
                await limiter.hit("daily", limit=1, window_seconds=86_400)
            # 06:30 to midnight: 17 h 30 min (UTC's day would end in 30 minutes).
            assert refused.value.headers["Retry-After"] == str(17 * 3600 + 1800 + 1)
            clock[0] = datetime(2026, 12, 8, 23, 59, 59, tzinfo=VIETNAM).timestamp()
            with pytest.raises(RateLimited):
                await limiter.hit("daily", limit=1, window_seconds=86_400)
            clock[0] = datetime(2026, 12, 9, 0, 0, tzinfo=VIETNAM).timestamp()
            await limiter.hit("daily", limit=1, window_seconds=86_400)
            # An hour's window still starts on the hour.
            attempt = await limiter.attempt("hourly", window_seconds=3600)
            assert attempt.retry_after == 3601
        finally:
            limiter.close()


class TestALockedCode:
    def test_says_request_a_new_code_without_a_wait_in_every_language(self) -> None:
        locked = CodeLocked()
        assert locked.status == 429
        assert "Retry-After" not in (locked.headers or {})
        said = {lang: locked.detail.pick(lang) for lang in LANGUAGES}
        assert said["en"] == "This code is locked after too many wrong tries. Request a new code."
        assert len(set(said.values())) == len(LANGUAGES)
