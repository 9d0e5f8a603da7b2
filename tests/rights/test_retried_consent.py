"""A citizen's phone on a flaky line sends `POST /v1/consents` again: with an
Idempotency-Key it gets the first answer (the consent id it stores, the organisation's one
reference), a late retry never grants again what was revoked since; without a key, the same
consent given again keeps its id and runs its days from now. The kept answers go with the
person's erasure and are not in the export."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from core.clock import new_id, utcnow
from core.context import Context
from core.storage import Insert, Operation, Update
from tests.conftest import sign_in_citizen, sign_in_staff
from tests.declarations.conftest import declaration
from tests.rights.conftest import assert_problem, declare, everything_stored
from tests.rights.test_sharing import organisation, statuses

OTHER_PHONE = "+84900000002"


def _body(person_id: str, org: str, days: int = 30) -> dict[str, Any]:
    return {"person_id": person_id, "organisation_id": org, "days": days}


def _at(answer: httpx.Response, field: str) -> datetime:
    return datetime.fromisoformat(answer.json()[field])


async def _citizen_with_person(client: httpx.AsyncClient, phone: str) -> tuple[dict[str, str], str]:
    citizen = await sign_in_citizen(client, phone)
    return citizen, await declare(client, citizen, declaration())


class TestWithAKey:
    async def test_a_retry_gets_the_first_answer_and_the_organisation_one_reference(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id = await _citizen_with_person(client, "+84900000001")
        employer = await organisation(ctx, client, "Công ty May Hà Nội")
        reader = await sign_in_staff(ctx, client, "organisation", organisation=employer)
        headers = {**citizen, "Idempotency-Key": "consent-1"}
        first = await client.post("/v1/consents", json=_body(person_id, employer), headers=headers)
        again = await client.post("/v1/consents", json=_body(person_id, employer), headers=headers)
        assert (first.status_code, again.status_code) == (201, 201), again.text
        assert again.json() == first.json()
        assert "Idempotent-Replayed" not in first.headers
        assert again.headers["Idempotent-Replayed"] == "true"
        [stored] = await ctx.store.find("consents", {"person_id": person_id})
        assert (stored["_id"], stored["revoked_at"]) == (first.json()["id"], None)
        assert await statuses(client, reader, employer) == [
            {"reference": first.json()["id"], "status": "green"}
        ]

    async def test_a_late_retry_after_revoking_grants_nothing_again(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id = await _citizen_with_person(client, "+84900000001")
        employer = await organisation(ctx, client, "Công ty A")
        reader = await sign_in_staff(ctx, client, "organisation", organisation=employer)
        headers = {**citizen, "Idempotency-Key": "consent-1"}
        first = await client.post("/v1/consents", json=_body(person_id, employer), headers=headers)
        assert first.status_code == 201
        revoked = await client.delete(f"/v1/consents/{first.json()['id']}", headers=citizen)
        assert revoked.status_code == 204
        late = await client.post("/v1/consents", json=_body(person_id, employer), headers=headers)
        assert (late.status_code, late.json()) == (201, first.json())
        assert late.headers["Idempotent-Replayed"] == "true"
        assert await statuses(client, reader, employer) == []
        assert await ctx.store.count("consents", {"person_id": person_id}) == 1
        # A new key is a new consent.
        anew = await client.post(
            "/v1/consents",
            json=_body(person_id, employer),
            headers={**citizen, "Idempotency-Key": "consent-2"},
        )
        assert anew.status_code == 201
        assert anew.json()["id"] != first.json()["id"]
        assert "Idempotent-Replayed" not in anew.headers

    async def test_the_same_key_with_another_body_is_409_and_changes_nothing(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id = await _citizen_with_person(client, "+84900000001")
        employer = await organisation(ctx, client, "Công ty A")
        school = await organisation(ctx, client, "Trường B")
        headers = {**citizen, "Idempotency-Key": "consent-1", "Accept-Language": "vi"}
        first = await client.post("/v1/consents", json=_body(person_id, employer), headers=headers)
        assert first.status_code == 201
        for body in (_body(person_id, employer, days=7), _body(person_id, school)):
            reused = assert_problem(
                await client.post("/v1/consents", json=body, headers=headers), 409
            )
            assert reused["code"] == "idempotency_key_reused"
            assert reused["title"] == "Khóa đã được dùng"
        [stored] = await ctx.store.find("consents", {"person_id": person_id})
        assert stored["_id"] == first.json()["id"]
        assert stored["expires_at"] == _at(first, "expires_at")
        assert stored["revoked_at"] is None

    async def test_a_key_is_the_account_s_own(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id = await _citizen_with_person(client, "+84900000001")
        neighbour, their_person = await _citizen_with_person(client, OTHER_PHONE)
        employer = await organisation(ctx, client, "Công ty A")
        body = _body(person_id, employer)
        mine = await client.post(
            "/v1/consents", json=body, headers={**citizen, "Idempotency-Key": "k"}
        )
        assert mine.status_code == 201
        # The same key from another account: its own consent, not 409 nor the first answer.
        theirs = await client.post(
            "/v1/consents",
            json=_body(their_person, employer),
            headers={**neighbour, "Idempotency-Key": "k"},
        )
        assert theirs.status_code == 201, theirs.text
        assert theirs.json()["person_id"] == their_person
        assert "Idempotent-Replayed" not in theirs.headers
        # Nor does another account's key replay this account's answer.
        stranger = await client.post(
            "/v1/consents", json=body, headers={**neighbour, "Idempotency-Key": "k"}
        )
        assert_problem(stranger, 404)

    async def test_retries_racing_their_first_request_all_get_its_answer(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id = await _citizen_with_person(client, "+84900000001")
        employer = await organisation(ctx, client, "Công ty A")
        headers = {**citizen, "Idempotency-Key": "consent-raced"}
        answers = await asyncio.gather(
            *(
                client.post("/v1/consents", json=_body(person_id, employer), headers=headers)
                for _ in range(4)
            )
        )
        assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
        assert len({a.json()["id"] for a in answers}) == 1
        assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 3
        assert await ctx.store.count("consents", {"person_id": person_id}) == 1


class TestWithoutAKey:
    async def test_the_same_consent_again_keeps_its_id_and_runs_its_days_from_now(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id = await _citizen_with_person(client, "+84900000001")
        employer = await organisation(ctx, client, "Công ty A")
        reader = await sign_in_staff(ctx, client, "organisation", organisation=employer)
        first = await client.post("/v1/consents", json=_body(person_id, employer), headers=citizen)
        assert first.status_code == 201
        consent_id = first.json()["id"]
        # A retry: the same consent, no churn for the organisation.
        again = await client.post("/v1/consents", json=_body(person_id, employer), headers=citizen)
        assert again.status_code == 201, again.text
        assert again.json()["id"] == consent_id
        assert again.json()["granted_at"] == first.json()["granted_at"]
        assert _at(again, "expires_at") >= _at(first, "expires_at")
        assert "Idempotent-Replayed" not in again.headers
        # A renewal 25 days on: the same reference, 30 days from now.
        granted = _at(first, "granted_at") - timedelta(days=25)
        moved = {"granted_at": granted, "expires_at": granted + timedelta(days=30)}
        await ctx.store.write([Update("consents", consent_id, set=moved)])
        before = utcnow()
        renewed = await client.post(
            "/v1/consents", json=_body(person_id, employer), headers=citizen
        )
        assert renewed.status_code == 201
        assert renewed.json()["id"] == consent_id
        assert _at(renewed, "granted_at") == granted
        assert _at(renewed, "expires_at") >= before + timedelta(days=30)
        [stored] = await ctx.store.find("consents", {"person_id": person_id})
        assert (stored["revoked_at"], stored["expires_at"]) == (None, _at(renewed, "expires_at"))
        assert await statuses(client, reader, employer) == [
            {"reference": consent_id, "status": "green"}
        ]

    async def test_a_consent_stored_before_its_days_were_kept_is_renewed_too(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id = await _citizen_with_person(client, "+84900000001")
        employer = await organisation(ctx, client, "Công ty A")
        granted = utcnow() - timedelta(days=3)
        legacy = {
            "_id": new_id("cns"),
            "account_id": (await ctx.store.find("people", {"_id": person_id}))[0]["account_id"],
            "person_id": person_id,
            "organisation_id": employer,
            "granted_at": granted,
            "expires_at": granted + timedelta(days=30),
            "revoked_at": None,
        }
        await ctx.store.write([Insert("consents", legacy)])
        again = await client.post("/v1/consents", json=_body(person_id, employer), headers=citizen)
        assert again.status_code == 201, again.text
        assert again.json()["id"] == legacy["_id"]
        assert await ctx.store.count("consents", {"person_id": person_id}) == 1

    async def test_another_number_of_days_replaces_the_consent(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id = await _citizen_with_person(client, "+84900000001")
        employer = await organisation(ctx, client, "Công ty A")
        reader = await sign_in_staff(ctx, client, "organisation", organisation=employer)
        first = await client.post("/v1/consents", json=_body(person_id, employer), headers=citizen)
        shorter = await client.post(
            "/v1/consents", json=_body(person_id, employer, days=7), headers=citizen
        )
        assert shorter.status_code == 201
        assert shorter.json()["id"] != first.json()["id"]
        old = await ctx.store.get("consents", first.json()["id"])
        assert old is not None
        assert old["revoked_at"] is not None
        assert await statuses(client, reader, employer) == [
            {"reference": shorter.json()["id"], "status": "green"}
        ]

    async def test_a_consent_revoked_while_it_was_being_renewed_is_granted_anew(
        self, ctx: Context, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        citizen, person_id = await _citizen_with_person(client, "+84900000001")
        employer = await organisation(ctx, client, "Công ty A")
        reader = await sign_in_staff(ctx, client, "organisation", organisation=employer)
        first = await client.post("/v1/consents", json=_body(person_id, employer), headers=citizen)
        consent_id = first.json()["id"]
        write = ctx.store.write
        revoked: list[int] = []

        async def revoke_lands_first(ops: Sequence[Operation]) -> list[int]:
            if any(isinstance(op, Update) and op.must_match for op in ops) and not revoked:
                monkeypatch.setattr(ctx.store, "write", write)
                answer = await client.delete(f"/v1/consents/{consent_id}", headers=citizen)
                revoked.append(answer.status_code)
                monkeypatch.setattr(ctx.store, "write", revoke_lands_first)
            return await write(ops)

        monkeypatch.setattr(ctx.store, "write", revoke_lands_first)
        again = await client.post("/v1/consents", json=_body(person_id, employer), headers=citizen)
        assert revoked == [204]
        assert again.status_code == 201, again.text
        assert again.json()["id"] != consent_id
        old = await ctx.store.get("consents", consent_id)
        assert old is not None
        assert old["revoked_at"] is not None
        assert await statuses(client, reader, employer) == [
            {"reference": again.json()["id"], "status": "green"}
        ]


class TestSentAtOnceWithoutAKey:
    """A phone that sends the same consent twice at once (a double tap, a retry racing its
    first request): to the citizen it is one consent, so every answer is one id, and
    revoking that id leaves the organisation seeing nothing."""

    async def test_ten_at_once_are_one_consent_and_revoking_it_shows_nothing(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id = await _citizen_with_person(client, "+84900000001")
        employer = await organisation(ctx, client, "Công ty A")
        reader = await sign_in_staff(ctx, client, "organisation", organisation=employer)
        body = _body(person_id, employer)
        answers = await asyncio.gather(
            *(client.post("/v1/consents", json=body, headers=citizen) for _ in range(10))
        )
        assert [a.status_code for a in answers] == [201] * 10, [a.text for a in answers]
        ids = {a.json()["id"] for a in answers}
        assert len(ids) == 1
        [consent_id] = ids
        standing = await ctx.store.find("consents", {"person_id": person_id, "revoked_at": None})
        assert [c["_id"] for c in standing] == [consent_id]
        assert await statuses(client, reader, employer) == [
            {"reference": consent_id, "status": "green"}
        ]
        revoked = await client.delete(f"/v1/consents/{consent_id}", headers=citizen)
        assert revoked.status_code == 204
        assert await statuses(client, reader, employer) == []
        assert await ctx.store.count("consents_standing", {}) == 0
        # Free again: the next grant is a new consent, the only one standing.
        anew = await client.post("/v1/consents", json=body, headers=citizen)
        assert anew.status_code == 201, anew.text
        assert anew.json()["id"] != consent_id
        assert await statuses(client, reader, employer) == [
            {"reference": anew.json()["id"], "status": "green"}
        ]

    async def test_other_numbers_of_days_at_once_leave_one_standing_consent(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id = await _citizen_with_person(client, "+84900000001")
        employer = await organisation(ctx, client, "Công ty A")
        reader = await sign_in_staff(ctx, client, "organisation", organisation=employer)
        answers = await asyncio.gather(
            *(
                client.post("/v1/consents", json=_body(person_id, employer, days), headers=citizen)
                for days in (7, 14, 30, 60, 7, 14)
            )
        )
        assert [a.status_code for a in answers] == [201] * 6, [a.text for a in answers]
        [standing] = await ctx.store.find("consents", {"person_id": person_id, "revoked_at": None})
        assert await statuses(client, reader, employer) == [
            {"reference": standing["_id"], "status": "green"}
        ]
        revoked = await client.delete(f"/v1/consents/{standing['_id']}", headers=citizen)
        assert revoked.status_code == 204
        assert await statuses(client, reader, employer) == []

    async def test_an_expired_consent_not_yet_purged_is_replaced_by_a_new_one(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id = await _citizen_with_person(client, "+84900000001")
        employer = await organisation(ctx, client, "Công ty A")
        reader = await sign_in_staff(ctx, client, "organisation", organisation=employer)
        first = await client.post("/v1/consents", json=_body(person_id, employer), headers=citizen)
        assert first.status_code == 201
        ended = {"expires_at": utcnow() - timedelta(minutes=1)}
        [marker] = await ctx.store.find("consents_standing", {"person_id": person_id})
        await ctx.store.write(
            [
                Update("consents", first.json()["id"], set=ended),
                Update("consents_standing", str(marker["_id"]), set=ended),
            ]
        )
        assert await statuses(client, reader, employer) == []
        answers = await asyncio.gather(
            *(
                client.post("/v1/consents", json=_body(person_id, employer), headers=citizen)
                for _ in range(4)
            )
        )
        assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
        assert len({a.json()["id"] for a in answers} | {first.json()["id"]}) == 2
        assert await statuses(client, reader, employer) == [
            {"reference": answers[0].json()["id"], "status": "green"}
        ]


class TestDataRights:
    async def test_the_kept_answer_goes_with_the_person_and_a_late_retry_is_404(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id = await _citizen_with_person(client, "+84900000001")
        employer = await organisation(ctx, client, "Công ty A")
        headers = {**citizen, "Idempotency-Key": "consent-1"}
        body = _body(person_id, employer)
        assert (await client.post("/v1/consents", json=body, headers=headers)).status_code == 201
        kept = await ctx.store.find("idempotency", {"person_id": person_id, "kind": "consent"})
        assert len(kept) == 1
        erased = await client.delete(f"/v1/people/{person_id}", headers=citizen)
        assert erased.status_code == 204
        assert await ctx.store.count("idempotency", {"person_id": person_id}) == 0
        assert await ctx.store.get("idempotency", str(kept[0]["_id"])) is None
        late = await client.post("/v1/consents", json=body, headers=headers)
        assert_problem(late, 404)

    async def test_erasing_the_account_erases_the_kept_answers(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id = await _citizen_with_person(client, "+84900000001")
        employer = await organisation(ctx, client, "Công ty A")
        headers = {**citizen, "Idempotency-Key": "consent-1"}
        body = _body(person_id, employer)
        assert (await client.post("/v1/consents", json=body, headers=headers)).status_code == 201
        assert await ctx.store.count("idempotency", {"kind": "consent"}) == 1
        assert (await client.delete("/v1/me", headers=citizen)).status_code == 204
        assert await ctx.store.count("idempotency", {}) == 0
        assert await ctx.store.count("consents", {}) == 0
        assert await ctx.store.count("consents_standing", {}) == 0

    async def test_erasing_the_person_erases_their_standing_consents(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id = await _citizen_with_person(client, "+84900000001")
        employer = await organisation(ctx, client, "Công ty A")
        other = await organisation(ctx, client, "Trường B")
        for org in (employer, other):
            granted = await client.post("/v1/consents", json=_body(person_id, org), headers=citizen)
            assert granted.status_code == 201, granted.text
        assert await ctx.store.count("consents_standing", {"person_id": person_id}) == 2
        erased = await client.delete(f"/v1/people/{person_id}", headers=citizen)
        assert erased.status_code == 204
        assert await ctx.store.count("consents_standing", {}) == 0
        assert person_id not in await everything_stored(ctx)

    async def test_the_export_shows_the_consent_once_and_nothing_of_the_kept_answer(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen, person_id = await _citizen_with_person(client, "+84900000001")
        employer = await organisation(ctx, client, "Công ty A")
        headers = {**citizen, "Idempotency-Key": "consent-1"}
        body = _body(person_id, employer)
        first = await client.post("/v1/consents", json=body, headers=headers)
        assert (await client.post("/v1/consents", json=body, headers=headers)).status_code == 201
        export = await client.get("/v1/me/export", headers=citizen)
        assert export.status_code == 200, export.text
        [person] = [p for p in export.json()["people"] if p["id"] == person_id]
        assert person["consents"] == [first.json()]
        [kept] = await ctx.store.find("idempotency", {"person_id": person_id, "kind": "consent"})
        for internal in (str(kept["_id"]), str(kept["body_hash"]), "consent-1"):
            assert internal not in export.text
