"""A write that names a person racing that person's erasure (`DELETE /v1/people/{id}`) leaves
nothing behind: a consent, a monitoring episode, a visit or a code either lands before the
erasure reads what is held about the person (and is erased with the rest) or is refused as
for a person that is not there (404). Both interleavings are forced, not hoped for: the
racing request sent from inside the erasure, after its reads and before its batch; and a
request whose read of the person is made to answer as before the erasure, writing after it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from core.context import Context
from core.storage import Document, Operation
from rights import erasure
from tests.checkpoints.helpers import create_person, new_checkpoint
from tests.conftest import sign_in_citizen
from tests.monitoring.conftest import HANOI, TRANG_TIEN, officer
from tests.rights.conftest import assert_problem, everything_stored
from tests.rights.test_sharing import organisation


@dataclass
class Household:
    citizen: dict[str, str]
    person_id: str


Attempt = Callable[[Context, httpx.AsyncClient, Household], Awaitable[httpx.Response]]


async def _consent(ctx: Context, client: httpx.AsyncClient, home: Household) -> httpx.Response:
    employer = await organisation(ctx, client, "Công ty May Hà Nội")
    body = {"person_id": home.person_id, "organisation_id": employer, "days": 30}
    return await client.post("/v1/consents", json=body, headers=home.citizen)


async def _episode(ctx: Context, client: httpx.AsyncClient, home: Household) -> httpx.Response:
    ward_officer = await officer(ctx, client, HANOI, TRANG_TIEN)
    body = {
        "person_id": home.person_id,
        "reason": "contact",
        "place": "home",
        "address": {"province": HANOI, "ward": TRANG_TIEN, "street": "12 Tràng Tiền"},
    }
    return await client.post("/v1/monitoring", json=body, headers=ward_officer)


async def _check_in(ctx: Context, client: httpx.AsyncClient, home: Household) -> httpx.Response:
    venue = await new_checkpoint(ctx, client)
    body = {"venue_token": venue["venue_token"], "person_id": home.person_id}
    return await client.post("/v1/checkins", json=body, headers=home.citizen)


async def _code(ctx: Context, client: httpx.AsyncClient, home: Household) -> httpx.Response:
    return await client.get(f"/v1/people/{home.person_id}/qr", headers=home.citizen)


# Each write, and the module whose read of the person it answers from.
WRITES: dict[str, tuple[Attempt, str]] = {
    "consent": (_consent, "rights.sharing"),
    "monitoring episode": (_episode, "monitoring.service"),
    "check-in": (_check_in, "checkpoints.checkins"),
    "personal code": (_code, "qr.service"),
}


async def _household(client: httpx.AsyncClient) -> Household:
    citizen = await sign_in_citizen(client)
    return Household(citizen, await create_person(client, citizen))


async def _erase(client: httpx.AsyncClient, home: Household) -> None:
    erased = await client.delete(f"/v1/people/{home.person_id}", headers=home.citizen)
    assert erased.status_code == 204, erased.text


async def _nothing_left(ctx: Context, home: Household) -> None:
    assert await ctx.store.get("people", home.person_id) is None
    assert home.person_id not in await everything_stored(ctx)


@pytest.mark.parametrize("write", sorted(WRITES))
class TestAWriteRacingTheErasure:
    async def test_sent_while_the_erasure_runs_it_is_refused_and_nothing_is_left(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, write: str
    ) -> None:
        """The erasure has read what is held about the person; before its batch commits,
        the write arrives. Found by none of those reads, it would outlive the person."""
        attempt, _ = WRITES[write]
        home = await _household(client)
        answers: list[httpx.Response] = []
        reads = erasure._person_ops

        async def with_a_write_after_the_reads(
            ctx: Context, person: Document, *, now: datetime
        ) -> list[Operation]:
            ops = await reads(ctx, person, now=now)
            answers.append(await attempt(ctx, client, home))
            return ops

        monkeypatch.setattr(erasure, "_person_ops", with_a_write_after_the_reads)
        await _erase(client, home)

        assert assert_problem(answers[0], 404)["code"] == "not_found"
        await _nothing_left(ctx, home)

    async def test_read_before_the_erasure_written_after_it_is_refused_and_nothing_is_left(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, write: str
    ) -> None:
        """The write's read of the person finds them (made to answer as it did just before
        the erasure), then the erasure runs to its end, then the write commits."""
        attempt, module = WRITES[write]
        home = await _household(client)
        before = await ctx.store.get("people", home.person_id)
        await _erase(client, home)

        async def as_before_the_erasure(store: Any, person_id: str) -> Document | None:
            return before if person_id == home.person_id else None

        monkeypatch.setattr(f"{module}.get_person", as_before_the_erasure)
        refused = await attempt(ctx, client, home)

        assert assert_problem(refused, 404)["code"] == "not_found"
        await _nothing_left(ctx, home)

    async def test_landing_before_the_erasure_it_is_erased_with_the_rest(
        self, ctx: Context, client: httpx.AsyncClient, write: str
    ) -> None:
        """The order that needs no precondition, for contrast: the write committed first, so
        the erasure's reads find it."""
        attempt, _ = WRITES[write]
        home = await _household(client)
        landed = await attempt(ctx, client, home)
        assert landed.status_code in (200, 201), landed.text
        await _erase(client, home)
        await _nothing_left(ctx, home)


class TestAnErasureInterrupted:
    async def test_the_person_is_gone_to_every_route_and_asking_again_finishes_it(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The erasure's batch fails after the person was marked: nothing new can name them
        (a consent is 404), and `DELETE /v1/people/{id}` again erases everything."""
        home = await _household(client)
        assert (await _check_in(ctx, client, home)).status_code == 201

        async def outage(ctx: Context, person: Document, *, now: datetime) -> list[Operation]:
            raise RuntimeError("the database went away")

        monkeypatch.setattr(erasure, "_person_ops", outage)
        with pytest.raises(RuntimeError):
            await client.delete(f"/v1/people/{home.person_id}", headers=home.citizen)
        monkeypatch.undo()

        assert assert_problem(await _consent(ctx, client, home), 404)["code"] == "not_found"
        assert assert_problem(await _code(ctx, client, home), 404)["code"] == "not_found"
        assert await ctx.store.count("checkins", {"person_id": home.person_id}) == 1
        await _erase(client, home)
        await _nothing_left(ctx, home)
