"""A declaration's (and a scan's) counters leave its transaction and are folded in after
(issue 26, finding 4; `reports.folding`).

The declaration's batch stores its counter steps as one pending record; a fold adds them to
`report_counters`. Here the process's own fold after the commit is replaced by a recorder
and the periodic fold is an hour away, as if the process died right after its commit: what
it left must be counted by the next fold, once, and a report read at once must see it.
Where the process does fold, the store asks for it after the commit, with no write asking.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from core.clock import local_day, utcnow
from core.context import Context
from core.settings import Settings
from core.storage import Operation, PreconditionFailed, Update
from reports import repository
from reports.arrivals_monitoring import arrival_report
from reports.counters import InlineCounting, count_declaration
from reports.folding import Folding, fold, fold_pending, pending_steps
from reports.service import DeclarationQuery, declaration_counts
from reports.suppression import rounding_for
from tests.checkpoints.helpers import (
    create_person,
    new_checkpoint,
    person_token,
    scan,
    staff_for,
)
from tests.conftest import make_settings, sign_in_citizen, sign_in_staff
from tests.declarations.conftest import declaration
from tests.entry.conftest import NOI_BAI, arrive, family, submit
from tests.mongo_standin import MongoStandin

WARD = "1|70"  # the form's address: Hà Nội, ward 70
STANDIN_ONLY = pytest.mark.skipif(
    os.environ.get("KHAIBAO_TEST_BACKEND") != "mongo"
    or bool(os.environ.get("KHAIBAO_TEST_MONGODB_URL")),
    reason="reads the MongoDB stand-in's command log",
)


class KicksOnly:
    """In place of the process's folding: every write's steps wait as a pending record (the
    path of a store whose transactions can conflict, MongoDB's, here on either adapter);
    notes each kick the store gives after a commit, folds nothing (the process died right
    after its commit)."""

    def __init__(self) -> None:
        self.kicks = 0

    def steps(self, steps: Iterable[Update], *, now: datetime) -> list[Operation]:
        return [*pending_steps(steps, now=now)]

    def kick(self) -> None:
        self.kicks += 1

    async def aclose(self) -> None:
        return None


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, counter_fold_seconds=3600)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        ctx: Context = application.state.context
        await ctx.counters.aclose()
        ctx.counters = KicksOnly()
        yield application


@pytest.fixture
async def citizen(client: httpx.AsyncClient) -> dict[str, str]:
    return await sign_in_citizen(client)


async def declare(
    client: httpx.AsyncClient, citizen: dict[str, str], *symptoms: str, id_number: str = ""
) -> str:
    """One declaration (with `id_number`, for a family member: the account holder is one
    person); its status."""
    body = declaration(symptoms=list(symptoms))
    if id_number:
        body["person"].update(id_number=id_number, relation="child")
    sent = await client.post(
        "/v1/declarations", json=body, headers={**citizen, "Idempotency-Key": uuid.uuid4().hex}
    )
    assert sent.status_code == 201, sent.text
    status: str = sent.json()["status"]
    return status


def today() -> str:
    return local_day(utcnow()).isoformat()


async def cells(ctx: Context) -> dict[str, int]:
    """Today's declaration cells of the ward, as stored: status → n."""
    found = await ctx.store.find("report_counters", {"kind": "declarations", "day": today()})
    return {str(doc["status"]): int(doc["n"]) for doc in found}


async def pending(ctx: Context) -> list[dict[str, Any]]:
    return await repository.pending_counter_steps(ctx.store, limit=100)


class TestTheDeclarationsTransactionWritesNoCounter:
    async def test_its_counts_wait_as_one_pending_record_until_a_fold(
        self, ctx: Context, client: httpx.AsyncClient, citizen: dict[str, str]
    ) -> None:
        status = await declare(client, citizen)
        assert await cells(ctx) == {}
        records = await pending(ctx)
        assert len(records) == 1
        assert f"decl|{today()}|{WARD}|{status}" in {s["id"] for s in records[0]["steps"]}
        assert isinstance(ctx.counters, KicksOnly)
        assert ctx.counters.kicks == 1

        # The process died before its fold: the next fold, anyone's, counts it.
        assert await fold_pending(ctx.store) == 1
        assert await cells(ctx) == {status: 1}
        assert await pending(ctx) == []

    @STANDIN_ONLY
    async def test_on_mongodb_the_commit_spans_no_counter_document(
        self,
        ctx: Context,
        client: httpx.AsyncClient,
        citizen: dict[str, str],
        mongo_standin: MongoStandin,
    ) -> None:
        mongo_standin.backend.clear_log()
        await declare(client, citizen)
        batches = [
            {ns["ns"].partition(".")[2] for ns in command.get("nsInfo", [])}
            for command in list(mongo_standin.backend.log)
            if "bulkWrite" in command
        ]
        declaring = [names for names in batches if "declarations" in names]
        assert len(declaring) == 1
        assert "counter_steps" in declaring[0]
        assert "report_counters" not in declaring[0]
        assert "report_rollups" not in declaring[0]

    @STANDIN_ONLY
    async def test_on_mongodb_a_burst_in_one_ward_commits_without_a_conflict(
        self,
        ctx: Context,
        client: httpx.AsyncClient,
        citizen: dict[str, str],
        mongo_standin: MongoStandin,
    ) -> None:
        # Before, each declaration incremented the ward's cell in its transaction: in a burst
        # they conflicted on it (WriteConflict) and were run again, several times each. The
        # people are declared once first: a new person's batch also checks the account is
        # still there (rights.erasure), a document one account's first declarations share.
        people = [f"0011900{n:05d}" for n in range(8)]
        for n in people:
            await declare(client, citizen, id_number=n)
        await fold_pending(ctx.store)
        mongo_standin.backend.clear_log()
        await asyncio.gather(*(declare(client, citizen, "fever", id_number=n) for n in people))
        log = list(mongo_standin.backend.log)
        # The declarations' transactions only: the app's own background work (the outbox
        # relay, for one) may commit transactions of its own meanwhile.
        declaring = {_transaction(c) for c in log if _writes(c, "declarations")}
        ended = [next(iter(c)) for c in log if _transaction(c) in declaring]
        assert len(declaring) == len(people)
        assert ended.count("commitTransaction") == len(people)
        assert ended.count("abortTransaction") == 0
        await fold_pending(ctx.store)
        assert sum((await cells(ctx)).values()) == len(people)


def _transaction(command: dict[str, Any]) -> tuple[str, object]:
    """The transaction a logged command belongs to: its session and transaction number."""
    return repr(command.get("lsid")), command.get("txnNumber")


def _writes(command: dict[str, Any], collection: str) -> bool:
    """Whether a logged bulkWrite writes to `collection` (of any database)."""
    spaces = command.get("nsInfo") or []
    return any(str(space.get("ns", "")).endswith(f".{collection}") for space in spaces)


class TestEachStepCountsOnce:
    async def test_two_folds_of_the_same_records_count_them_once(
        self, ctx: Context, client: httpx.AsyncClient, citizen: dict[str, str]
    ) -> None:
        status = await declare(client, citizen)
        records = await pending(ctx)
        await fold(ctx.store, records)
        # A second fold that read the same records before the first committed: refused whole.
        with pytest.raises(PreconditionFailed):
            await fold(ctx.store, records)
        assert await cells(ctx) == {status: 1}

    async def test_folds_racing_each_other_count_every_declaration_once(
        self, ctx: Context, client: httpx.AsyncClient, citizen: dict[str, str]
    ) -> None:
        people = [f"0011900{n:05d}" for n in range(4)]
        statuses = [await declare(client, citizen, id_number=number) for number in people]
        await asyncio.gather(*(fold_pending(ctx.store) for _ in range(3)))
        expected: dict[str, int] = {}
        for status in statuses:
            expected[status] = expected.get(status, 0) + 1
        assert await cells(ctx) == expected
        assert await pending(ctx) == []

    async def test_a_person_moved_to_another_cell_leaves_the_first_empty_in_any_fold_order(
        self, ctx: Context, client: httpx.AsyncClient, citizen: dict[str, str]
    ) -> None:
        first = await declare(client, citizen)
        second = await declare(client, citizen, "fever")
        assert first != second
        older, newer = sorted(await pending(ctx), key=lambda r: str(r["created_at"]))
        # The step down of the second declaration folded before the first's step up.
        await fold(ctx.store, [newer])
        assert await cells(ctx) == {first: -1, second: 1}
        await fold(ctx.store, [older])
        assert await cells(ctx) == {second: 1}  # the first cell is gone, not left at 0


class TestARecordExpiresOnlyOnceFolded:
    async def test_a_pending_record_outlives_any_expiry_and_a_folded_one_goes(
        self, ctx: Context, client: httpx.AsyncClient, citizen: dict[str, str]
    ) -> None:
        status = await declare(client, citizen)
        await ctx.store.purge_expired(utcnow() + timedelta(days=400))
        assert len(await pending(ctx)) == 1
        await fold_pending(ctx.store)
        await ctx.store.purge_expired(utcnow() + timedelta(hours=2))
        assert await ctx.store.count("counter_steps", {}) == 0
        assert await cells(ctx) == {status: 1}


class TestAScanCountsTheSameWay:
    async def test_a_scans_transaction_leaves_the_gates_cell_to_the_fold(
        self, ctx: Context, client: httpx.AsyncClient, citizen: dict[str, str]
    ) -> None:
        sent = await client.post(
            "/v1/declarations",
            json=declaration(),
            headers={**citizen, "Idempotency-Key": uuid.uuid4().hex},
        )
        person_id = sent.json()["person_id"]
        token = await person_token(client, citizen, person_id)
        checkpoint = await new_checkpoint(ctx, client)
        staff = await staff_for(ctx, client, checkpoint["id"])
        await fold_pending(ctx.store)  # the declaration's steps: what is left is the scan's
        decision = (await scan(client, staff, checkpoint["id"], token))["decision"]
        cell = f"cp|{today()}|{checkpoint['id']}|scan|{decision}"
        assert await ctx.store.get("report_counters", cell) is None
        assert [s["id"] for r in await pending(ctx) for s in r["steps"]] == [cell]
        await fold_pending(ctx.store)
        counter = await ctx.store.get("report_counters", cell)
        assert counter is not None
        assert counter["n"] == 1


class TestArrivalsAndMonitoringCountTheSameWay:
    async def test_an_arrivals_transaction_leaves_its_cells_to_the_fold_a_report_runs(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        """A family arriving with a fever: three travellers at the gate and, once scanned
        in, a monitoring episode opened, all counted by the fold, none in the
        declaration's or the scan's transaction."""
        sent = await submit(client, family(symptoms=["fever"]))
        await arrive(ctx, client, sent)
        status = sent.json()["status"]
        counted = await ctx.store.find("report_counters", {})
        assert [d["_id"] for d in counted if d["kind"] in ("arrivals", "monitoring")] == []
        waiting = sorted(s["id"].split("|")[0] for r in await pending(ctx) for s in r["steps"])
        assert waiting == ["arr", "cp", "mon"]  # the border scan counts at its checkpoint

        day = date.fromisoformat(today())
        rounding = rounding_for(ctx.settings)
        await arrival_report(ctx.store, day, day, ("nationality",), 1, rounding)
        assert await pending(ctx) == []
        gate = await ctx.store.get("report_counters", f"arr|{today()}|{NOI_BAI}|KR|{status}")
        assert gate is not None
        assert gate["n"] == 3


class TestTracingCountsTheSameWay:
    async def test_a_confirmed_case_leaves_its_contacts_episodes_to_a_fold_asked_for_at_once(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        """The contacts' monitoring episodes are counted by the fold, which the store asks
        for once the batch carrying their steps commits, like any other write with steps
        (not an hour later)."""
        people = await two_at_the_market(ctx, client)
        await fold_pending(ctx.store)
        assert isinstance(ctx.counters, KicksOnly)
        kicks = ctx.counters.kicks

        assert await confirm_case(ctx, client, people[0]) == 1
        waiting = [s["id"].split("|")[0] for r in await pending(ctx) for s in r["steps"]]
        assert waiting == ["mon"]
        assert ctx.counters.kicks > kicks


async def two_at_the_market(ctx: Context, client: httpx.AsyncClient) -> list[str]:
    """Two people scanned in at the same market: each other's contacts; their ids."""
    market = await new_checkpoint(ctx, client, name="Chợ Hàng Da", kind="market")
    staff = await staff_for(ctx, client, market["id"])
    people = []
    for phone in ("+84900000001", "+84900000002"):
        citizen = await sign_in_citizen(client, phone)
        person_id = await create_person(client, citizen)
        token = await person_token(client, citizen, person_id)
        assert (await scan(client, staff, market["id"], token))["decision"] == "allow"
        people.append(person_id)
    return people


async def confirm_case(ctx: Context, client: httpx.AsyncClient, person_id: str) -> int:
    """A health officer confirms the person a case; how many contacts were traced."""
    officer = await sign_in_staff(ctx, client, "health_officer")
    confirmed = await client.post("/v1/cases", json={"person_id": person_id}, headers=officer)
    assert confirmed.status_code == 201, confirmed.text
    contacts: int = confirmed.json()["contacts"]
    return contacts


async def eventually(check: Callable[[], Awaitable[bool]]) -> bool:
    """Whether `check` comes true within a generous ten seconds (a fold is due 0.2 s after
    its kick; a slow machine gets fifty times that)."""
    for _ in range(200):
        if await check():
            return True
        await asyncio.sleep(0.05)
    return await check()


class TestTheStoreAsksForTheFold:
    """No write asks for the fold of its steps: the store does, once the batch that left
    them pending has committed (`Store.after_insert`, which the runtime hangs the process's
    fold on). Here the process folds for real, on either adapter, and its periodic fold never
    runs: only that request can count the steps. The counters are read as stored, since a
    report would fold before it reads."""

    @pytest.fixture
    def folding(self, ctx: Context) -> Folding:
        folding = Folding(ctx.store, every=3600)  # not started: no periodic fold at all
        ctx.counters = folding  # closed with the context
        return folding

    async def test_a_declaration_is_counted_a_moment_after_it_is_acknowledged(
        self, ctx: Context, client: httpx.AsyncClient, citizen: dict[str, str], folding: Folding
    ) -> None:
        status = await declare(client, citizen)

        async def counted() -> bool:
            return await cells(ctx) == {status: 1}

        assert await eventually(counted)
        assert await pending(ctx) == []

    async def test_a_confirmed_cases_contacts_are_counted_under_monitoring(
        self, ctx: Context, client: httpx.AsyncClient, folding: Folding
    ) -> None:
        """Tracing writes monitoring's steps in its own batch: the write that once forgot
        to ask for their fold."""
        people = await two_at_the_market(ctx, client)
        await fold_pending(ctx.store)
        assert await confirm_case(ctx, client, people[0]) == 1

        async def counted() -> bool:
            found = await ctx.store.find("report_counters", {"kind": "monitoring"})
            return [(d["reason"], d["event"], d["n"]) for d in found] == [("contact", "start", 1)]

        assert await eventually(counted)
        assert await pending(ctx) == []

    async def test_a_batch_that_fails_its_precondition_asks_for_no_fold(self, ctx: Context) -> None:
        assert isinstance(ctx.counters, KicksOnly)
        now = utcnow()
        steps = ctx.counters.steps(
            count_declaration(local_day(now), 1, 70, "green", ["fever"]), now=now
        )
        taken = repository.mark_folded("cst_taken_by_another_fold", expires_at=now)
        with pytest.raises(PreconditionFailed):
            await ctx.store.write([*steps, taken])
        assert ctx.counters.kicks == 0
        assert await pending(ctx) == []
        await ctx.store.write(steps)  # the same steps in a batch that commits
        assert ctx.counters.kicks == 1


class TestAReportReadAtOnceSeesTheDeclaration:
    async def test_the_report_folds_what_is_pending_before_it_reads(
        self, ctx: Context, client: httpx.AsyncClient, citizen: dict[str, str]
    ) -> None:
        status = await declare(client, citizen)
        day = date.fromisoformat(today())
        counts = await declaration_counts(
            ctx.store,
            DeclarationQuery(day, day, ("status",)),
            now=utcnow(),
            rounding=rounding_for(ctx.settings),
            exact=True,
        )
        assert dict(counts) == {(status,): 1}


@pytest.mark.skipif(
    os.environ.get("KHAIBAO_TEST_BACKEND") == "mongo", reason="SQLite commits one at a time"
)
class TestOnAStoreThatCommitsOneAtATimeStepsGoInline:
    """SQLite's one writer commits a group of writes at a time: no two transactions can
    conflict on a cell, so a declaration's steps go in its own batch and nothing is left to
    fold (a pending record and its fold cost a submit ≈ 70 µs of CPU, a scan ≈ 68 µs)."""

    async def test_a_declaration_counts_at_once_and_a_moved_person_leaves_no_empty_cell(
        self, ctx: Context, client: httpx.AsyncClient, citizen: dict[str, str]
    ) -> None:
        assert ctx.store.serialises_writes
        ctx.counters = InlineCounting()  # what the runtime gives SQLite, not the recorder
        first = await declare(client, citizen)
        assert await cells(ctx) == {first: 1}
        second = await declare(client, citizen, "fever")
        assert first != second
        assert await cells(ctx) == {second: 1}  # the first cell is gone, not left at 0
        assert await pending(ctx) == []

    async def test_steps_a_version_left_pending_are_counted_at_start(
        self, settings: Settings, client: httpx.AsyncClient, citizen: dict[str, str]
    ) -> None:
        status = await declare(client, citizen)  # left pending by the recorder
        application = create_app(settings)  # a later start of the service, on the same file
        async with application.router.lifespan_context(application):
            ctx: Context = application.state.context
            assert isinstance(ctx.counters, InlineCounting)
            for _ in range(100):
                if not await pending(ctx):
                    break
                await asyncio.sleep(0.02)
            assert await pending(ctx) == []
            assert await cells(ctx) == {status: 1}
