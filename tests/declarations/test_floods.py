"""One account flooding declarations. 1,000 declarations with 1,000 Idempotency-Keys from
one account in a few seconds were all 201 and all counted in the ministry's symptom counts.
Now an account has a limit per hour and a person a limit per day (429 + Retry-After, in the
caller's language; a refused declaration stores and counts nothing; a replay of an
acknowledged key is still answered), and the reports count a person once per day — their
latest declaration — so declaring again, however often, cannot move a number."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from core.clock import local_day, utcnow
from core.context import Context
from core.principals import Principal
from declarations.schemas import DeclarationIn
from declarations.service import submit_declaration
from reports.folding import fold_pending
from tests.conftest import make_settings, sign_in_citizen, sign_in_staff
from tests.declarations.conftest import ID_NUMBER, declaration

PER_ACCOUNT = 6
PER_PERSON = 3
PROBLEM = "application/problem+json"


@pytest.fixture
async def limited(database_url: str) -> AsyncIterator[FastAPI]:
    app = create_app(
        make_settings(
            database_url,
            declarations_per_account_per_hour=PER_ACCOUNT,
            declarations_per_person_per_day=PER_PERSON,
        )
    )
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def open_app(database_url: str) -> AsyncIterator[FastAPI]:
    """Limits out of the way, to see what the reports make of a flood."""
    app = create_app(
        make_settings(
            database_url,
            declarations_per_account_per_hour=10_000,
            declarations_per_person_per_day=10_000,
            small_cell_threshold=1,
        )
    )
    async with app.router.lifespan_context(app):
        yield app


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def form(id_number: str, *symptoms: str) -> dict[str, Any]:
    """The account holder's form, or with another identity number a family member's (the
    holder is one person)."""
    body = declaration(symptoms=list(symptoms))
    relation = "self" if id_number == ID_NUMBER else "child"
    body["person"] = {**body["person"], "id_number": id_number, "relation": relation}
    return body


async def post(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any], key: str = ""
) -> httpx.Response:
    return await client.post(
        "/v1/declarations",
        json=body,
        headers={**headers, "Idempotency-Key": key or secrets.token_hex(8)},
    )


def assert_limited(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 429, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert int(answer.headers["retry-after"]) >= 1
    problem: dict[str, Any] = answer.json()
    assert problem["code"] == "rate_limited"
    return problem


class TestLimits:
    async def test_one_account_is_limited_per_hour_and_the_refused_store_nothing(
        self, limited: FastAPI
    ) -> None:
        ctx: Context = limited.state.context
        async with client_of(limited) as client:
            citizen = await sign_in_citizen(client)
            # Different people, so only the account's limit is reached.
            ids = [f"0011900{n:05d}" for n in range(PER_ACCOUNT + 4)]
            answers = [await post(client, citizen, form(i)) for i in ids]
        assert [a.status_code for a in answers[:PER_ACCOUNT]] == [201] * PER_ACCOUNT
        for refused in answers[PER_ACCOUNT:]:
            assert_limited(refused)
        assert await ctx.store.count("declarations", {}) == PER_ACCOUNT
        assert await ctx.store.count("idempotency", {}) == PER_ACCOUNT

    async def test_one_person_is_limited_per_day(self, limited: FastAPI) -> None:
        ctx: Context = limited.state.context
        async with client_of(limited) as client:
            citizen = await sign_in_citizen(client)
            answers = [await post(client, citizen, form("001190012345")) for _ in range(5)]
            # Another person on the same account still declares.
            other = await post(client, citizen, form("001215098765"))
        assert [a.status_code for a in answers[:PER_PERSON]] == [201] * PER_PERSON
        for refused in answers[PER_PERSON:]:
            assert_limited(refused)
        assert other.status_code == 201, other.text
        assert await ctx.store.count("declarations", {}) == PER_PERSON + 1

    async def test_the_persons_limit_holds_over_several_processes(self, database_url: str) -> None:
        """Two workers on one database, the requests alternating between them, as a load
        balancer spreads them: the person's day still holds exactly `PER_PERSON`."""
        settings = make_settings(
            database_url,
            declarations_per_account_per_hour=PER_ACCOUNT,
            declarations_per_person_per_day=PER_PERSON,
        )
        first, second = create_app(settings), create_app(settings)
        async with (
            first.router.lifespan_context(first),
            second.router.lifespan_context(second),
            client_of(first) as one,
            client_of(second) as other,
        ):
            citizen = await sign_in_citizen(one)
            answers = [
                await post(client, citizen, form("001190012345"))
                for client in (one, other, one, other, one)
            ]
            ctx: Context = first.state.context
            stored = await ctx.store.count("declarations", {})
        assert [a.status_code for a in answers] == [201] * PER_PERSON + [429, 429]
        assert stored == PER_PERSON

    async def test_the_persons_limit_starts_again_the_next_day(self, limited: FastAPI) -> None:
        ctx: Context = limited.state.context
        yesterday = utcnow() - timedelta(days=1)
        async with client_of(limited) as client:
            citizen = await sign_in_citizen(client)
            (account,) = await ctx.store.find("accounts", {})
            principal = Principal(subject=str(account["_id"]), role="citizen")
            body = DeclarationIn.model_validate(
                form("001190012345"), context={"today": local_day(yesterday)}
            )
            for n in range(PER_PERSON):
                await submit_declaration(ctx, principal, body, f"yesterday-{n}", now=yesterday)
            today = await post(client, citizen, form("001190012345"))
            again = await post(client, citizen, form("001190012345"))
        assert today.status_code == 201, today.text
        assert again.status_code == 201, again.text

    async def test_the_refusal_speaks_the_callers_language(self, limited: FastAPI) -> None:
        async with client_of(limited) as client:
            citizen = await sign_in_citizen(client)
            for _ in range(PER_PERSON):
                assert (await post(client, citizen, form("001190012345"))).status_code == 201
            english = assert_limited(await post(client, citizen, form("001190012345")))
            vietnamese = assert_limited(
                await post(client, {**citizen, "Accept-Language": "vi"}, form("001190012345"))
            )
        assert english["detail"] != vietnamese["detail"]
        assert vietnamese["title"] == "Quá nhiều yêu cầu"

    async def test_a_traveller_is_told_in_their_language_why(self, limited: FastAPI) -> None:
        """The entry form speaks eight languages; whoever declares in French at the border
        and then too often at home is told why in French, with the wait."""
        async with client_of(limited) as client:
            citizen = {**await sign_in_citizen(client), "Accept-Language": "fr"}
            for _ in range(PER_PERSON):
                assert (await post(client, citizen, form("001190012345"))).status_code == 201
            person = assert_limited(await post(client, citizen, form("001190012345")))
            others = [form(f"0011900{n:05d}") for n in range(PER_ACCOUNT)]
            account = assert_limited([await post(client, citizen, f) for f in others][-1])
        assert person["detail"].startswith("Trop de déclarations pour cette personne")
        assert account["detail"].startswith("Ce compte a envoyé trop de déclarations")
        assert "Réessayez dans" in person["detail"]

    async def test_a_retry_of_an_acknowledged_declaration_is_still_answered(
        self, limited: FastAPI
    ) -> None:
        async with client_of(limited) as client:
            citizen = await sign_in_citizen(client)
            keys = [secrets.token_hex(8) for _ in range(PER_PERSON)]
            first = [await post(client, citizen, form("001190012345"), k) for k in keys]
            assert_limited(await post(client, citizen, form("001190012345")))
            replay = await post(client, citizen, form("001190012345"), keys[0])
        assert replay.status_code == 201, replay.text
        assert replay.json() == first[0].json()
        assert replay.headers.get("idempotent-replayed") == "true"

    async def test_the_offline_batch_refuses_only_the_items_beyond_the_limit(
        self, limited: FastAPI
    ) -> None:
        ctx: Context = limited.state.context
        async with client_of(limited) as client:
            citizen = await sign_in_citizen(client)
            items = [
                {"idempotency_key": secrets.token_hex(8), "declaration": form("001190012345")}
                for _ in range(PER_PERSON + 2)
            ]
            answer = await client.post(
                "/v1/declarations/batch", json={"items": items}, headers=citizen
            )
        assert answer.status_code == 200, answer.text
        statuses = [r["status_code"] for r in answer.json()["results"]]
        assert statuses == [201] * PER_PERSON + [429, 429], answer.text
        assert await ctx.store.count("declarations", {}) == PER_PERSON


