"""Who a declaration is for, as the account holder sees it: the holder (`person.relation`
self) is one person, so a `self` with another identity number is refused with a 409 that
says how to declare a family member, also when two are sent at once; the holder declaring
again, and a family member beside them, are declared as always."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from core.context import Context
from tests.conftest import sign_in_citizen
from tests.declarations.conftest import (
    ID_NUMBER,
    assert_problem,
    child_declaration,
    count_declarations,
    declaration,
    declare,
)

OTHER_ID_NUMBER = "001190054321"


def holder(id_number: str = ID_NUMBER, **overrides: Any) -> dict[str, Any]:
    """The holder's own form (relation `self`, the default), with this identity number."""
    body = declaration(**overrides)
    body["person"]["id_number"] = id_number
    return body


async def people(client: httpx.AsyncClient, citizen: dict[str, str]) -> list[dict[str, Any]]:
    listed = await client.get("/v1/people", headers=citizen)
    assert listed.status_code == 200, listed.text
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


class TestTheAccountHolderIsOnePerson:
    async def test_self_with_another_identity_number_is_refused_and_nothing_is_stored(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        first = await declare(client, citizen, holder(), "me")
        assert first.status_code == 201, first.text

        refused = await declare(
            client, citizen, holder(OTHER_ID_NUMBER), "me-again", **{"Accept-Language": "vi"}
        )
        problem = assert_problem(refused, 409)
        assert problem["code"] == "self_already_declared"
        assert problem["title"] == "Chủ tài khoản đã được khai báo"
        assert "child, parent hoặc other" in problem["detail"]
        assert problem["person_id"] == first.json()["person_id"]
        english = await declare(client, citizen, holder(OTHER_ID_NUMBER), "me-again-en")
        assert (
            "set person.relation to child, parent or other"
            in assert_problem(english, 409)["detail"]
        )

        assert await count_declarations(ctx) == 1
        assert [p["person_id"] for p in await people(client, citizen)] == [
            first.json()["person_id"]
        ]

    async def test_the_same_identity_number_again_declares_the_same_person(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        first = await declare(client, citizen, holder(), "day-1")
        again = await declare(client, citizen, holder(symptoms=["cough"]), "day-2")
        assert (first.status_code, again.status_code) == (201, 201), again.text
        assert again.json()["person_id"] == first.json()["person_id"]
        assert await count_declarations(ctx) == 2
        [me] = await people(client, citizen)
        assert (me["relation"], me["status"]) == ("self", "yellow")

    async def test_a_family_member_is_declared_beside_the_holder(
        self, client: httpx.AsyncClient, citizen: dict[str, str]
    ) -> None:
        assert (await declare(client, citizen, holder(), "me")).status_code == 201
        child = await declare(client, citizen, child_declaration(), "child")
        assert child.status_code == 201, child.text
        # The refused form sent again as the family member it was: declared.
        spouse = holder(OTHER_ID_NUMBER)
        spouse["person"]["relation"] = "other"
        assert (await declare(client, citizen, spouse, "spouse")).status_code == 201
        listed = await people(client, citizen)
        assert [p["relation"] for p in listed] == ["self", "child", "other"]

    async def test_another_account_holds_its_own_holder(
        self, client: httpx.AsyncClient, citizen: dict[str, str], other_citizen: dict[str, str]
    ) -> None:
        assert (await declare(client, citizen, holder(), "mine")).status_code == 201
        theirs = await declare(client, other_citizen, holder(OTHER_ID_NUMBER), "theirs")
        assert theirs.status_code == 201, theirs.text

    async def test_a_family_member_cannot_become_a_second_holder(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        assert (await declare(client, citizen, holder(), "me")).status_code == 201
        child = await declare(client, citizen, child_declaration(), "child")
        as_holder = child_declaration()
        as_holder["person"].update(relation="self", phone="+84912345679")
        refused = await declare(client, citizen, as_holder, "child-as-me")
        assert assert_problem(refused, 409)["code"] == "self_already_declared"
        assert await count_declarations(ctx) == 2
        listed = {p["person_id"]: p["relation"] for p in await people(client, citizen)}
        assert listed[child.json()["person_id"]] == "child"

    async def test_once_the_holder_is_erased_another_number_may_be_the_holder(
        self, client: httpx.AsyncClient, citizen: dict[str, str]
    ) -> None:
        """A holder declared with a mistyped number: erase that record, declare again."""
        mistyped = await declare(client, citizen, holder(OTHER_ID_NUMBER), "typo")
        assert mistyped.status_code == 201, mistyped.text
        erased = await client.delete(f"/v1/people/{mistyped.json()['person_id']}", headers=citizen)
        assert erased.status_code == 204, erased.text
        right = await declare(client, citizen, holder(), "right")
        assert right.status_code == 201, right.text
        assert [p["person_id"] for p in await people(client, citizen)] == [
            right.json()["person_id"]
        ]

    async def test_a_holder_declared_as_a_family_member_leaves_the_place_free(
        self, client: httpx.AsyncClient, citizen: dict[str, str]
    ) -> None:
        """Declared as `self` by mistake (a parent's form sent without its relation), then
        again with the right relation: the account holder may then declare themselves."""
        parent = await declare(client, citizen, holder(OTHER_ID_NUMBER), "parent-as-me")
        corrected = holder(OTHER_ID_NUMBER)
        corrected["person"]["relation"] = "parent"
        assert (await declare(client, citizen, corrected, "parent")).status_code == 201
        me = await declare(client, citizen, holder(), "me")
        assert me.status_code == 201, me.text
        listed = {p["person_id"]: p["relation"] for p in await people(client, citizen)}
        assert listed == {parent.json()["person_id"]: "parent", me.json()["person_id"]: "self"}

    async def test_two_holders_sent_at_once_one_is_declared(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        """Two phones of one account (or a double tap on two forms) declaring `self` with two
        numbers at once: one lands, the other is the same 409 as one sent after it."""
        phones = ("+84900000003", "+84900000004", "+84900000005")
        for phone in phones:
            citizen = await sign_in_citizen(client, phone)
            answers = await asyncio.gather(
                declare(client, citizen, holder(), f"a-{phone[1:]}"),
                declare(client, citizen, holder(OTHER_ID_NUMBER), f"b-{phone[1:]}"),
            )
            assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
            [landed] = [a for a in answers if a.status_code == 201]
            [refused] = [a for a in answers if a.status_code == 409]
            assert assert_problem(refused, 409)["code"] == "self_already_declared"
            assert refused.json()["person_id"] == landed.json()["person_id"]
            assert [p["person_id"] for p in await people(client, citizen)] == [
                landed.json()["person_id"]
            ]
        assert await count_declarations(ctx) == len(phones)

    async def test_the_offline_queue_refuses_the_second_holder_alone(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        items = [
            {"idempotency_key": "q-1", "declaration": holder()},
            {"idempotency_key": "q-2", "declaration": holder(OTHER_ID_NUMBER)},
            {"idempotency_key": "q-3", "declaration": child_declaration()},
            {"idempotency_key": "q-4", "declaration": holder(symptoms=["fever"])},
        ]
        answer = await client.post(
            "/v1/declarations/batch",
            json={"items": items},
            headers={**citizen, "Accept-Language": "vi"},
        )
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        assert [r["status_code"] for r in results] == [201, 409, 201, 201]
        assert results[1]["error"]["code"] == "self_already_declared"
        assert results[1]["error"]["title"] == "Chủ tài khoản đã được khai báo"
        assert await count_declarations(ctx) == 3
