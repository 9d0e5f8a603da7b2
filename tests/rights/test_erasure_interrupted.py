"""An erasure interrupted between its two writes (`DELETE /v1/people/{id}` marked the person,
then its batch failed: a 503, a killed process) leaves the person gone to every route, not
half there: not listed, not exported, and a declaration with their identity number stores
nothing new under the old record (409 `person_being_erased`, naming the person to erase
again). Asking again finishes the erasure; the declaration sent again then starts afresh.

The interruption is forced: the store refuses the erasure's batch once, as a database gone
away answers."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from core.context import Context
from core.storage import Delete, Operation, StorageDown
from people import repository as people_repository
from tests.conftest import sign_in_citizen
from tests.declarations.conftest import child_declaration, declaration
from tests.rights.conftest import assert_problem, declare, everything_stored


def refuse_the_erasure_once(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next batch that deletes a person record fails, as a store that went away; the
    mark before it (`start_erasure`) commits."""
    write = ctx.store.write
    refused: list[bool] = []

    async def flaky(ops: Sequence[Operation]) -> Any:
        deletes_a_person = any(isinstance(op, Delete) and op.collection == "people" for op in ops)
        if deletes_a_person and not refused:
            refused.append(True)
            raise StorageDown("the database went away")
        return await write(ops)

    monkeypatch.setattr(ctx.store, "write", flaky)


async def _interrupted(
    ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, str], str]:
    """A citizen whose child's erasure was interrupted: the child marked, all still stored."""
    citizen = await sign_in_citizen(client)
    child_id = await declare(client, citizen, child_declaration())
    refuse_the_erasure_once(ctx, monkeypatch)
    failed = await client.delete(f"/v1/people/{child_id}", headers=citizen)
    assert failed.status_code == 503, failed.text
    marked = await ctx.store.get("people", child_id)
    assert marked is not None
    assert people_repository.being_erased(marked)
    return citizen, child_id


async def _declare_child(client: httpx.AsyncClient, citizen: dict[str, str]) -> httpx.Response:
    headers = {**citizen, "Idempotency-Key": secrets.token_hex(8)}
    return await client.post("/v1/declarations", json=child_declaration(), headers=headers)


class TestAnInterruptedErasure:
    async def test_the_person_is_in_no_list_export_or_access_log(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        citizen, child_id = await _interrupted(ctx, client, monkeypatch)

        listed = await client.get("/v1/people", headers=citizen)
        assert listed.status_code == 200, listed.text
        assert child_id not in [p["person_id"] for p in listed.json()["items"]]
        exported = await client.get("/v1/me/export", headers=citizen)
        assert exported.status_code == 200, exported.text
        assert child_id not in exported.text
        logged = await client.get("/v1/me/access-log", headers=citizen)
        assert logged.status_code == 200, logged.text
        assert child_id not in logged.text
        assert (await client.get(f"/v1/people/{child_id}/qr", headers=citizen)).status_code == 404

    async def test_a_declaration_stores_nothing_and_names_the_person_to_erase_again(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        citizen, child_id = await _interrupted(ctx, client, monkeypatch)
        before = await ctx.store.get("people", child_id)
        declarations = await ctx.store.count("declarations", {"person_id": child_id})

        refused = await _declare_child(client, citizen)

        problem = assert_problem(refused, 409)
        assert problem["code"] == "person_being_erased"
        assert problem["person_id"] == child_id
        assert await ctx.store.get("people", child_id) == before
        assert await ctx.store.count("declarations", {"person_id": child_id}) == declarations

    async def test_in_vietnamese_too(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        citizen, _ = await _interrupted(ctx, client, monkeypatch)
        refused = await _declare_child(client, {**citizen, "Accept-Language": "vi"})
        assert "chưa hoàn tất" in assert_problem(refused, 409)["detail"]

    async def test_erasing_again_finishes_it_and_a_new_declaration_starts_afresh(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        citizen, child_id = await _interrupted(ctx, client, monkeypatch)
        old_declarations = [
            str(d["_id"]) for d in await ctx.store.find("declarations", {"person_id": child_id})
        ]
        assert old_declarations

        erased = await client.delete(f"/v1/people/{child_id}", headers=citizen)
        assert erased.status_code == 204, erased.text
        assert await ctx.store.get("people", child_id) is None
        assert child_id not in await everything_stored(ctx)

        declared = await _declare_child(client, citizen)
        assert declared.status_code == 201, declared.text
        person_id = declared.json()["person_id"]
        found = await ctx.store.find("declarations", {"person_id": person_id})
        assert [str(d["_id"]) for d in found] == [declared.json()["id"]]
        listed = await client.get("/v1/people", headers=citizen)
        assert [p["person_id"] for p in listed.json()["items"]] == [person_id]

    async def test_erasing_the_account_finishes_it(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        citizen, child_id = await _interrupted(ctx, client, monkeypatch)
        erased = await client.delete("/v1/me", headers=citizen)
        assert erased.status_code == 204, erased.text
        assert await ctx.store.get("people", child_id) is None
        assert child_id not in await everything_stored(ctx)


class TestAHolderHalfErased:
    async def test_leaves_the_account_to_its_holder_declared_with_another_number(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The holder's own record, declared with a mistyped number, then its erasure
        interrupted: the holder declared with the right number is the account's one holder
        (not refused on behalf of a record already gone to every route), and finishing the
        old erasure leaves them so."""
        citizen = await sign_in_citizen(client)
        mistyped = declaration()
        mistyped["person"]["id_number"] = "001190054321"
        old_id = await declare(client, citizen, mistyped)
        refuse_the_erasure_once(ctx, monkeypatch)
        failed = await client.delete(f"/v1/people/{old_id}", headers=citizen)
        assert failed.status_code == 503, failed.text

        holder_id = await declare(client, citizen, declaration())

        erased = await client.delete(f"/v1/people/{old_id}", headers=citizen)
        assert erased.status_code == 204, erased.text
        assert old_id not in await everything_stored(ctx)
        listed = await client.get("/v1/people", headers=citizen)
        assert [p["person_id"] for p in listed.json()["items"]] == [holder_id]
        third = declaration()
        third["person"]["id_number"] = "001190099999"
        refused = await client.post(
            "/v1/declarations", json=third, headers={**citizen, "Idempotency-Key": "third"}
        )
        assert assert_problem(refused, 409)["code"] == "self_already_declared"


class TestADeclarationReadBeforeTheMark:
    async def test_written_after_it_stores_nothing(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The declaration's read of the person is made to answer as just before the
        erasure marked them; its write, after the mark, must not land on the marked record
        (it would be new data after the erasure was asked for)."""
        citizen, child_id = await _interrupted(ctx, client, monkeypatch)
        marked = await ctx.store.get("people", child_id)
        assert marked is not None
        unmarked = {k: v for k, v in marked.items() if k != "erasing_since"}
        declarations = await ctx.store.count("declarations", {"person_id": child_id})
        read = people_repository.person_of_account
        answered: list[bool] = []

        async def as_before_the_mark(store: Any, account_id: str, id_hash: str) -> Any:
            if not answered:
                answered.append(True)
                return unmarked
            return await read(store, account_id, id_hash)

        monkeypatch.setattr(people_repository, "person_of_account", as_before_the_mark)
        refused = await _declare_child(client, citizen)

        assert assert_problem(refused, 409)["code"] == "person_being_erased"
        assert await ctx.store.get("people", child_id) == marked
        assert await ctx.store.count("declarations", {"person_id": child_id}) == declarations
