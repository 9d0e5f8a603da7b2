"""Declaring through HTTP: for yourself and a child, exactly once per Idempotency-Key, and
from a phone's offline queue."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from core.context import Context
from core.settings import Settings
from core.storage import StorageDown
from tests.conftest import TEST_PHONES, make_settings
from tests.declarations.conftest import (
    CHILD_NAME,
    FULL_NAME,
    assert_problem,
    child_declaration,
    count_declarations,
    declaration,
    declare,
)


class TestTheWholeJourney:
    async def test_sign_in_declare_for_the_family_retry_and_burst(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        phone = "+84900000005"
        assert (await client.post("/v1/auth/otp", json={"phone": phone})).status_code == 202
        signed_in = await client.post(
            "/v1/auth/token", json={"phone": phone, "otp": TEST_PHONES[phone]}
        )
        assert signed_in.status_code == 200
        me = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}

        own_body = declaration(symptoms=["fever"], travel={"countries": ["SG"], "domestic": []})
        own = await declare(client, me, own_body, "journey-own")
        child = await declare(client, me, child_declaration(), "journey-child")
        assert (own.status_code, child.status_code) == (201, 201)

        people = (await client.get("/v1/people", headers=me)).json()["items"]
        assert [(p["display_name"], p["status"]) for p in people] == [
            (FULL_NAME, "yellow"),
            (CHILD_NAME, "green"),
        ]

        replay = await declare(client, me, own_body, "journey-own")
        assert (replay.status_code, replay.content) == (201, own.content)
        assert await count_declarations(ctx) == 2

        burst = await asyncio.gather(
            *(declare(client, me, child_declaration(), "journey-burst") for _ in range(20))
        )
        assert {b.status_code for b in burst} == {201}
        assert len({b.json()["id"] for b in burst}) == 1
        assert await count_declarations(ctx) == 3


class TestDeclaringForAFamily:
    async def test_parent_declares_for_herself_and_her_child(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        own = await declare(client, citizen, declaration(symptoms=["fever"]), "own-1")
        assert own.status_code == 201, own.text
        mine = own.json()
        assert set(mine) == {"id", "person_id", "status", "reasons", "created_at"}
        assert mine["status"] == "yellow"
        assert [r["code"] for r in mine["reasons"]] == ["symptoms"]
        assert own.headers["location"] == f"/v1/declarations/{mine['id']}"

        child = await declare(client, citizen, child_declaration(), "child-1")
        assert child.status_code == 201, child.text
        assert child.json()["status"] == "green"
        assert child.json()["person_id"] != mine["person_id"]

        people = await client.get("/v1/people", headers=citizen)
        assert people.status_code == 200
        listed = {p["display_name"]: p for p in people.json()["items"]}
        assert set(listed) == {FULL_NAME, CHILD_NAME}
        assert listed[FULL_NAME]["status"] == "yellow"
        assert listed[FULL_NAME]["relation"] == "self"
        assert listed[FULL_NAME]["id_number_masked"] == "•••••••••345"
        assert listed[CHILD_NAME]["status"] == "green"
        assert listed[CHILD_NAME]["relation"] == "child"
        assert listed[CHILD_NAME]["birth_year"] == 2015

    async def test_declaring_again_updates_the_same_person(
        self, client: httpx.AsyncClient, citizen: dict[str, str]
    ) -> None:
        first = (await declare(client, citizen, declaration(symptoms=["cough"]), "a")).json()
        # The same identity number written with spaces is the same person.
        body = declaration()
        body["person"]["id_number"] = "001 190 012 345"
        second = (await declare(client, citizen, body, "b")).json()
        assert second["person_id"] == first["person_id"]
        assert second["status"] == "green"

        people = (await client.get("/v1/people", headers=citizen)).json()["items"]
        assert [(p["person_id"], p["status"]) for p in people] == [(first["person_id"], "green")]

        listed = await client.get(
            "/v1/declarations", params={"person_id": first["person_id"]}, headers=citizen
        )
        assert [d["id"] for d in listed.json()["items"]] == [second["id"], first["id"]]

    async def test_reasons_follow_accept_language(
        self, client: httpx.AsyncClient, citizen: dict[str, str]
    ) -> None:
        body = declaration(symptoms=["fever"])
        answer = await declare(client, citizen, body, "vi-1", **{"Accept-Language": "vi-VN"})
        assert answer.json()["reasons"][0]["message"] == "Có triệu chứng trong 14 ngày qua."
        read = await client.get(
            f"/v1/declarations/{answer.json()['id']}", headers={**citizen, "Accept-Language": "en"}
        )
        assert read.json()["reasons"][0]["message"] == "Symptoms in the last 14 days."
        assert read.json()["address"]["street"] == "12 Tràng Tiền"
        assert read.json()["symptoms"] == ["fever"]

    async def test_a_dependant_needs_no_phone_but_the_account_holder_does(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        body = declaration()
        del body["person"]["phone"]
        answer = await declare(client, citizen, body, "no-phone")
        problem = assert_problem(answer, 422)
        assert [e["field"] for e in problem["errors"]] == ["person.phone"]
        assert await count_declarations(ctx) == 0

        assert (await declare(client, citizen, child_declaration(), "child")).status_code == 201


class TestExactlyOnce:
    async def test_replay_returns_the_first_answer_and_stores_nothing_new(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        body = declaration(symptoms=["fever", "cough"])
        first = await declare(client, citizen, body, "phone-queue:42")
        again = await declare(client, citizen, body, "phone-queue:42")
        assert first.status_code == again.status_code == 201
        assert again.content == first.content
        assert again.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        assert await count_declarations(ctx) == 1

    async def test_a_retry_is_answered_while_writes_are_refused(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # A full disk or a read-only file refuses writes while reads still work (the real
        # faults are in tests/faults/test_storage.py; here every write is refused).
        first = await declare(client, citizen, declaration(), "before-the-disk-filled")

        async def refuse(ops: object) -> list[int]:
            raise StorageDown("database or disk is full")

        monkeypatch.setattr(ctx.store, "write", refuse)
        again = await declare(client, citizen, declaration(), "before-the-disk-filled")
        assert again.status_code == 201
        assert again.content == first.content
        new = await client.post(
            "/v1/declarations",
            json=declaration(),
            headers={**citizen, "Idempotency-Key": "after-the-disk-filled"},
        )
        assert new.status_code == 503
        assert new.json()["code"] == "storage_unavailable"

    async def test_same_key_with_another_body_is_409(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        assert (await declare(client, citizen, declaration(), "k-1")).status_code == 201
        changed = await declare(client, citizen, declaration(symptoms=["fever"]), "k-1")
        assert assert_problem(changed, 409)["code"] == "idempotency_key_reused"
        assert await count_declarations(ctx) == 1

    async def test_keys_belong_to_one_account(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        other_citizen: dict[str, str],
    ) -> None:
        mine = await declare(client, citizen, declaration(), "shared-key")
        theirs = await declare(client, other_citizen, declaration(), "shared-key")
        assert theirs.status_code == 201
        assert theirs.json()["id"] != mine.json()["id"]
        assert await count_declarations(ctx) == 2

    async def test_twenty_identical_requests_at_once_store_one_declaration(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        body = declaration(symptoms=["fever"])
        answers = await asyncio.gather(
            *(declare(client, citizen, body, "burst-1") for _ in range(20))
        )
        assert {a.status_code for a in answers} == {201}
        assert len({a.content for a in answers}) == 1
        assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 19
        assert await count_declarations(ctx) == 1
        assert await ctx.store.count("people", {}) == 1

    async def test_one_new_person_declared_twice_at_once_is_one_person(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        answers = await asyncio.gather(
            *(declare(client, citizen, declaration(), f"key-{n}") for n in range(4))
        )
        assert {a.status_code for a in answers} == {201}
        assert len({a.json()["person_id"] for a in answers}) == 1
        assert await count_declarations(ctx) == 4
        assert await ctx.store.count("people", {}) == 1

    async def test_missing_or_malformed_key_is_refused(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        missing = await client.post("/v1/declarations", json=declaration(), headers=citizen)
        assert assert_problem(missing, 400)["code"] == "idempotency_key_missing"
        for bad in ("has space", "x" * 129, "semi;colon", "a/b"):
            answer = await declare(client, citizen, declaration(), bad)
            assert assert_problem(answer, 400)["code"] == "idempotency_key_invalid"
        # The refusal states the rule the server checks (1-128 of A-Z a-z 0-9 _ - : .).
        for lang, detail in (
            ("en", "The Idempotency-Key may hold only A-Z a-z 0-9 _ - : ., 1 to 128 characters."),
            ("vi", "Idempotency-Key chỉ gồm các ký tự A-Z a-z 0-9 _ - : ., dài 1 đến 128 ký tự."),
        ):
            headers = {**citizen, "Idempotency-Key": "x" * 129, "Accept-Language": lang}
            answer = await client.post("/v1/declarations", json=declaration(), headers=headers)
            assert assert_problem(answer, 400)["detail"] == detail, lang
        assert await count_declarations(ctx) == 0


def dependant(number: int) -> dict[str, object]:
    """A form for the `number`th child of the family: its own identity number."""
    body = child_declaration()
    body["person"]["id_number"] = f"0012150987{number:02d}"
    return body


class TestPeoplePerAccount:
    @pytest.fixture
    def settings(self, database_url: str) -> Settings:
        return make_settings(database_url, max_people_per_account=3)

    async def test_a_new_person_beyond_the_cap_is_refused_and_nothing_is_stored(
        self,
        client: httpx.AsyncClient,
        ctx: Context,
        citizen: dict[str, str],
        other_citizen: dict[str, str],
    ) -> None:
        for number in range(3):
            answer = await declare(client, citizen, dependant(number), f"kid-{number}")
            assert answer.status_code == 201, answer.text

        refused = await declare(client, citizen, dependant(3), "kid-3", **{"Accept-Language": "vi"})
        problem = assert_problem(refused, 409)
        assert problem["code"] == "too_many_people"
        assert problem["title"] == "Tài khoản đã khai cho quá nhiều người"
        assert await count_declarations(ctx) == 3
        people = (await client.get("/v1/people", headers=citizen)).json()["items"]
        assert len(people) == 3

        # The people already on the account still declare; other accounts are not affected.
        again = await declare(client, citizen, dependant(0), "kid-0-again")
        assert again.status_code == 201, again.text
        elsewhere = await declare(client, other_citizen, dependant(3), "other-kid-3")
        assert elsewhere.status_code == 201, elsewhere.text

    async def test_the_offline_queue_answers_the_item_beyond_the_cap_alone(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        items = [
            {"idempotency_key": f"q-{index}", "declaration": dependant(number)}
            for index, number in enumerate((0, 1, 2, 3, 0))
        ]
        answer = await client.post("/v1/declarations/batch", json={"items": items}, headers=citizen)
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        assert [r["status_code"] for r in results] == [201, 201, 201, 409, 201]
        assert results[3]["error"]["code"] == "too_many_people"
        assert results[4]["replayed"] is False
        assert await count_declarations(ctx) == 4


class TestOfflineQueue:
    async def test_each_item_is_answered_on_its_own(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        wrong_ward = declaration(address={"province": 79, "ward": 70, "street": "1 Lê Lợi"})
        items = [
            {"idempotency_key": "q-1", "declaration": declaration(symptoms=["fever"])},
            {"idempotency_key": "q-2", "declaration": wrong_ward},
            {"idempotency_key": "q-1", "declaration": declaration(symptoms=["fever"])},
            {"idempotency_key": "q 4", "declaration": declaration()},
            {"idempotency_key": "q-5", "declaration": child_declaration()},
            {"idempotency_key": "q-1", "declaration": declaration()},
        ]
        answer = await client.post(
            "/v1/declarations/batch",
            json={"items": items},
            headers={**citizen, "Accept-Language": "vi"},
        )
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        assert [r["status_code"] for r in results] == [201, 422, 201, 400, 201, 409]
        assert [r["idempotency_key"] for r in results] == ["q-1", "q-2", "q-1", "q 4", "q-5", "q-1"]
        assert results[2]["replayed"] is True
        assert results[2]["declaration"] == results[0]["declaration"]
        assert results[1]["error"]["code"] == "validation_failed"
        assert results[1]["error"]["title"] == "Một số trường không hợp lệ"
        assert [e["field"] for e in results[1]["error"]["errors"]] == ["address.ward"]
        assert results[3]["error"]["code"] == "idempotency_key_invalid"
        assert results[5]["error"]["code"] == "idempotency_key_reused"
        # A problem without field errors leaves `errors` out, as the same request alone does.
        alone = await client.post(
            "/v1/declarations", json=declaration(), headers={**citizen, "Idempotency-Key": "q-1"}
        )
        assert alone.status_code == 409
        assert "errors" not in alone.json()
        assert "errors" not in results[3]["error"]
        assert set(results[5]["error"]) == set(alone.json())
        assert await count_declarations(ctx) == 2

    @pytest.mark.parametrize(
        "key",
        [
            "Nguyễn Văn An",
            "<script>alert(1)</script>",
            "line\nbreak\u0000",
            "k" * 120 + "é" * 8,
        ],
    )
    async def test_an_invalid_key_is_answered_as_sent_so_the_phone_knows_its_item(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str], key: str
    ) -> None:
        items = [
            {"idempotency_key": "ok-1", "declaration": declaration()},
            {"idempotency_key": key, "declaration": child_declaration()},
        ]
        answer = await client.post(
            "/v1/declarations/batch",
            content=json.dumps({"items": items}),  # the NUL escaped, as JSON sends it
            headers={**citizen, "Content-Type": "application/json"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/json"
        ok, refused = answer.json()["results"]
        assert (ok["index"], ok["idempotency_key"], ok["status_code"]) == (0, "ok-1", 201)
        assert (refused["index"], refused["idempotency_key"]) == (1, key)
        assert refused["status_code"] == 400
        assert refused["error"]["code"] == "idempotency_key_invalid"
        assert await count_declarations(ctx) == 1

    @pytest.mark.parametrize("key", ["k" * 129, "\ud800"])
    async def test_a_key_no_string_can_be_or_past_128_fails_the_batch_naming_its_item(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str], key: str
    ) -> None:
        items = [
            {"idempotency_key": "ok-1", "declaration": declaration()},
            {"idempotency_key": key, "declaration": child_declaration()},
        ]
        answer = await client.post(
            "/v1/declarations/batch",
            content=json.dumps({"items": items}),
            headers={**citizen, "Content-Type": "application/json"},
        )
        assert answer.status_code == 422
        problem = answer.json()
        assert [e["field"] for e in problem["errors"]] == ["items.1.idempotency_key"]
        assert "k" * 129 not in answer.text
        assert await count_declarations(ctx) == 0

    async def test_a_queued_declaration_sent_again_alone_is_not_counted_twice(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        body = declaration()
        items = [{"idempotency_key": "offline-7", "declaration": body}]
        queued = await client.post("/v1/declarations/batch", json={"items": items}, headers=citizen)
        alone = await declare(client, citizen, body, "offline-7")
        assert alone.status_code == 201
        assert alone.json() == queued.json()["results"][0]["declaration"]
        assert await count_declarations(ctx) == 1

    async def test_a_full_queue_larger_than_a_single_declaration_limit_is_accepted(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        trip = declaration()["travel"]["domestic"][0]
        body = declaration(travel={"countries": ["SG", "TH"], "domestic": [trip] * 30})
        items = [{"idempotency_key": f"big-{n}", "declaration": body} for n in range(50)]
        content = httpx.Request("POST", "/", json={"items": items}).content
        assert len(content) > ctx.settings.max_body_bytes
        answer = await client.post(
            "/v1/declarations/batch", content=content, headers={**citizen, **_JSON}
        )
        assert answer.status_code == 200, answer.text[:300]
        # The queue is taken whole; one person's items beyond the day's limit (a flood,
        # tests/declarations/test_floods.py) are refused one by one.
        limit = ctx.settings.declarations_per_person_per_day
        statuses = [r["status_code"] for r in answer.json()["results"]]
        assert statuses == [201] * limit + [429] * (50 - limit)
        assert await count_declarations(ctx) == limit

    async def test_a_queue_over_its_own_limit_is_refused(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        body = declaration()
        body["address"]["street"] = "x" * (1536 * 1024)
        items = [{"idempotency_key": "huge", "declaration": body}]
        answer = await client.post("/v1/declarations/batch", json={"items": items}, headers=citizen)
        assert assert_problem(answer, 413)["code"] == "payload_too_large"
        assert await count_declarations(ctx) == 0

    async def test_more_than_fifty_items_is_refused_whole(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        items = [{"idempotency_key": f"n-{n}", "declaration": {}} for n in range(51)]
        answer = await client.post("/v1/declarations/batch", json={"items": items}, headers=citizen)
        assert_problem(answer, 422)
        assert await count_declarations(ctx) == 0


_JSON = {"Content-Type": "application/json"}
