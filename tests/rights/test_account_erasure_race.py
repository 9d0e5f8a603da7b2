"""A first write under an account (a question, a person's first declaration) racing `DELETE
/v1/me`, sent with an access token that outlives the account, leaves nothing behind: it
either lands before the erasure reads what the account holds (and is erased with the rest)
or is refused, 401 `account_erased`. The interleavings are forced, not hoped for: the write
sent from inside the erasure, once the account is gone and before it reads the questions
and people; and, on MongoDB, the write's transaction left open on the account while the
erasure tries to take it (SQLite commits one batch at a time, so two are never open)."""

from __future__ import annotations

import asyncio
import contextvars
import os
from collections.abc import Awaitable, Callable

import httpx
import pytest
from pymongo.asynchronous.client_session import AsyncClientSession

from core.context import Context
from core.storage import Document, Store
from declarations import service as declaration_service
from questions import asking as question_service
from questions import repository as questions_repository
from tests.checkpoints.helpers import account_id
from tests.conftest import sign_in_citizen
from tests.declarations.conftest import child_declaration, declaration
from tests.rights.conftest import assert_problem, declare, everything_stored

PHONE = "+84900000001"
QUESTION = {"kind": "question", "category": "qr_code", "title": "Mã QR ở đâu?", "body": "Ở đâu?"}

# Which side of the race a MongoDB transaction belongs to (the tasks each side runs in).
_RACER: contextvars.ContextVar[str] = contextvars.ContextVar("racer", default="")

Attempt = Callable[[httpx.AsyncClient, dict[str, str]], Awaitable[httpx.Response]]


async def _question(client: httpx.AsyncClient, citizen: dict[str, str]) -> httpx.Response:
    # With a key, so its first answer is kept too and must be erased with it.
    headers = {**citizen, "Idempotency-Key": "racing-question"}
    return await client.post("/v1/questions", json=QUESTION, headers=headers)


async def _first_declaration(client: httpx.AsyncClient, citizen: dict[str, str]) -> httpx.Response:
    """A child the account never declared: a new person under the account."""
    headers = {**citizen, "Idempotency-Key": "racing-child"}
    return await client.post("/v1/declarations", json=child_declaration(), headers=headers)


WRITES: dict[str, Attempt] = {"question": _question, "first declaration": _first_declaration}
HELD = ("accounts", "people", "declarations", "idempotency", "questions")


async def _account_with_a_person(client: httpx.AsyncClient) -> dict[str, str]:
    citizen = await sign_in_citizen(client, PHONE)
    await declare(client, citizen, declaration())
    return citizen


async def _nothing_left(ctx: Context, citizen: dict[str, str]) -> None:
    for collection in HELD:
        assert await ctx.store.count(collection, {}) == 0, collection
    assert account_id(citizen) not in await everything_stored(ctx)


def _account_read_before_the_erasure(monkeypatch: pytest.MonkeyPatch) -> None:
    """The write's own read of the account (`ensure_account_exists`) answers as it did just
    before the erasure: only the write's `account_held` can refuse it."""

    async def found(ctx: Context, citizen: object) -> None:
        return None

    monkeypatch.setattr(declaration_service, "ensure_account_exists", found)
    monkeypatch.setattr(question_service, "ensure_account_exists", found)


