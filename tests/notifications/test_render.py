"""Message texts: both languages, one SMS each, no free text."""

from __future__ import annotations

from typing import Any

import pytest

from notifications.render import UnrenderableNotification, is_single_gsm7_sms, render

LONGEST = [
    ("otp", {"code": "12345678", "minutes": 60}),
    ("status_change", {"status": "yellow", "reason_code": "symptoms_with_exposure"}),
    ("status_change", {"status": "red", "reason_code": "confirmed_case"}),
    ("exposure", {"day": "2026-12-31"}),
    ("question_update", {"outcome": "answered"}),
    ("question_update", {"outcome": "rejected"}),
]


class TestSmsTexts:
    @pytest.mark.parametrize("locale", ["vi", "en"])
    @pytest.mark.parametrize(("kind", "params"), LONGEST)
    def test_every_message_fits_one_plain_sms(
        self, kind: str, params: dict[str, Any], locale: str
    ) -> None:
        text = render(kind, locale, params)
        assert is_single_gsm7_sms(text), (len(text), text)

    def test_the_code_and_its_lifetime_are_in_both_languages(self) -> None:
        assert render("otp", "vi", {"code": "123456", "minutes": 5}).startswith(
            "Khaibao: ma xac thuc cua ban la 123456, het han sau 5 phut."
        )
        assert "code is 123456. It expires in 5 minutes." in render(
            "otp", "en", {"code": "123456", "minutes": 5}
        )

    def test_an_unknown_locale_gets_english(self) -> None:
        assert render("exposure", "fr", {"day": "2026-01-02"}) == render(
            "exposure", "en", {"day": "2026-01-02"}
        )

    def test_vietnamese_with_diacritics_would_not_fit_plain_sms(self) -> None:
        assert not is_single_gsm7_sms("Khaibao: mã xác thực 123456")

    @pytest.mark.parametrize(
        ("kind", "params"),
        [
            ("otp", {"code": "<script>", "minutes": 5}),
            ("otp", {"code": "123456", "minutes": "5"}),
            ("status_change", {"status": "purple", "reason_code": "x"}),
            ("exposure", {"day": "yesterday"}),
            ("question_update", {"outcome": "Tôi là Lan, gọi 0912345678"}),
            ("birthday", {}),
        ],
    )
    def test_parameters_of_the_wrong_shape_are_refused(
        self, kind: str, params: dict[str, Any]
    ) -> None:
        with pytest.raises(UnrenderableNotification):
            render(kind, "en", params)
