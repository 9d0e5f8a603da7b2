"""Who sees what: the asker's identity never reaches a responder or the public, a citizen
sees only their own questions, a responder only the questions of their area."""

from __future__ import annotations

import httpx
import orjson
import pytest

from core.context import Context
from tests.questions.conftest import (
    ASKER_PHONE,
    CUA_NAM,
    HANOI,
    HCMC,
    HOAN_KIEM,
    PUBLIC_TEXT,
    area_responder,
    ask,
    assert_problem,
)

_ASKED_FOR_MOTHER = {"public_body": "Tôi khai báo giúp mẹ được không?"}


def _phone_forms(phone: str) -> list[str]:
    national = "0" + phone.removeprefix("+84")
    return [phone, phone.removeprefix("+"), national, phone.removeprefix("+84")]


class TestAskerIdentityStaysPrivate:
    async def test_queue_and_faq_carry_no_asker_and_no_phone(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        asked = await ask(client, citizen)
        queue = await client.get("/v1/questions", headers=responder)
        assert queue.status_code == 200
        (item,) = queue.json()["items"]
        assert "asker" not in item
        assert "locale" not in item
        await client.post(
            f"/v1/questions/{asked['id']}/answer",
            json={"body": "Được.", "publish": True, **PUBLIC_TEXT},
            headers=responder,
        )
        stored = await ctx.store.get("questions", asked["id"])
        assert stored is not None
        public = [
            await client.get("/v1/questions", headers=responder),
            await client.get("/v1/faq"),
            await client.get(f"/v1/faq/{stored['faq_id']}"),
        ]
        for response in public:
            assert response.status_code == 200
            text = response.text
            assert stored["asker"] not in text
            for form in _phone_forms(ASKER_PHONE):
                assert form not in text
        faq = await ctx.store.get("faq", stored["faq_id"])
        assert faq is not None
        assert set(faq) == {"_id", "category", "title", "question", "answer", "published_at"}

    async def test_an_answer_with_a_phone_or_identity_number_is_not_published(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        asked = await ask(client, citizen, body="Tôi là Lan, số 0900 000 001, khai báo giúp mẹ")
        edited = {"publish": True, "public_title": "Khai báo giúp mẹ", **_ASKED_FOR_MOTHER}
        attempts = [
            {**edited, "body": "Gọi lại 0900.000.001"},
            {**edited, "body": "Được.", "public_title": "CCCD 001090012345 của tôi"},
            {**edited, "body": "Được.", "public_body": "Gọi +84 900 000 001 nhé"},
        ]
        for attempt in attempts:
            refused = await client.post(
                f"/v1/questions/{asked['id']}/answer",
                json=attempt,
                headers={**responder, "Accept-Language": "vi"},
            )
            problem = assert_problem(refused, 422)
            assert problem["code"] == "public_text_has_number"
            assert "số điện thoại" in problem["detail"]
        assert await ctx.store.count("faq", {}) == 0
        published = await client.post(
            f"/v1/questions/{asked['id']}/answer",
            json={
                "body": "Được. Gọi đường dây nóng 1900 9095 nếu cần.",
                "publish": True,
                "public_title": "Khai báo giúp mẹ",
                **_ASKED_FOR_MOTHER,
            },
            headers=responder,
        )
        assert published.status_code == 200, published.text
        dumped = orjson.dumps(await ctx.store.find("faq", {})).decode()
        assert "Lan" not in dumped
        # The asker's phone in any of the spellings sent: "0900" alone also matches a stored
        # time whose milliseconds end in 09 ("…13.709000+00:00").
        for phone in ("0900 000 001", "0900.000.001", "0900000001", "900 000 001"):
            assert phone not in dumped


# A phone or identity number in other scripts' digits, as the reviewer sent them and with
# the separators the ASCII guard already allows.
NUMBERS_IN_OTHER_DIGITS = [
    ("full-width", "Số tôi là ０９１２３４５６７８ nhé"),
    ("arabic-indic", "CCCD ٠٠١١٩٠٠١٢٣٤٥"),
    ("persian", "Gọi ۰۹۱۲۳۴۵۶۷۸"),
    ("mathematical bold", "Số 𝟎𝟗𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖 nhé"),
    ("devanagari spaced", "Gọi ०९१२ ३४५ ६७८"),
    ("full-width dotted", "Gọi ０９１２．３４５．６７８"),
    ("arabic-indic dashed", "Gọi ٠٩١٢-٣٤٥-٦٧٨"),
    ("mixed scripts", "Gọi 09١٢３۴5𝟔78"),
    ("zero-width spaces", "Gọi 0912\u200b345\u200b678"),
]


class TestNumbersInAnyScript:
    @pytest.mark.parametrize(
        ("script", "text"), NUMBERS_IN_OTHER_DIGITS, ids=[s for s, _ in NUMBERS_IN_OTHER_DIGITS]
    )
    async def test_a_number_in_other_digits_is_not_published(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
        script: str,
        text: str,
    ) -> None:
        asked = await ask(client, citizen, body=text)
        edited = {"body": "Được.", "publish": True, "public_title": "Khai báo giúp mẹ"}
        attempts = [
            {**edited, "public_body": text + " (biên tập)"},
            {**edited, "body": text, **_ASKED_FOR_MOTHER},
            {**edited, "public_title": "Hỏi: " + text, **_ASKED_FOR_MOTHER},
        ]
        for attempt in attempts:
            refused = await client.post(
                f"/v1/questions/{asked['id']}/answer", json=attempt, headers=responder
            )
            assert assert_problem(refused, 422)["code"] == "public_text_has_number"
        assert await ctx.store.count("faq", {}) == 0
        assert (await client.get("/v1/faq")).json()["items"] == []
        stored = await ctx.store.get("questions", asked["id"])
        assert stored is not None
        assert stored["status"] == "received"

    async def test_a_hotline_in_other_digits_is_still_published(
        self,
        client: httpx.AsyncClient,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        asked = await ask(client, citizen, body="Số đường dây nóng là gì?")
        published = await client.post(
            f"/v1/questions/{asked['id']}/answer",
            json={"body": "Gọi ١٩٠٠ ٩٠٩٥ hoặc １９００９０９５.", "publish": True, **PUBLIC_TEXT},
            headers=responder,
        )
        assert published.status_code == 200, published.text
        (entry,) = (await client.get("/v1/faq")).json()["items"]
        assert entry["answer"] == "Gọi ١٩٠٠ ٩٠٩٥ hoặc １９００９０９５."


class TestCitizensSeeOnlyTheirOwn:
    async def test_mine_lists_only_my_questions(
        self,
        client: httpx.AsyncClient,
        citizen: dict[str, str],
        other_citizen: dict[str, str],
    ) -> None:
        mine = await ask(client, citizen)
        await ask(client, other_citizen, title="Câu hỏi của người khác")
        listed = await client.get("/v1/questions/mine", headers=citizen)
        assert [q["id"] for q in listed.json()["items"]] == [mine["id"]]
        theirs = await client.get("/v1/questions/mine", headers=other_citizen)
        assert [q["title"] for q in theirs.json()["items"]] == ["Câu hỏi của người khác"]

    async def test_a_citizen_cannot_read_the_queue_or_answer(
        self, client: httpx.AsyncClient, citizen: dict[str, str]
    ) -> None:
        asked = await ask(client, citizen)
        assert_problem(await client.get("/v1/questions", headers=citizen), 403)
        answered = await client.post(
            f"/v1/questions/{asked['id']}/answer", json={"body": "x"}, headers=citizen
        )
        assert_problem(answered, 403)
        assert_problem(await client.get("/v1/questions/mine"), 401)


class TestRespondersSeeTheirArea:
    async def test_a_responder_outside_the_area_does_not_see_local_reports(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        responder: dict[str, str],
    ) -> None:
        hoan_kiem = await ask(
            client,
            citizen,
            kind="report",
            category="quarantine",
            title="Vi phạm cách ly",
            body="Nhà số 5 không cách ly",
            province=HANOI,
            ward=HOAN_KIEM,
        )
        cua_nam = await ask(client, citizen, province=HANOI, ward=CUA_NAM)
        national = await ask(client, citizen, title="Câu hỏi chung")
        saigon = await area_responder(ctx, client, HCMC)
        hanoi = await area_responder(ctx, client, HANOI)
        hoan_kiem_only = await area_responder(ctx, client, HANOI, HOAN_KIEM)

        async def seen(headers: dict[str, str], query: str = "") -> set[str]:
            response = await client.get("/v1/questions" + query, headers=headers)
            assert response.status_code == 200, response.text
            return {q["id"] for q in response.json()["items"]}

        assert await seen(saigon) == set()
        assert await seen(saigon, "?q=cach+ly") == set()
        assert await seen(hanoi) == {hoan_kiem["id"], cua_nam["id"]}
        assert await seen(hoan_kiem_only) == {hoan_kiem["id"]}
        assert await seen(hoan_kiem_only, "?q=vi+pham+cach+ly") == {hoan_kiem["id"]}
        assert await seen(responder) == {hoan_kiem["id"], cua_nam["id"], national["id"]}

        # Acting outside the area: the same 404 as for a question that does not exist.
        for target in (hoan_kiem["id"], "qst_doesnotexist"):
            refused = await client.post(
                f"/v1/questions/{target}/reject", json={"reason": "Không rõ"}, headers=saigon
            )
            assert assert_problem(refused, 404)["code"] == "not_found"
        stored = await ctx.store.get("questions", hoan_kiem["id"])
        assert stored is not None
        assert stored["status"] == "received"
