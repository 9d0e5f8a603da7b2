"""A person's status over time: staff's statuses (a confirmed case, contact tracing) are
not lowered by the person's own declarations while they are recent; a worse status revokes
live QR codes; declarations are deleted after the retention period."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from core.clock import utcnow
from core.context import Context
from core.principals import Principal
from declarations import service
from declarations.schemas import DeclarationIn
from people import repository as people_repository
from tests.declarations.conftest import declaration, declare


async def staff_sets_status(ctx: Context, person_id: str, status: Any, source: Any) -> None:
    """What the case and tracing code do: `set_status` on the person."""
    person = await people_repository.get_person(ctx.store, person_id)
    assert person is not None
    reasons = [{"code": f"{source}_test", "en": "Set by staff.", "vi": "Do cán bộ đặt."}]
    await ctx.store.write(
        [people_repository.set_status(person, status, reasons, source=source, now=utcnow())]
    )


async def status_of(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    people = (await client.get("/v1/people", headers=headers)).json()["items"]
    return str(people[0]["status"])


async def account_of(ctx: Context, person_id: str) -> Principal:
    person = await people_repository.get_person(ctx.store, person_id)
    assert person is not None
    return Principal(person["account_id"], "citizen")


class TestStatusChanges:
    async def test_status_changed_at_moves_only_when_the_status_changes(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        first = (await declare(client, citizen, declaration(symptoms=["cough"]), "1")).json()
        person = await people_repository.get_person(ctx.store, first["person_id"])
        assert person is not None

        travel = {"countries": ["TH"], "domestic": []}
        same = (await declare(client, citizen, declaration(travel=travel), "2")).json()
        assert same["status"] == "yellow"
        unchanged = await people_repository.get_person(ctx.store, first["person_id"])
        assert unchanged is not None
        assert unchanged["status_changed_at"] == person["status_changed_at"]
        assert [r["code"] for r in unchanged["status_reasons"]] == ["travel_abroad"]

        await declare(client, citizen, declaration(), "3")
        changed = await people_repository.get_person(ctx.store, first["person_id"])
        assert changed is not None
        assert changed["status"] == "green"
        assert changed["status_changed_at"] > person["status_changed_at"]


class TestStaffStatusHolds:
    async def test_a_confirmed_case_is_not_lowered_by_a_healthy_declaration(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        person_id = (await declare(client, citizen, declaration(), "1")).json()["person_id"]
        await staff_sets_status(ctx, person_id, "red", "case")

        answer = (await declare(client, citizen, declaration(), "2")).json()
        assert answer["status"] == "red"
        assert [r["code"] for r in answer["reasons"]] == ["no_risk", "status_held_by_case"]
        assert await status_of(client, citizen) == "red"
        person = await people_repository.get_person(ctx.store, person_id)
        assert person is not None
        assert person["status_source"] == "case"

    async def test_the_hold_ends_after_the_lookback(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        person_id = (await declare(client, citizen, declaration(), "1")).json()["person_id"]
        await staff_sets_status(ctx, person_id, "red", "case")

        later = utcnow() + timedelta(days=ctx.settings.exposure_lookback_days, seconds=1)
        body = declaration()
        body["travel"]["domestic"] = []
        result = await service.submit_declaration(
            ctx,
            await account_of(ctx, person_id),
            DeclarationIn.model_validate(body),
            "3",
            now=later,
        )
        assert result.declaration.status == "green"
        assert await status_of(client, citizen) == "green"

    async def test_tracing_is_remembered_when_a_declaration_raised_the_status_above_it(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        person_id = (await declare(client, citizen, declaration(), "1")).json()["person_id"]
        await staff_sets_status(ctx, person_id, "yellow", "tracing")

        exposed = declaration(exposure={**declaration()["exposure"], "confirmed_case": True})
        assert (await declare(client, citizen, exposed, "2")).json()["status"] == "red"
        calm = (await declare(client, citizen, declaration(), "3")).json()
        assert calm["status"] == "yellow"
        assert calm["reasons"][-1]["code"] == "status_held_by_tracing"

    async def test_staff_reasons_read_in_the_callers_language(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        person_id = (await declare(client, citizen, declaration(), "1")).json()["person_id"]
        person = await people_repository.get_person(ctx.store, person_id)
        assert person is not None
        reason = {"code": "confirmed_case", "day": "2026-11-20"}
        change = people_repository.set_status(person, "red", [reason], source="case", now=utcnow())
        await ctx.store.write([change])

        people = await client.get("/v1/people", headers={**citizen, "Accept-Language": "vi"})
        assert people.json()["items"][0]["reasons"] == [
            {"code": "confirmed_case", "status": "red", "message": "Ca bệnh xác định (2026-11-20)."}
        ]

    async def test_a_case_cleared_by_staff_is_not_held(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        person_id = (await declare(client, citizen, declaration(), "1")).json()["person_id"]
        await staff_sets_status(ctx, person_id, "red", "case")
        await staff_sets_status(ctx, person_id, "green", "case")
        assert (await declare(client, citizen, declaration(), "2")).json()["status"] == "green"


class TestWorseningRevokesQrCodes:
    async def test_revocations_join_the_declarations_batch_only_when_status_worsens(
        self,
        client: httpx.AsyncClient,
        citizen: dict[str, str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        calls: list[tuple[str, str]] = []

        async def recording_revoke(
            store: Any, person_id: str, *, reason: str, now: Any
        ) -> list[Any]:
            calls.append((person_id, reason))
            return []

        # The QR domain owns revocation; here only whether declaring asks for it.
        monkeypatch.setattr(service, "revoke_live_tokens", recording_revoke)
        person_id = (await declare(client, citizen, declaration(), "1")).json()["person_id"]
        await declare(client, citizen, declaration(), "2")
        assert calls == []
        await declare(client, citizen, declaration(symptoms=["cough"]), "3")
        assert calls == [(person_id, "status_worsened")]
        await declare(client, citizen, declaration(), "4")
        assert len(calls) == 1


class TestRetention:
    async def test_a_declaration_and_its_person_past_retention_are_purged(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        made = (await declare(client, citizen, declaration(), "old")).json()
        stored = await ctx.store.get("declarations", made["id"])
        assert stored is not None
        assert stored["expires_at"] - stored["created_at"] == timedelta(
            days=ctx.settings.retention_days
        )

        await ctx.store.purge_expired(utcnow() + timedelta(days=1))
        assert await ctx.store.get("declarations", made["id"]) is not None

        await ctx.store.purge_expired(stored["expires_at"] + timedelta(seconds=1))
        assert await ctx.store.get("declarations", made["id"]) is None
        answer = await client.get(f"/v1/declarations/{made['id']}", headers=citizen)
        assert answer.status_code == 404
        # The person declared for (encrypted name, identity number, phone) goes with it.
        assert await ctx.store.get("people", made["person_id"]) is None
        people = await client.get("/v1/people", headers=citizen)
        assert people.json()["items"] == []

    async def test_idempotency_records_last_a_day(
        self, client: httpx.AsyncClient, ctx: Context, citizen: dict[str, str]
    ) -> None:
        await declare(client, citizen, declaration(), "day")
        records = await ctx.store.find("idempotency", {})
        assert len(records) == 1
        assert records[0]["expires_at"] - records[0]["created_at"] == timedelta(hours=24)
