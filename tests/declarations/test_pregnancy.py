"""A form that marks a man pregnant is refused as a field error naming `pregnant`, in the
caller's language, and stores nothing; a woman, or a person of another gender, may declare
a pregnancy."""

from __future__ import annotations

import httpx

from core.context import Context
from tests.declarations.conftest import (
    assert_problem,
    child_declaration,
    count_declarations,
    declaration,
    declare,
)


class TestPregnancy:
    async def test_a_man_marked_pregnant_is_a_field_error_and_nothing_is_stored(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        body = declaration(pregnant=True)
        body["person"]["gender"] = "male"
        for lang, message in (
            ("vi", "không thể là true khi person.gender là male (nam)"),
            ("en", "cannot be true when person.gender is male"),
        ):
            refused = await declare(
                client, citizen, body, f"pregnant-{lang}", **{"Accept-Language": lang}
            )
            problem = assert_problem(refused, 422)
            assert problem["code"] == "validation_failed"
            assert problem["errors"] == [
                {"field": "pregnant", "code": "value_error", "message": message}
            ]
        assert await count_declarations(ctx) == 0
        listed = await client.get("/v1/people", headers=citizen)
        assert listed.json()["items"] == []

    async def test_pregnant_is_declared_for_a_woman_or_another_gender(
        self, client: httpx.AsyncClient, citizen: dict[str, str]
    ) -> None:
        woman = await declare(client, citizen, declaration(pregnant=True), "woman")
        assert woman.status_code == 201, woman.text
        other = child_declaration(pregnant=True)
        other["person"].update(gender="other", birth_year=1995, relation="other")
        assert (await declare(client, citizen, other, "other")).status_code == 201
        man = child_declaration(pregnant=False)
        man["person"]["id_number"] = "001215011111"
        assert (await declare(client, citizen, man, "man")).status_code == 201

    async def test_the_offline_queue_names_the_field_in_its_item(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        man = child_declaration(pregnant=True)  # the conftest's child is a boy
        items = [
            {"idempotency_key": "q-1", "declaration": declaration()},
            {"idempotency_key": "q-2", "declaration": man},
        ]
        answer = await client.post("/v1/declarations/batch", json={"items": items}, headers=citizen)
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        assert [r["status_code"] for r in results] == [201, 422]
        assert [e["field"] for e in results[1]["error"]["errors"]] == ["pregnant"]
        assert await count_declarations(ctx) == 1
