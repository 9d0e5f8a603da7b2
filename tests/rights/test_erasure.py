"""Erasure checked where the data lives: the SQLite database files (and WAL) on disk, and
every collection of the store (SQLite or the MongoDB adapter); `DELETE /v1/me`, which
erases the account, all its people and what waits to be sent to its phone; and what the
account's access token, still valid for its minutes, can no longer store."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from core.context import Context
from core.settings import Settings
from core.storage import Delete, Operation
from declarations import service as declaration_service
from notifications.outbox import new_notification
from questions import asking as question_service
from tests.checkpoints.helpers import account_id, new_checkpoint, scan, staff_headers
from tests.conftest import sign_in_citizen
from tests.declarations.conftest import child_declaration, declaration
from tests.monitoring.conftest import person_under_follow_up
from tests.rights.conftest import (
    CHILD_ID_NUMBER,
    CHILD_NAME,
    FULL_NAME,
    ID_NUMBER,
    PHONE,
    STREET,
    assert_problem,
    declare,
    everything_stored,
    family,
)

ACCOUNT_PHONE = "+84900000001"


def _database(settings: Settings) -> Path:
    return Path(settings.database_url.removeprefix("sqlite:///"))


def _database_files(settings: Settings) -> list[Path]:
    """The database file and its WAL and shared-memory files, whatever is there now."""
    path = _database(settings)
    return [p for p in path.parent.iterdir() if p.name.startswith(path.name)]


@pytest.mark.skipif(
    os.environ.get("KHAIBAO_TEST_BACKEND") == "mongo", reason="database files are SQLite's"
)
class TestDatabaseFiles:
    async def test_an_erased_child_is_in_no_byte_of_the_database_files(
        self, settings: Settings
    ) -> None:
        app: FastAPI = create_app(settings)
        async with app.router.lifespan_context(app):
            ctx: Context = app.state.context
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                parent = await sign_in_citizen(client)
                home = await family(ctx, client, parent)
                child = await ctx.store.get("people", home.child_id)
                assert child is not None
                traces = [home.child_id, child["name_enc"], child["id_number_enc"]]
                [declared] = await ctx.store.find("declarations", {"person_id": home.child_id})
                traces.append(declared["street_enc"])
                # While running: the WAL holds the child's pages too (a sanity check that
                # the search below can find what is there).
                files = b"".join(p.read_bytes() for p in _database_files(settings))
                assert home.child_id.encode() in files
                # Copied into the database file itself, as a running server's checkpoints do.
                db = sqlite3.connect(_database(settings))
                try:
                    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                finally:
                    db.close()
                erased = await client.delete(f"/v1/people/{home.child_id}", headers=parent)
                assert erased.status_code == 204
                stored = await everything_stored(ctx)
                for trace in traces:
                    assert trace not in stored
                assert home.parent_id in stored
        files = b"".join(p.read_bytes() for p in _database_files(settings))
        for trace in [*traces, CHILD_NAME, CHILD_ID_NUMBER, STREET]:
            assert trace.encode() not in files, trace
        assert home.parent_id.encode() in files  # the parent stays


@pytest.fixture
def relay_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's outbox relay idle (its next sweep 5 minutes away): messages these tests put
    in the outbox by hand stay pending until the erasure, instead of being sent, and failed,
    by a sweep that a slow machine lets in between (seen once on the MongoDB stand-in)."""
    monkeypatch.setenv("KHAIBAO_NOTIFY_RELAY_SECONDS", "300")


