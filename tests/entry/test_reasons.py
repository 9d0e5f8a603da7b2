"""A traveller reads why they were assessed as they were in the language they declared in:
the rules file may write each reason in the entry form's eight languages."""

from __future__ import annotations

import httpx
import pytest

from declarations.rules import DEFAULT_RULES_PATH, RulesError, parse_rules
from tests.entry.conftest import family, submit

DEFAULT_TEXT = DEFAULT_RULES_PATH.read_text("utf-8")


class TestReasonsInTheFormsLanguage:
    @pytest.mark.parametrize(
        ("lang", "message"),
        [
            ("ko", "추적 관찰이 필요한 증상, 접촉 또는 여행이 없습니다."),
            ("th", "ไม่มีอาการ การสัมผัส หรือการเดินทางที่ต้องติดตาม"),
            ("vi", "Không có triệu chứng, tiếp xúc hay di chuyển cần theo dõi."),
            ("de", "No symptoms, exposure or travel that needs follow-up."),
        ],
    )
    async def test_a_green_arrival_reads_its_reason_in_its_language(
        self, client: httpx.AsyncClient, lang: str, message: str
    ) -> None:
        declared = await submit(client, family(), lang=lang)
        assert declared.status_code == 201, declared.text
        assert [r["message"] for r in declared.json()["reasons"]] == [message]

    async def test_a_referred_arrival_reads_why_in_japanese(
        self, client: httpx.AsyncClient
    ) -> None:
        declared = await submit(client, family(symptoms=["fever"]), lang="ja")
        assert declared.status_code == 201, declared.text
        messages = {r["code"]: r["message"] for r in declared.json()["reasons"]}
        assert messages["symptoms"] == "過去14日以内に症状がありました。"


class TestTheFile:
    def test_every_reason_an_arrival_can_get_speaks_all_eight_languages(self) -> None:
        rules = parse_rules(DEFAULT_TEXT)
        for reason in [rules.default, *(r.reason for r in rules.rules if "entry" in r.forms)]:
            assert {lang for lang, _ in reason.more} == {"zh", "ko", "ja", "ru", "fr", "th"}

    def test_a_language_the_form_does_not_speak_stops_start_up(self) -> None:
        text = DEFAULT_TEXT.replace(
            'reason.th = "ไม่มีอาการ', 'reason.de = "Keine Symptome."\nreason.th = "ไม่มีอาการ', 1
        )
        with pytest.raises(RulesError, match=r"\[default\]: `reason` needs .*`reason.th`"):
            parse_rules(text)

    def test_english_and_vietnamese_stay_required(self) -> None:
        text = DEFAULT_TEXT.replace(
            'reason.vi = "Không có triệu chứng, tiếp xúc hay di chuyển cần theo dõi."\n', "", 1
        )
        with pytest.raises(RulesError, match=r"needs `reason.en` and `reason.vi`"):
            parse_rules(text)
