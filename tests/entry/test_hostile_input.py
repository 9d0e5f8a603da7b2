"""Hostile and mistaken entry forms: a 4xx problem in the form's language, nothing stored."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import httpx
import pytest

from core.clock import local_day, utcnow
from core.context import Context
from tests.entry.conftest import family, submit


def _fields(answer: httpx.Response) -> dict[str, str]:
    return {e["field"]: e["message"] for e in answer.json().get("errors", [])}


async def _nothing_stored(ctx: Context) -> None:
    assert await ctx.store.count("entry_declarations", {}) == 0
    assert await ctx.store.count("idempotency", {}) == 0


class TestRefusedInTheFormsLanguage:
    async def test_an_unknown_field_is_named_in_korean(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        body = family()
        body["traveller"]["blood_type"] = "A"
        answer = await submit(client, body, lang="ko")
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["title"] == "일부 항목이 올바르지 않습니다"
        assert _fields(answer) == {"traveller.blood_type": "알 수 없는 항목입니다"}
        await _nothing_stored(ctx)

    @pytest.mark.parametrize(
        "passport",
        [
            "M١٢٣٤٥٦٧٨",  # Arabic-Indic digits
            "M１２３４５６７８",  # fullwidth digits
            "M१२३४५६७८",  # Devanagari digits
            "M1234",
            "M12345678'; DROP",
        ],
    )
    async def test_passport_numbers_take_ascii_letters_and_digits_only(
        self, ctx: Context, client: httpx.AsyncClient, passport: str
    ) -> None:
        body = family()
        body["traveller"]["passport_number"] = passport
        answer = await submit(client, body, lang="ja")
        assert answer.status_code == 422
        assert _fields(answer) == {
            "traveller.passport_number": "は英字A-Zと数字0-9の6〜12文字にしてください"
        }
        await _nothing_stored(ctx)

    @pytest.mark.parametrize("days", [400, 8, -15])
    async def test_an_arrival_date_far_from_today_is_refused(
        self, ctx: Context, client: httpx.AsyncClient, days: int
    ) -> None:
        body = family()
        day = local_day(utcnow()) + timedelta(days=days)
        body["trip"]["arrival_date"] = day.isoformat()
        body["stay"]["until"] = None
        answer = await submit(client, body, lang="ru")
        assert answer.status_code == 422
        assert "trip.arrival_date" in _fields(answer)
        assert answer.json()["title"] == "Некоторые поля заполнены неверно"
        await _nothing_stored(ctx)

    async def test_ten_thousand_companions_are_refused_before_reading_them(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        body = family()
        body["companions"] = body["companions"][:1] * 10_000
        answer = await submit(client, body, lang="fr")
        assert answer.status_code == 413
        assert answer.json()["title"] == "Requête trop volumineuse"
        await _nothing_stored(ctx)

    async def test_twenty_one_companions_are_too_many(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        body = family()
        body["companions"] = body["companions"][:1] * 21
        answer = await submit(client, body, lang="th")
        assert answer.status_code == 422
        assert _fields(answer) == {"companions": "ต้องมีไม่เกิน 20 รายการ"}
        await _nothing_stored(ctx)

    @pytest.mark.parametrize(
        ("section", "field", "value"),
        [
            ("stay", "ward", 25747),  # a ward of Hồ Chí Minh City, not of Hà Nội
            ("trip", "departure_country", "XX"),
            ("traveller", "phone", "+82١٠١٢٣٤٥٦٧٨"),
            ("traveller", "birth_year", "1985"),
            ("traveller", "full_name", "<script>"),
            ("trip", "point_of_entry", "poe_nowhere"),
        ],
    )
    async def test_each_bad_field_is_named(
        self, ctx: Context, client: httpx.AsyncClient, section: str, field: str, value: Any
    ) -> None:
        body = family()
        body[section][field] = value
        answer = await submit(client, body, lang="zh")
        assert answer.status_code == 422, answer.text
        assert f"{section}.{field}" in _fields(answer)
        await _nothing_stored(ctx)

    @pytest.mark.parametrize(
        "raw",
        [
            b"",
            b"{",
            b"[]",
            b'{"traveller": null}',
            '{"a": "\ud800"}'.encode("utf-8", "surrogatepass"),
        ],
    )
    async def test_garbage_is_a_4xx(
        self, ctx: Context, client: httpx.AsyncClient, raw: bytes
    ) -> None:
        answer = await client.post(
            "/v1/entry-declarations",
            content=raw,
            headers={
                "Idempotency-Key": secrets.token_hex(8),
                "Content-Type": "application/json",
                "Accept-Language": "ko",
            },
        )
        assert 400 <= answer.status_code < 500
        assert answer.headers["content-type"] == "application/problem+json"
        await _nothing_stored(ctx)

    async def test_a_missing_key_is_refused_in_the_forms_language(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        answer = await client.post(
            "/v1/entry-declarations", json=family(), headers={"Accept-Language": "fr"}
        )
        assert answer.status_code == 400
        assert answer.json()["code"] == "idempotency_key_missing"
        assert answer.json()["title"] == "Numéro d'envoi manquant"
        await _nothing_stored(ctx)


class TestNamesKeepTheirScript:
    @pytest.mark.parametrize(
        "name", ["Kim Min-jun", "Nguyễn Văn Ấn", "Иванов Иван", "王伟", "김민준"]
    )
    async def test_names_in_any_script_are_accepted_and_shown_as_written(
        self, ctx: Context, client: httpx.AsyncClient, name: str
    ) -> None:
        from tests.entry.conftest import border_checkpoint

        body = family()
        body["traveller"]["full_name"] = name
        declared = await submit(client, body)
        assert declared.status_code == 201, declared.text
        checkpoint_id, staff = await border_checkpoint(ctx, client)
        scanned = await client.post(
            f"/v1/checkpoints/{checkpoint_id}/entry-scans",
            json={"code": declared.json()["code"]},
            headers=staff,
        )
        assert scanned.json()["traveller"]["full_name"] == name
