"""Hostile and broken input: every answer is a 4xx problem+json with a code, nothing is
stored, and nothing reaches a 500."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from core.context import Context
from tests.declarations.conftest import (
    assert_problem,
    count_declarations,
    declaration,
    declare,
    set_path,
)

# Every field of the form, and every section as a whole.
FIELD_PATHS = [
    "person",
    "person.full_name",
    "person.id_number",
    "person.birth_year",
    "person.gender",
    "person.nationality",
    "person.phone",
    "person.relation",
    "address",
    "address.province",
    "address.ward",
    "address.street",
    "symptoms",
    "symptoms.0",
    "exposure",
    "exposure.confirmed_case",
    "exposure.suspected_case",
    "exposure.from_affected_area",
    "exposure.symptomatic_contact",
    "chronic_conditions",
    "chronic_conditions.0",
    "pregnant",
    "travel",
    "travel.countries",
    "travel.countries.0",
    "travel.domestic",
    "travel.domestic.0",
    "travel.domestic.0.vehicle",
    "travel.domestic.0.from_province",
    "travel.domestic.0.to_province",
    "travel.domestic.0.date",
]
HOSTILE_VALUES = {
    "mongo_operator": {"$gt": ""},
    "sql": "'; DROP TABLE people; --",
}


def full_form() -> dict[str, Any]:
    """A valid form with every list non-empty, so every path exists."""
    return declaration(
        symptoms=["fatigue"],
        chronic_conditions=["diabetes"],
        travel={**declaration()["travel"], "countries": ["SG"]},
    )


@pytest.fixture
async def stored_before(ctx: Context) -> int:
    return await count_declarations(ctx)


class TestHostileValuesInEveryField:
    @pytest.mark.parametrize("kind", sorted(HOSTILE_VALUES))
    @pytest.mark.parametrize("path", FIELD_PATHS)
    async def test_is_refused_and_nothing_stored(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        path: str,
        kind: str,
    ) -> None:
        body = full_form()
        set_path(body, path, copy.deepcopy(HOSTILE_VALUES[kind]))
        answer = await declare(client, citizen, body, f"hostile-{kind}")
        problem = assert_problem(answer, 422)
        assert problem["code"] == "validation_failed"
        fields = [e["field"] for e in problem["errors"]]
        assert any(f == path or f.startswith(path + ".") for f in fields), fields
        # The submitted value is never echoed back.
        assert "DROP TABLE" not in answer.text
        assert await count_declarations(ctx) == 0
        assert await ctx.store.count("people", {}) == 0

    async def test_an_operator_as_a_key_is_an_unknown_field(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        body = full_form()
        body["person"]["$where"] = "sleep(1000)"
        problem = assert_problem(await declare(client, citizen, body, "op-key"), 422)
        assert problem["errors"][0]["code"] == "extra_forbidden"
        assert await count_declarations(ctx) == 0


class TestBrokenRequests:
    async def test_malformed_json(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        answer = await client.post(
            "/v1/declarations",
            content=b'{"person": {"full_name": "Lan",',
            headers={**citizen, "Idempotency-Key": "k", "Content-Type": "application/json"},
        )
        assert assert_problem(answer, 400)["code"] == "malformed_body"
        assert await count_declarations(ctx) == 0

    async def test_unknown_fields_are_named(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        body = declaration(vaccinated=True)
        body["address"]["district"] = 5
        problem = assert_problem(await declare(client, citizen, body, "k"), 422)
        assert sorted(e["field"] for e in problem["errors"]) == ["address.district", "vaccinated"]
        assert await count_declarations(ctx) == 0

    async def test_a_ward_of_another_province_names_address_ward_in_both_languages(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        # Ward 70 (Hoàn Kiếm) is in Hà Nội (1), not Hồ Chí Minh City (79).
        body = declaration(address={"province": 79, "ward": 70, "street": "1 Lê Lợi"})
        english = assert_problem(await declare(client, citizen, body, "k"), 422)
        assert english["errors"] == [
            {
                "field": "address.ward",
                "code": "value_error",
                "message": "is not a ward of this province",
            }
        ]
        vietnamese = assert_problem(
            await declare(client, citizen, body, "k", **{"Accept-Language": "vi"}), 422
        )
        assert vietnamese["title"] == "Một số trường không hợp lệ"
        assert vietnamese["errors"][0]["message"] == "không thuộc tỉnh/thành phố đã chọn"
        assert await count_declarations(ctx) == 0

    @pytest.mark.parametrize(
        ("path", "value"),
        [
            ("person.birth_year", 2999),
            ("person.birth_year", 1899),
            ("person.birth_year", "1990"),
            ("person.birth_year", 1990.0),
            ("address.province", "1"),
            ("address.province", 2),
            ("address.ward", 999_999),
            ("exposure.confirmed_case", "false"),
            ("exposure.confirmed_case", 0),
            ("pregnant", "no"),
            ("person.gender", "FEMALE"),
            ("person.nationality", "XX"),
            ("person.nationality", "VNM"),
            ("person.id_number", "12345"),
            ("person.id_number", "0011900123"),
            ("person.phone", "12345"),
            ("person.phone", 84912345678),
            ("person.full_name", ""),
            ("person.full_name", "L" * 101),
            ("person.full_name", "<script>alert(1)</script>"),
            ("address.street", "x" * 201),
            ("symptoms", ["fever", "headache"]),
            ("travel.countries", ["ZZ"]),
            ("travel.domestic.0.date", "2020-01-01"),
            ("travel.domestic.0.date", "2999-01-01"),
            ("travel.domestic.0.date", "20261120"),
            ("travel.domestic.0.from_province", 0),
            ("travel.domestic.0.vehicle", "rocket"),
        ],
    )
    async def test_invalid_value_is_named(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        path: str,
        value: Any,
    ) -> None:
        body = declaration()
        set_path(body, path, value)
        problem = assert_problem(await declare(client, citizen, body, "k"), 422)
        fields = [e["field"] for e in problem["errors"]]
        assert len(fields) == 1
        assert fields[0] == path or fields[0].startswith(path + "."), fields
        assert await count_declarations(ctx) == 0

    async def test_ten_megabytes_is_refused_before_reading(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        body = declaration()
        body["address"]["street"] = "x" * (10 * 1024 * 1024)
        answer = await declare(client, citizen, body, "big")
        assert assert_problem(answer, 413)["code"] == "payload_too_large"
        assert await count_declarations(ctx) == 0

    async def test_ten_thousand_symptoms(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        answer = await declare(client, citizen, declaration(symptoms=["fever"] * 10_000), "many")
        assert answer.status_code in (413, 422)
        assert_problem(answer)
        assert await count_declarations(ctx) == 0

    async def test_too_many_countries_or_trips(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        trip = declaration()["travel"]["domestic"][0]
        for travel, field in (
            ({"countries": ["SG"] * 21, "domestic": []}, "travel.countries"),
            ({"countries": [], "domestic": [trip] * 31}, "travel.domestic"),
        ):
            problem = assert_problem(
                await declare(client, citizen, declaration(travel=travel), "t")
            )
            assert [e["field"] for e in problem["errors"]] == [field]
        assert await count_declarations(ctx) == 0

    async def test_without_sign_in(self, client: httpx.AsyncClient, ctx: Context) -> None:
        answer = await declare(client, {}, declaration(), "anon")
        assert assert_problem(answer, 401)["code"] == "unauthenticated"
        assert await count_declarations(ctx) == 0

    async def test_staff_cannot_declare(self, client: httpx.AsyncClient, ctx: Context) -> None:
        from tests.conftest import sign_in_staff

        analyst = await sign_in_staff(ctx, client, "analyst")
        answer = await declare(client, analyst, declaration(), "staff")
        assert assert_problem(answer, 403)["code"] == "forbidden"
        assert await count_declarations(ctx) == 0
