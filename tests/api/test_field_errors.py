"""Every 422 names the field to fix, and where a choice fixes it, the choice (issue 24,
item 7): not `body`, and not a rule the caller cannot connect to a field."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import httpx
import pytest

from core.clock import utcnow
from core.context import Context
from tests.checkpoints.helpers import create_person, staff_headers
from tests.conftest import sign_in_citizen
from tests.monitoring.conftest import HANOI, TRANG_TIEN, officer

CHECKPOINT = {"name": "Chợ Bến Thành", "province": 79, "ward": 26743, "kind": "market"}
DEPENDANT = {
    "full_name": "Nguyễn Văn An",
    "id_number": "001215012345",
    "birth_year": 2015,
    "gender": "male",
    "nationality": "VN",
}


def fields(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"
    return {e["field"]: e["message"] for e in response.json()["errors"]}


class TestDeclarations:
    async def test_a_dependant_without_a_phone_is_told_about_relation(
        self, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        body: dict[str, Any] = {
            "person": DEPENDANT,  # relation omitted: "self", whose phone is required
            "address": {"province": 1, "ward": 70, "street": "12 Tràng Tiền"},
            "symptoms": [],
        }
        headers = {**citizen, "Idempotency-Key": secrets.token_hex(8)}
        refused = await client.post("/v1/declarations", json=body, headers=headers)
        message = fields(refused)["person.phone"]
        assert "person.relation" in message
        assert "child, parent or other" in message
        in_vietnamese = await client.post(
            "/v1/declarations", json=body, headers={**headers, "Accept-Language": "vi"}
        )
        assert "person.relation" in fields(in_vietnamese)["person.phone"]

        # Following the message works.
        body["person"] = {**DEPENDANT, "relation": "child"}
        headers["Idempotency-Key"] = secrets.token_hex(8)
        assert (await client.post("/v1/declarations", json=body, headers=headers)).status_code == (
            201
        )


class TestCheckpoints:
    async def test_a_ward_of_another_province_is_named_ward(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        admin = await staff_headers(ctx, "admin")
        wrong_ward = await client.post(
            "/v1/checkpoints", json={**CHECKPOINT, "ward": 70}, headers=admin
        )
        assert list(fields(wrong_ward)) == ["ward"]
        assert "province" in fields(wrong_ward)["ward"]
        no_ward = await client.post(
            "/v1/checkpoints", json={**CHECKPOINT, "ward": 999_999}, headers=admin
        )
        assert fields(no_ward) == {"ward": "no ward has this code"}
        no_province = await client.post(
            "/v1/checkpoints", json={**CHECKPOINT, "province": 99}, headers=admin
        )
        assert list(fields(no_province)) == ["province"]
        created = await client.post("/v1/checkpoints", json=CHECKPOINT, headers=admin)
        assert created.status_code == 201


class TestCases:
    async def test_a_future_confirmation_is_named_confirmed_at(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        officer = await staff_headers(ctx, "health_officer")
        future = (utcnow() + timedelta(days=1)).isoformat().replace("+00:00", "Z")
        refused = await client.post(
            "/v1/cases", json={"person_id": person_id, "confirmed_at": future}, headers=officer
        )
        assert fields(refused) == {"confirmed_at": "must not be in the future"}
        neither = await client.post("/v1/cases", json={}, headers=officer)
        assert "person_id or id_number" in fields(neither)["id_number"]


class TestChecksAcrossFields:
    """A rule about two fields (send this or that) names the field to fix, not `body`."""

    async def test_sign_in_names_the_missing_half(self, client: httpx.AsyncClient) -> None:
        no_code = await client.post("/v1/auth/token", json={"phone": "+84900000001"})
        assert list(fields(no_code)) == ["otp"]
        no_password = await client.post("/v1/auth/token", json={"username": "gate1"})
        assert list(fields(no_password)) == ["password"]
        nothing = await client.post("/v1/auth/token", json={}, headers={"Accept-Language": "vi"})
        assert fields(nothing) == {"phone": "gửi phone và otp, hoặc username và password"}

    async def test_certificate_scan_names_qr(self, client: httpx.AsyncClient, ctx: Context) -> None:
        admin = await staff_headers(ctx, "admin")
        created = await client.post("/v1/checkpoints", json=CHECKPOINT, headers=admin)
        checkpoint_id = created.json()["id"]
        staff = await staff_headers(ctx, "checkpoint_staff", checkpoint_id)
        neither = await client.post(
            f"/v1/checkpoints/{checkpoint_id}/certificates", json={}, headers=staff
        )
        assert list(fields(neither)) == ["qr"]

    async def test_an_entry_stay_ending_before_arrival_names_stay_until(
        self, client: httpx.AsyncClient
    ) -> None:
        from tests.entry.conftest import family, submit

        body = family()
        body["stay"]["until"] = (utcnow() - timedelta(days=3)).date().isoformat()
        assert list(fields(await submit(client, body, lang="en"))) == ["stay.until"]


def problems(response: httpx.Response) -> dict[str, tuple[str, str]]:
    """Each failing field's code and message, as the caller reads them."""
    assert response.status_code == 422, response.text
    return {e["field"]: (e["code"], e["message"]) for e in response.json()["errors"]}


