"""Only the account that declared can read a declaration or a person: everyone else gets
the same 404 as for something that does not exist."""

from __future__ import annotations

import httpx

from core.context import Context
from tests.declarations.conftest import assert_problem, declaration, declare


class TestOwnership:
    async def test_another_citizen_sees_nothing_of_mine(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        other_citizen: dict[str, str],
    ) -> None:
        mine = (await declare(client, citizen, declaration(), "mine")).json()

        by_id = await client.get(f"/v1/declarations/{mine['id']}", headers=other_citizen)
        assert assert_problem(by_id, 404)["code"] == "not_found"
        by_person = await client.get(
            "/v1/declarations", params={"person_id": mine["person_id"]}, headers=other_citizen
        )
        assert assert_problem(by_person, 404)["code"] == "not_found"
        assert (await client.get("/v1/people", headers=other_citizen)).json() == {"items": []}
        everything = await client.get("/v1/declarations", headers=other_citizen)
        assert everything.json() == {"items": []}

        # The owner still reads it.
        own = await client.get(f"/v1/declarations/{mine['id']}", headers=citizen)
        assert own.status_code == 200
        assert own.json()["person_id"] == mine["person_id"]

    async def test_a_missing_id_looks_the_same_as_someone_elses(
        self, client: httpx.AsyncClient, citizen: dict[str, str]
    ) -> None:
        missing = await client.get(
            "/v1/declarations/dec_00000000000000000000000000", headers=citizen
        )
        assert assert_problem(missing, 404)["code"] == "not_found"
        person = await client.get(
            "/v1/declarations", params={"person_id": "per_x"}, headers=citizen
        )
        assert assert_problem(person, 404)["code"] == "not_found"

    async def test_the_same_identity_number_from_two_accounts_is_two_people(
        self,
        client: httpx.AsyncClient,
        citizen: dict[str, str],
        other_citizen: dict[str, str],
    ) -> None:
        mine = (await declare(client, citizen, declaration(), "a")).json()
        theirs = (await declare(client, other_citizen, declaration(), "b")).json()
        assert mine["person_id"] != theirs["person_id"]

    async def test_list_limit_is_bounded(
        self, client: httpx.AsyncClient, citizen: dict[str, str]
    ) -> None:
        for key in ("1", "2", "3"):
            await declare(client, citizen, declaration(), key)
        two = await client.get("/v1/declarations", params={"limit": 2}, headers=citizen)
        assert len(two.json()["items"]) == 2
        too_many = await client.get("/v1/declarations", params={"limit": 101}, headers=citizen)
        assert_problem(too_many, 422)
