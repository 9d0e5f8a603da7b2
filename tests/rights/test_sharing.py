"""Consented sharing: an organisation sees a person's status colour only while a consent
stands (not before, not after revocation, not after expiry), sees nothing else, and every
read is in the citizen's access log with the organisation's name, never a person's; so is a
health officer confirming one of the citizen's people as a case, by role and time."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from core.clock import utcnow
from core.context import Context
from core.storage import Update
from tests.checkpoints.helpers import staff_headers
from tests.conftest import sign_in_citizen, sign_in_staff
from tests.rights.conftest import assert_problem, family


async def organisation(ctx: Context, client: httpx.AsyncClient, name: str) -> str:
    admin = await staff_headers(ctx, "admin")
    created = await client.post("/v1/organisations", json={"name": name}, headers=admin)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def statuses(
    client: httpx.AsyncClient, headers: dict[str, str], organisation_id: str
) -> list[dict[str, str]]:
    response = await client.get(f"/v1/organisations/{organisation_id}/statuses", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, str]] = response.json()["items"]
    return items


async def consent(
    client: httpx.AsyncClient, citizen: dict[str, str], person_id: str, org: str, days: int = 30
) -> str:
    body = {"person_id": person_id, "organisation_id": org, "days": days}
    granted = await client.post("/v1/consents", json=body, headers=citizen)
    assert granted.status_code == 201, granted.text
    return str(granted.json()["id"])


class TestConsentedStatus:
    async def test_nothing_without_consent_the_colour_with_it_nothing_after_revoking(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        parent = await sign_in_citizen(client)
        home = await family(ctx, client, parent)
        employer = await organisation(ctx, client, "Công ty May Hà Nội")
        reader = await sign_in_staff(ctx, client, "organisation", organisation=employer)
        assert await statuses(client, reader, employer) == []

        consent_id = await consent(client, parent, home.parent_id, employer)
        response = await client.get(f"/v1/organisations/{employer}/statuses", headers=reader)
        assert response.json()["items"] == [{"reference": consent_id, "status": "green"}]
        # The colour and an opaque reference: no person id, name or reasons.
        assert home.parent_id not in response.text

        revoked = await client.delete(f"/v1/consents/{consent_id}", headers=parent)
        assert revoked.status_code == 204
        assert await statuses(client, reader, employer) == []
        again = await client.delete(f"/v1/consents/{consent_id}", headers=parent)
        assert again.status_code == 204

    async def test_a_consent_expires_by_itself(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        parent = await sign_in_citizen(client)
        home = await family(ctx, client, parent)
        employer = await organisation(ctx, client, "Trường Tiểu học Tràng An")
        reader = await sign_in_staff(ctx, client, "organisation", organisation=employer)
        consent_id = await consent(client, parent, home.child_id, employer, days=1)
        assert len(await statuses(client, reader, employer)) == 1
        # A day later (the stored end moved, as the clock would): nothing, before any purge.
        past = utcnow() - timedelta(seconds=1)
        await ctx.store.write([Update("consents", consent_id, set={"expires_at": past})])
        assert await statuses(client, reader, employer) == []
        await ctx.store.purge_expired(utcnow())
        assert await ctx.store.get("consents", consent_id) is None

    async def test_another_organisation_and_strangers_are_refused(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        parent = await sign_in_citizen(client)
        home = await family(ctx, client, parent)
        employer = await organisation(ctx, client, "Công ty A")
        other = await organisation(ctx, client, "Công ty B")
        await consent(client, parent, home.parent_id, employer)
        outsider = await sign_in_staff(ctx, client, "organisation", organisation=other)
        refused = await client.get(f"/v1/organisations/{employer}/statuses", headers=outsider)
        assert_problem(refused, 403)
        assert_problem(
            await client.get(f"/v1/organisations/{employer}/statuses", headers=parent), 403
        )
        stranger = await sign_in_citizen(client, "+84900000002")
        body = {"person_id": home.child_id, "organisation_id": employer, "days": 5}
        assert_problem(await client.post("/v1/consents", json=body, headers=stranger), 404)
        unknown = {**body, "organisation_id": "org_" + "1" * 26}
        problem = assert_problem(
            await client.post(
                "/v1/consents", json=unknown, headers={**parent, "Accept-Language": "vi"}
            ),
            422,
        )
        assert problem["code"] == "organisation_unknown"
        longest = ctx.settings.consent_max_days
        too_long = {**body, "days": longest + 1}
        problem = assert_problem(
            await client.post("/v1/consents", json=too_long, headers=parent), 422
        )
        assert problem["code"] == "consent_too_long"
        assert f"at most {longest} days" in problem["detail"]
        problem = assert_problem(
            await client.post(
                "/v1/consents", json=too_long, headers={**parent, "Accept-Language": "vi"}
            ),
            422,
        )
        assert f"vượt quá {longest} ngày" in problem["detail"]


class TestAccessLog:
    async def test_a_citizen_sees_scans_and_the_organisation_s_reads(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        parent = await sign_in_citizen(client)
        home = await family(ctx, client, parent)
        employer = await organisation(ctx, client, "Công ty May Hà Nội")
        username = "hr-officer-lan"
        reader = await sign_in_staff(
            ctx, client, "organisation", organisation=employer, username=username
        )
        await consent(client, parent, home.child_id, employer)
        await statuses(client, reader, employer)
        await statuses(client, reader, employer)

        response = await client.get(
            "/v1/me/access-log", headers={**parent, "Accept-Language": "vi"}
        )
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        reads = [i for i in items if i["action"] == "organisation_status_read"]
        assert len(reads) == 2
        assert {(r["role"], r["organisation_id"], r["organisation_name"]) for r in reads} == {
            ("organisation", employer, "Công ty May Hà Nội")
        }
        assert reads[0]["person_id"] == home.child_id
        assert "theo sự đồng ý" in reads[0]["what"]
        [scanned] = [i for i in items if i["action"] == "scan"]
        assert scanned["checkpoint_id"] == home.checkpoint["id"]
        assert scanned["role"] == "checkpoint_staff"
        assert scanned["person_id"] == home.child_id
        # Who, as a role and a place: never the staff member.
        assert username not in response.text
        staff = await ctx.store.find("staff_users", {})
        assert all(str(s["_id"]) not in response.text for s in staff)
        # Newest first.
        moments = [datetime.fromisoformat(i["at"]) for i in items]
        assert moments == sorted(moments, reverse=True)

    async def test_a_citizen_sees_a_health_officer_confirm_a_case(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        parent = await sign_in_citizen(client)
        home = await family(ctx, client, parent)
        username = "officer-hoa"
        officer = await sign_in_staff(ctx, client, "health_officer", username=username)
        before = utcnow()
        confirmed = await client.post(
            "/v1/cases", json={"person_id": home.child_id}, headers=officer
        )
        assert confirmed.status_code == 201, confirmed.text
        # Confirming again within the window answers the same case: one confirmation, one
        # entry. An earlier date moves the case, and says so.
        again = await client.post("/v1/cases", json={"person_id": home.child_id}, headers=officer)
        assert again.json()["id"] == confirmed.json()["id"]
        earlier = {
            "person_id": home.child_id,
            "confirmed_at": (before - timedelta(days=1)).isoformat(),
        }
        backdated = await client.post("/v1/cases", json=earlier, headers=officer)
        assert backdated.json()["id"] == confirmed.json()["id"]
        assert (await client.post("/v1/cases", json=earlier, headers=officer)).status_code == 201
        after = utcnow()

        response = await client.get(
            "/v1/me/access-log", headers={**parent, "Accept-Language": "vi"}
        )
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        cases = [i for i in items if i["action"] == "case_confirmed"]
        assert len(cases) == 1
        moved = [i for i in items if i["action"] == "case_backdated"]
        assert [(m["role"], m["person_id"]) for m in moved] == [("health_officer", home.child_id)]
        assert moved[0]["what"] == "Chuyển ngày xác nhận ca bệnh về ngày sớm hơn"
        assert {(c["role"], c["person_id"]) for c in cases} == {("health_officer", home.child_id)}
        assert all(before <= datetime.fromisoformat(c["at"]) <= after for c in cases)
        assert cases[0]["what"] == "Xác nhận là ca bệnh (trạng thái đỏ)"
        assert all(c["checkpoint_id"] is None and c["organisation_id"] is None for c in cases)
        # Only the confirmed record: the parent's was not looked at.
        assert [i for i in items if i["person_id"] == home.parent_id] == []
        # Who, as a role: never the officer.
        assert username not in response.text
        staff = await ctx.store.find("staff_users", {})
        assert all(str(s["_id"]) not in response.text for s in staff)
        english = await client.get("/v1/me/access-log", headers=parent)
        assert "Confirmed as a case" in english.text