class TestLengthLimits:
    """A text or a list too long or too short says its limit, in the caller's language."""

    async def test_entry_names_are_at_most_100_characters_in_every_language(
        self, client: httpx.AsyncClient
    ) -> None:
        from tests.entry.conftest import family, submit

        body = family()
        body["traveller"]["full_name"] = "A" * 101
        for lang, message in (
            ("fr", "doit faire au plus 100 caractères"),
            ("vi", "không quá 100 ký tự"),
            ("en", "must be at most 100 characters"),
            ("ko", "100자 이하여야 합니다"),
        ):
            refused = problems(await submit(client, body, lang=lang))
            assert refused == {"traveller.full_name": ("string_too_long", message)}, lang

    async def test_an_entry_street_is_at_most_200_characters_and_not_empty(
        self, client: httpx.AsyncClient
    ) -> None:
        from tests.entry.conftest import family, submit

        long_street, no_street = family(), family()
        long_street["stay"]["street"] = "1 Tràng Tiền " * 20
        no_street["stay"]["street"] = ""
        assert problems(await submit(client, long_street, lang="ja")) == {
            "stay.street": ("string_too_long", "は200文字以内である必要があります")
        }
        for lang, message in (
            ("en", "must not be empty"),
            ("vi", "không được để trống"),
            ("th", "ต้องไม่เว้นว่าง"),
        ):
            assert problems(await submit(client, no_street, lang=lang)) == {
                "stay.street": ("string_too_short", message)
            }, lang

    async def test_too_many_companions_says_how_many_are_allowed(
        self, client: httpx.AsyncClient
    ) -> None:
        from tests.entry.conftest import family, submit

        body = family()
        body["companions"] = body["companions"] * 11  # 22, over the 20 the form allows
        for lang, message in (
            ("en", "must have at most 20 items"),
            ("vi", "không quá 20 mục"),
            ("ru", "должно содержать не больше 20 эл."),
        ):
            assert problems(await submit(client, body, lang=lang)) == {
                "companions": ("too_long", message)
            }, lang

    async def test_a_declared_name_and_street_say_their_limits(
        self, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        body: dict[str, Any] = {
            "person": {**DEPENDANT, "relation": "child", "full_name": "Nguyễn " * 20},
            "address": {"province": 1, "ward": 70, "street": ""},
            "symptoms": [],
        }
        for lang, name, street in (
            ("en", "must be at most 100 characters", "must not be empty"),
            ("vi", "không quá 100 ký tự", "không được để trống"),
            ("zh", "不能超过 100 个字符", "不能为空"),
        ):
            headers = {**citizen, "Idempotency-Key": secrets.token_hex(8), "Accept-Language": lang}
            refused = await client.post("/v1/declarations", json=body, headers=headers)
            assert problems(refused) == {
                "person.full_name": ("string_too_long", name),
                "address.street": ("string_too_short", street),
            }, lang

    async def test_an_empty_batch_is_refused_as_empty(self, client: httpx.AsyncClient) -> None:
        citizen = await sign_in_citizen(client)
        refused = await client.post(
            "/v1/declarations/batch",
            json={"items": []},
            headers={**citizen, "Accept-Language": "vi"},
        )
        assert problems(refused) == {"items": ("too_short", "không được để trống")}

    async def test_scans_say_their_limits(self, client: httpx.AsyncClient, ctx: Context) -> None:
        from tests.entry.conftest import border_checkpoint

        checkpoint_id, staff = await border_checkpoint(ctx, client)
        for lang, message in (("en", "must not be empty"), ("vi", "không được để trống")):
            empty = await client.post(
                f"/v1/checkpoints/{checkpoint_id}/certificates",
                json={"qr": ""},
                headers={**staff, "Accept-Language": lang},
            )
            assert problems(empty) == {"qr": ("string_too_short", message)}, lang
        for lang, message in (
            ("en", "must be at most 16 characters"),
            ("vi", "không quá 16 ký tự"),
            ("fr", "doit faire au plus 16 caractères"),
        ):
            typed = await client.post(
                f"/v1/checkpoints/{checkpoint_id}/entry-scans",
                json={"code": "x" * 5000},
                headers={**staff, "Accept-Language": lang},
            )
            assert problems(typed) == {"code": ("string_too_long", message)}, lang


ZONE_NEEDED = {
    "en": "must be a date and time with a time zone, an offset or Z (ISO 8601, e.g. "
    "2026-12-07T10:00:00+07:00)",
    "vi": "phải là ngày giờ có múi giờ, dạng +hh:mm hoặc Z (ISO 8601, ví dụ "
    "2026-12-07T10:00:00+07:00)",
    "fr": "doit être une date et une heure avec un fuseau horaire, un décalage ou Z (ISO 8601, "
    "p. ex. 2026-12-07T10:00:00+07:00)",
}


class TestDateTimesNeedAZone:
    """Every date-time the service takes (`confirmed_at`, `since`) needs its time zone, and a
    value without one is told so, with the same code, whatever else is wrong with it."""

    async def test_a_case_confirmed_on_a_day_or_at_a_local_time_is_told_the_zone(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        officer = await staff_headers(ctx, "health_officer")
        for confirmed_at in ("2026-12-08", "2026-12-07T10:00:00", "yesterday", 1796601600):
            for lang, message in ZONE_NEEDED.items():
                refused = await client.post(
                    "/v1/cases",
                    json={"person_id": person_id, "confirmed_at": confirmed_at},
                    headers={**officer, "Accept-Language": lang},
                )
                assert problems(refused) == {"confirmed_at": ("zoned_datetime", message)}, (
                    confirmed_at,
                    lang,
                )
        # Following the message works.
        now = utcnow().isoformat().replace("+00:00", "Z")
        confirmed = await client.post(
            "/v1/cases", json={"person_id": person_id, "confirmed_at": now}, headers=officer
        )
        assert confirmed.status_code == 201, confirmed.text

    async def test_revocations_since_a_local_time_is_told_the_zone(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        staff = await staff_headers(ctx, "checkpoint_staff")
        for lang, message in ZONE_NEEDED.items():
            refused = await client.get(
                "/v1/revocations",
                params={"since": "2026-12-07T00:00:00"},
                headers={**staff, "Accept-Language": lang},
            )
            assert problems(refused) == {"query.since": ("zoned_datetime", message)}, lang
        zoned = await client.get(
            "/v1/revocations", params={"since": "2026-12-07T00:00:00+07:00"}, headers=staff
        )
        assert zoned.status_code == 200


# What a name must not be: blank once trimmed (a length checked before trimming let "   "
# through and citizens saw an empty name), a lone bidi override, a zero-width space, a
# control character, nothing but punctuation.
NOT_A_NAME = ["   ", "\u202e", "Công ty\u202eABC", "\u200b", "Chợ\x00", "\t\n", "-- .."]


class TestTypedNames:
    @pytest.mark.parametrize("name", NOT_A_NAME)
    async def test_an_organisation_needs_a_readable_name(
        self, client: httpx.AsyncClient, ctx: Context, name: str
    ) -> None:
        admin = await staff_headers(ctx, "admin")
        refused = await client.post("/v1/organisations", json={"name": name}, headers=admin)
        assert list(fields(refused)) == ["name"]
        assert await ctx.store.count("organisations", {}) == 0

    async def test_citizens_see_an_organisation_name_tidied(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        admin = await staff_headers(ctx, "admin")
        created = await client.post(
            "/v1/organisations", json={"name": "  Công ty   May\tHà Nội "}, headers=admin
        )
        assert created.status_code == 201, created.text
        assert created.json()["name"] == "Công ty May Hà Nội"
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        body = {"person_id": person_id, "organisation_id": created.json()["id"], "days": 30}
        granted = await client.post("/v1/consents", json=body, headers=citizen)
        assert granted.status_code == 201, granted.text
        assert granted.json()["organisation_name"] == "Công ty May Hà Nội"

    @pytest.mark.parametrize("name", NOT_A_NAME)
    async def test_a_checkpoint_needs_a_readable_name(
        self, client: httpx.AsyncClient, ctx: Context, name: str
    ) -> None:
        admin = await staff_headers(ctx, "admin")
        refused = await client.post(
            "/v1/checkpoints", json={**CHECKPOINT, "name": name}, headers=admin
        )
        assert list(fields(refused)) == ["name"]
        assert await ctx.store.count("checkpoints", {}) == 0

    @pytest.mark.parametrize("field", ["name", "name_en"])
    async def test_a_point_of_entry_needs_readable_names(
        self, client: httpx.AsyncClient, ctx: Context, field: str
    ) -> None:
        admin = await staff_headers(ctx, "admin")
        point = {"id": "poe_new_gate", "name": "Cửa khẩu mới", "name_en": "New gate"}
        for name in NOT_A_NAME:
            body = {**point, field: name, "kind": "land", "province": 20}
            refused = await client.post("/v1/entry/points", json=body, headers=admin)
            assert list(fields(refused)) == [field]
        listed = (await client.get("/v1/entry/points")).json()["items"]
        assert "poe_new_gate" not in {p["id"] for p in listed}

    async def test_the_refusal_is_in_the_callers_language(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        admin = {**await staff_headers(ctx, "admin"), "Accept-Language": "vi"}
        blank = await client.post("/v1/organisations", json={"name": "   "}, headers=admin)
        assert fields(blank) == {"name": "phải có chữ cái hoặc chữ số"}
        hidden = await client.post("/v1/organisations", json={"name": "\u202e"}, headers=admin)
        assert fields(hidden) == {"name": "không được có ký tự điều khiển hoặc ký tự định dạng ẩn"}

    async def test_a_follow_up_team_needs_a_readable_name(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
        episode = {
            "person_id": person_id,
            "reason": "contact",
            "place": "home",
            "address": {"province": HANOI, "ward": TRANG_TIEN, "street": "12 Tràng Tiền"},
        }
        for team in NOT_A_NAME:
            refused = await client.post(
                "/v1/monitoring", json={**episode, "team": team}, headers=ward_officer
            )
            assert list(fields(refused)) == ["team"]
        opened = await client.post(
            "/v1/monitoring", json={**episode, "team": " Tổ  2 "}, headers=ward_officer
        )
        assert opened.status_code == 201, opened.text
        worklist = await client.get("/v1/monitoring", headers=ward_officer)
        assert [row["team"] for row in worklist.json()["items"]] == ["Tổ 2"]