@pytest.mark.parametrize("write", sorted(WRITES))
class TestAFirstWriteRacingTheAccountsErasure:
    async def test_sent_once_the_account_is_gone_it_is_refused_and_nothing_is_left(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, write: str
    ) -> None:
        """The erasure has taken the account and is about to read its questions and people;
        the write arrives then. Committed, it would be found by none of the reads that were
        made before it (a question's kept first answer is erased from such a list)."""
        citizen = await _account_with_a_person(client)
        _account_read_before_the_erasure(monkeypatch)
        answers: list[httpx.Response] = []
        reads = questions_repository.all_questions_of

        async def with_a_write_before_the_reads(store: Store, asker: str) -> list[Document]:
            if not answers:
                answers.append(await WRITES[write](client, citizen))
            return await reads(store, asker)

        monkeypatch.setattr(questions_repository, "all_questions_of", with_a_write_before_the_reads)
        assert (await client.delete("/v1/me", headers=citizen)).status_code == 204

        assert assert_problem(answers[0], 401)["code"] == "account_erased"
        await _nothing_left(ctx, citizen)

    async def test_landing_before_the_account_is_taken_it_is_erased_with_the_rest(
        self, ctx: Context, client: httpx.AsyncClient, write: str
    ) -> None:
        """The order that needs no precondition, for contrast: the write committed first, so
        the erasure's reads find it."""
        citizen = await _account_with_a_person(client)
        landed = await WRITES[write](client, citizen)
        assert landed.status_code == 201, landed.text
        assert (await client.delete("/v1/me", headers=citizen)).status_code == 204
        await _nothing_left(ctx, citizen)


@pytest.mark.skipif(
    os.environ.get("KHAIBAO_TEST_BACKEND") != "mongo",
    reason="SQLite commits one batch at a time: two transactions are never open at once",
)
@pytest.mark.parametrize("write", sorted(WRITES))
class TestTwoTransactionsOpenOnMongoDB:
    async def test_a_write_open_on_the_account_holds_the_erasure_off_until_it_commits(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, write: str
    ) -> None:
        """The write's transaction has done its work, `account_held` included, and not yet
        committed when `DELETE /v1/me` tries to take the account. Had the write only read
        the account, the erasure would take it and read the questions and people without
        the uncommitted record, which would then commit under the erased id. Writing the
        account makes the erasure's transaction meet a write conflict and run again after
        the write commits, when its reads find the record."""
        citizen = await _account_with_a_person(client)
        commit = AsyncClientSession.commit_transaction
        abort = AsyncClientSession.abort_transaction
        erased: list[asyncio.Task[httpx.Response]] = []
        met = asyncio.Event()  # the erasure's transaction backed off from the open write

        async def commit_once_the_erasure_tried(session: AsyncClientSession) -> None:
            if _RACER.get() == "write" and not erased:  # the write's, ready to commit
                context = contextvars.copy_context()
                context.run(_RACER.set, "erasure")
                delete = client.delete("/v1/me", headers=citizen)
                erased.append(asyncio.create_task(delete, context=context))
                held_off = asyncio.create_task(met.wait())
                # Until the erasure backs off from the account (or, were the account only
                # read, takes it and finishes).
                first = asyncio.FIRST_COMPLETED
                await asyncio.wait({erased[0], held_off}, timeout=10, return_when=first)
                held_off.cancel()
            await commit(session)

        async def abort_and_tell(session: AsyncClientSession) -> None:
            await abort(session)
            if _RACER.get() == "erasure":
                met.set()

        monkeypatch.setattr(AsyncClientSession, "commit_transaction", commit_once_the_erasure_tried)
        monkeypatch.setattr(AsyncClientSession, "abort_transaction", abort_and_tell)
        _RACER.set("write")  # this test's own context: background jobs' transactions lack it
        landed = await WRITES[write](client, citizen)

        assert landed.status_code == 201, landed.text
        assert (await erased[0]).status_code == 204
        await _nothing_left(ctx, citizen)


class TestTheHoldCounter:
    async def test_the_export_never_shows_it(self, client: httpx.AsyncClient) -> None:
        """`account_held` counts on the account document; that is bookkeeping, not data
        about the citizen."""
        citizen = await _account_with_a_person(client)
        assert (await _question(client, citizen)).status_code == 201
        assert (await _first_declaration(client, citizen)).status_code == 201

        export = await client.get("/v1/me/export", headers=citizen)
        assert export.status_code == 200, export.text
        assert set(export.json()["account"]) == {"id", "phone", "created_at"}
        assert "holds" not in export.text