async def true_counts(ctx: Context, group_by: str) -> dict[tuple[Any, ...], int]:
    """Today's true counts behind the reports (never published): the counters they read,
    once the declarations' steps are folded into them, as a report folds them first."""
    await fold_pending(ctx.store)
    kind = "symptoms" if "symptom" in group_by else "declarations"
    day = local_day(utcnow()).isoformat()
    found: dict[tuple[Any, ...], int] = {}
    for cell in await ctx.store.find("report_counters", {"kind": kind, "day": day}):
        key = tuple(cell[d] for d in group_by.split(","))
        found[key] = found.get(key, 0) + int(cell["n"])
    return {key: n for key, n in found.items() if n}


class TestReportsCountAPersonOncePerDay:
    async def test_a_flood_from_one_account_moves_no_number(self, open_app: FastAPI) -> None:
        ctx: Context = open_app.state.context
        async with client_of(open_app) as client:
            analyst = await sign_in_staff(ctx, client, "analyst")
            day = local_day(utcnow())
            params = {"from": (day - timedelta(days=1)).isoformat(), "to": day.isoformat()}

            async def published(group_by: str) -> Any:
                answer = await client.get(
                    "/v1/reports/declarations",
                    params={**params, "group_by": group_by},
                    headers=analyst,
                )
                assert answer.status_code == 200, answer.text
                return answer.json()["rows"]

            citizen = await sign_in_citizen(client)
            assert (await post(client, citizen, form("001190012345", "fever"))).status_code == 201
            before = {g: await published(g) for g in ("status", "status,symptom", "ward")}
            for n in range(40):
                symptoms = ("cough",) if n % 2 else ()
                assert (await post(client, citizen, form("001190012345", *symptoms))).is_success
            # The last word is the same as the first: nothing to report has changed.
            assert (await post(client, citizen, form("001190012345", "fever"))).status_code == 201
            after = {g: await published(g) for g in before}
        assert after == before
        assert await true_counts(ctx, "status") == {("yellow",): 1}
        assert await true_counts(ctx, "status,symptom") == {("yellow", "fever"): 1}

    async def test_the_latest_declaration_of_the_day_is_the_one_counted(
        self, open_app: FastAPI
    ) -> None:
        ctx: Context = open_app.state.context
        async with client_of(open_app) as client:
            citizen = await sign_in_citizen(client)
            assert (await post(client, citizen, form("001190012345", "fever"))).status_code == 201
            assert (await post(client, citizen, form("001190012345"))).status_code == 201
            assert (await post(client, citizen, form("001215098765", "cough"))).status_code == 201
        assert await true_counts(ctx, "status") == {("green",): 1, ("yellow",): 1}
        assert await true_counts(ctx, "status,symptom") == {("yellow", "cough"): 1}