@pytest.mark.usefixtures("relay_idle")
class TestErasingTheAccount:
    async def test_the_account_its_people_and_waiting_messages_are_gone(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        parent = await sign_in_citizen(client, ACCOUNT_PHONE)
        home = await family(ctx, client, parent)
        # A question asked: its audit entry must not keep the account's id either.
        asked = await client.post("/v1/questions", json=QUESTION, headers=parent)
        assert asked.status_code == 201, asked.text
        # Messages waiting to be sent: one to the account's phone, one to the parent's own.
        waiting = []
        for phone in (ACCOUNT_PHONE, PHONE):
            notification_id, insert = new_notification(
                ctx.cipher, kind="status_change", phone=phone, locale="vi", params={"s": "red"}
            )
            await ctx.store.write([insert])
            waiting.append(notification_id)
        account = await ctx.store.get("accounts", account_id(parent))
        assert account is not None
        people = [await ctx.store.get("people", p) for p in (home.parent_id, home.child_id)]
        traces = [home.parent_id, home.child_id, account["phone_enc"], account["_id"]]
        traces += [p["name_enc"] for p in people if p] + [p["id_number_enc"] for p in people if p]

        erased = await client.delete("/v1/me", headers=parent)
        assert erased.status_code == 204, erased.text

        for notification_id in waiting:
            message = await ctx.store.get("notifications", notification_id)
            assert message is not None
            assert message["state"] == "cancelled"
            assert message["to_enc"] is None
            assert message["params_enc"] is None
        again = await scan(client, home.staff, home.checkpoint["id"], home.child_code)
        assert again["decision"] == "deny"
        stored = await everything_stored(ctx)
        for trace in [*traces, FULL_NAME, ID_NUMBER, PHONE, ACCOUNT_PHONE]:
            assert trace not in stored
        audit = await ctx.store.find("audit_log", {"action": "rights.account_erased"})
        assert [(a["user"], a["params"]) for a in audit] == [(None, {"people": 2})]
        # Idempotent: nothing left, still a 204.
        assert (await client.delete("/v1/me", headers=parent)).status_code == 204
        assert (await client.get("/v1/me/export", headers=parent)).json()["people"] == []


@pytest.mark.usefixtures("relay_idle")
class TestMessagesAboutADependant:
    async def test_erasing_a_child_cancels_what_waits_about_it_on_the_parents_phone(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        parent = await sign_in_citizen(client, ACCOUNT_PHONE)
        home = await family(ctx, client, parent)
        ids = {}
        for who in (home.child_id, home.parent_id):
            ids[who], insert = new_notification(
                ctx.cipher,
                kind="status_change",
                phone=ACCOUNT_PHONE,
                locale="vi",
                params={"s": "yellow"},
                about=who,
            )
            await ctx.store.write([insert])
        erased = await client.delete(f"/v1/people/{home.child_id}", headers=parent)
        assert erased.status_code == 204
        about_child = await ctx.store.get("notifications", ids[home.child_id])
        about_parent = await ctx.store.get("notifications", ids[home.parent_id])
        assert about_child is not None
        assert about_parent is not None
        assert about_child["state"] == "cancelled"
        assert about_child["to_enc"] is None
        assert about_child["person_id"] is None
        # The parent's own message still goes out.
        assert about_parent["state"] == "pending"
        assert about_parent["to_enc"] is not None


QUESTION = {"kind": "question", "category": "qr_code", "title": "Mã QR ở đâu?", "body": "Ở đâu?"}


class TestATokenThatOutlivesItsAccount:
    """An access token lives its minutes after `DELETE /v1/me`: a phone's queued writes sent
    with it must not store data under the erased account that nobody could see or erase."""

    async def test_declarations_and_questions_are_refused_and_nothing_is_stored(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client, ACCOUNT_PHONE)
        account = account_id(citizen)
        person_id = await declare(client, citizen, declaration())
        assert (await client.delete("/v1/me", headers=citizen)).status_code == 204

        # The same person again (gone, so new to the account) and a dependant never declared.
        for n, (body, lang, title) in enumerate(
            [(declaration(), "vi", "Tài khoản đã bị xoá"), (child_declaration(), "fr", None)]
        ):
            headers = {**citizen, "Idempotency-Key": f"after-{n}", "Accept-Language": lang}
            refused = await client.post("/v1/declarations", json=body, headers=headers)
            problem = assert_problem(refused, 401)
            assert problem["code"] == "account_erased"
            assert refused.headers["WWW-Authenticate"] == "Bearer"
            assert problem["title"] == (title or "Compte supprimé")
        # The offline queue, item by item.
        items = [
            {"idempotency_key": "queued-1", "declaration": declaration()},
            {"idempotency_key": "queued-2", "declaration": child_declaration()},
        ]
        batch = await client.post("/v1/declarations/batch", json={"items": items}, headers=citizen)
        assert batch.status_code == 200, batch.text
        results = batch.json()["results"]
        assert [(r["status_code"], r["error"]["code"]) for r in results] == [
            (401, "account_erased")
        ] * 2
        asked = await client.post("/v1/questions", json=QUESTION, headers=citizen)
        assert assert_problem(asked, 401)["code"] == "account_erased"

        for collection in ("accounts", "people", "declarations", "idempotency", "questions"):
            assert await ctx.store.count(collection, {}) == 0, collection
        stored = await everything_stored(ctx)
        assert account not in stored
        assert person_id not in stored
        # Signing in again opens the account anew (the same id: it is derived from the
        # phone), and it declares as any account does.
        again = await sign_in_citizen(client, ACCOUNT_PHONE)
        assert account_id(again) == account
        assert await declare(client, again, declaration())

    async def test_a_first_write_whose_account_check_passed_just_before_the_erasure_stores_nothing(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The account read finds the account, then `DELETE /v1/me` takes it, then the write
        commits: the write itself must fail, not store a person or a question under the
        erased id. (The read is made to pass as it did before the erasure.)"""
        citizen = await sign_in_citizen(client, ACCOUNT_PHONE)
        assert (await client.delete("/v1/me", headers=citizen)).status_code == 204

        async def read_before_the_erasure(ctx: Context, citizen: object) -> None:
            return None

        monkeypatch.setattr(declaration_service, "ensure_account_exists", read_before_the_erasure)
        monkeypatch.setattr(question_service, "ensure_account_exists", read_before_the_erasure)
        headers = {**citizen, "Idempotency-Key": "late-1", "Accept-Language": "vi"}
        declared = await client.post("/v1/declarations", json=declaration(), headers=headers)
        problem = assert_problem(declared, 401)
        assert (problem["code"], problem["title"]) == ("account_erased", "Tài khoản đã bị xoá")
        asked = await client.post("/v1/questions", json=QUESTION, headers=citizen)
        assert assert_problem(asked, 401)["code"] == "account_erased"
        for collection in ("accounts", "people", "declarations", "idempotency", "questions"):
            assert await ctx.store.count(collection, {}) == 0, collection

    async def test_a_person_declared_while_the_erasure_runs_is_erased_with_the_account(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A child's first declaration commits after `DELETE /v1/me` has read the account but
        before it took it: the erasure must still find and erase the child."""
        citizen = await sign_in_citizen(client, ACCOUNT_PHONE)
        await declare(client, citizen, declaration())
        write = ctx.store.write
        raced: list[int] = []

        async def declaration_lands_first(ops: Sequence[Operation]) -> list[int]:
            takes_account = any(
                isinstance(op, Delete) and op.collection == "accounts" for op in ops
            )
            if takes_account and not raced:
                headers = {**citizen, "Idempotency-Key": "racing"}
                answer = await client.post(
                    "/v1/declarations", json=child_declaration(), headers=headers
                )
                raced.append(answer.status_code)
            return await write(ops)

        monkeypatch.setattr(ctx.store, "write", declaration_lands_first)
        assert (await client.delete("/v1/me", headers=citizen)).status_code == 204
        assert raced == [201]
        for collection in ("accounts", "people", "declarations", "idempotency"):
            assert await ctx.store.count(collection, {}) == 0, collection

    async def test_writes_for_its_erased_people_are_404_and_store_nothing(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id, episode = await person_under_follow_up(ctx, client)
        account = account_id(citizen)
        checkpoint = await new_checkpoint(ctx, client)
        admin = await staff_headers(ctx, "admin")
        created = await client.post("/v1/organisations", json={"name": "Công ty A"}, headers=admin)
        assert created.status_code == 201, created.text
        assert (await client.delete("/v1/me", headers=citizen)).status_code == 204

        visit = {"venue_token": checkpoint["venue_token"], "person_id": person_id}
        consent = {"person_id": person_id, "organisation_id": created.json()["id"], "days": 7}
        for refused in (
            await client.post("/v1/checkins", json=visit, headers=citizen),
            await client.post("/v1/consents", json=consent, headers=citizen),
            await client.post(
                f"/v1/monitoring/{episode['id']}/reports",
                json={"temperature": 36.8},
                headers=citizen,
            ),
            await client.get(f"/v1/people/{person_id}/qr", headers=citizen),
        ):
            assert_problem(refused, 404)
        for collection in (
            "people",
            "checkins",
            "consents",
            "monitoring_episodes",
            "monitoring_reports",
        ):
            assert await ctx.store.count(collection, {}) == 0, collection
        # The venue's poster code is the only code there is.
        assert await ctx.store.count("qr_tokens", {"person_id": person_id}) == 0
        stored = await everything_stored(ctx)
        assert account not in stored
        assert person_id not in stored
