"""Venues: registering a checkpoint, its signed poster, and citizens checking in there."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from checkpoints import checkins
from core.clock import local_day, utcnow
from core.context import Context
from core.settings import Settings
from reports.folding import fold_pending
from tests.checkpoints.helpers import (
    create_person,
    decode_qr_png,
    new_checkpoint,
    person_token,
    rasterise_qr_svg,
    shifted,
    staff_for,
    staff_headers,
)
from tests.conftest import sign_in_citizen, sign_in_staff

NOI_BAI = {"name": "Sân bay Nội Bài", "province": 1, "ward": 70, "kind": "airport"}


class TestRegisteringACheckpoint:
    async def test_admin_gets_an_id_and_a_signed_poster_code(
        self, client: httpx.AsyncClient, ctx: Context, settings: Settings
    ) -> None:
        admin = await sign_in_staff(ctx, client, "admin")
        response = await client.post("/v1/checkpoints", json=NOI_BAI, headers=admin)
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["name"] == "Sân bay Nội Bài"
        assert created["id"].startswith("cp_")
        assert created["venue_token"].startswith("KHAIBAO:1:")
        assert created["venue_qr_svg_url"] == f"/v1/checkpoints/{created['id']}/qr?format=svg"

        jws = created["venue_token"].removeprefix("KHAIBAO:1:")
        jwks = (await client.get("/.well-known/jwks.json")).json()
        decoded = jose_jwt.decode(jws, KeySet.import_key_set(jwks), algorithms=["ES256"])
        assert decoded.header["typ"] == "kb-venue+jwt"
        assert decoded.claims["aud"] == "khaibao-venue"
        assert decoded.claims["vid"] == created["id"]
        assert decoded.claims["kind"] == "airport"
        assert decoded.claims["iss"] == settings.public_url
        assert decoded.claims["exp"] - decoded.claims["iat"] == 365 * 86400

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"province": 999}, "province"),
            ({"ward": 26734}, "ward"),  # a real ward, in another province
            ({"ward": 9_999_999}, "ward"),
            ({"kind": "casino"}, "kind"),
            ({"name": ""}, "name"),
            ({"province": "1"}, "province"),
        ],
    )
    async def test_invalid_place_or_kind_is_422(
        self, client: httpx.AsyncClient, ctx: Context, change: dict[str, Any], field: str
    ) -> None:
        admin = await staff_headers(ctx, "admin")
        response = await client.post("/v1/checkpoints", json={**NOI_BAI, **change}, headers=admin)
        assert response.status_code == 422
        problem = response.json()
        assert problem["code"] == "validation_failed"
        assert field in " ".join(e["field"] + e["message"] for e in problem["errors"])

    async def test_only_admins_register_checkpoints(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        citizen = await sign_in_citizen(client)
        staff = await sign_in_staff(ctx, client, "checkpoint_staff")
        for headers in (citizen, staff):
            response = await client.post("/v1/checkpoints", json=NOI_BAI, headers=headers)
            assert response.status_code == 403


class TestPosterImage:
    @pytest.mark.parametrize("image_format", ["png", "svg"])
    async def test_staff_of_the_checkpoint_print_the_poster(
        self, client: httpx.AsyncClient, ctx: Context, image_format: str
    ) -> None:
        created = await new_checkpoint(ctx, client)
        staff = await staff_for(ctx, client, created["id"])
        response = await client.get(
            f"/v1/checkpoints/{created['id']}/qr", params={"format": image_format}, headers=staff
        )
        assert response.status_code == 200
        png = response.content if image_format == "png" else rasterise_qr_svg(response.content)
        assert decode_qr_png(png) == created["venue_token"]
        again = await client.get(
            f"/v1/checkpoints/{created['id']}/qr",
            params={"format": image_format},
            headers={**staff, "If-None-Match": response.headers["etag"]},
        )
        assert again.status_code == 304

    async def test_staff_of_another_checkpoint_and_citizens_cannot(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        created = await new_checkpoint(ctx, client)
        elsewhere = await staff_for(ctx, client, "cp_ELSEWHERE")
        citizen = await sign_in_citizen(client)
        for headers in (elsewhere, citizen):
            response = await client.get(f"/v1/checkpoints/{created['id']}/qr", headers=headers)
            assert response.status_code == 403

    async def test_unknown_checkpoint_is_404(self, client: httpx.AsyncClient, ctx: Context) -> None:
        admin = await staff_headers(ctx, "admin")
        assert (await client.get("/v1/checkpoints/cp_NONE/qr", headers=admin)).status_code == 404


async def check_in(
    client: httpx.AsyncClient, citizen: dict[str, str], venue_token: str, person_id: str
) -> httpx.Response:
    return await client.post(
        "/v1/checkins", json={"venue_token": venue_token, "person_id": person_id}, headers=citizen
    )


class TestCheckingIn:
    async def test_first_check_in_creates_a_visit_and_is_counted(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        venue = await new_checkpoint(ctx, client)
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        response = await check_in(client, citizen, venue["venue_token"], person_id)
        assert response.status_code == 201, response.text
        visit = response.json()
        assert visit["checkpoint_id"] == venue["id"]
        assert visit["person_id"] == person_id
        assert visit["extended"] is False
        assert visit["arrived_at"] == visit["last_seen_at"]
        stored = await ctx.store.get("checkins", visit["id"])
        assert stored is not None
        assert stored["checkpoint_id"] == venue["id"]
        day = local_day(utcnow()).isoformat()
        await fold_pending(ctx.store)  # as a report does before it reads
        counter = await ctx.store.get("report_counters", f"cp|{day}|{venue['id']}|checkin|checkin")
        assert counter is not None
        assert counter["n"] == 1

    async def test_again_within_the_stay_window_extends_the_same_visit(
        self, client: httpx.AsyncClient, ctx: Context, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        venue = await new_checkpoint(ctx, client)
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        first = (await check_in(client, citizen, venue["venue_token"], person_id)).json()

        monkeypatch.setattr(checkins, "utcnow", shifted(90))
        again = await check_in(client, citizen, venue["venue_token"], person_id)
        assert again.status_code == 201  # as the contract says of every check-in
        extended = again.json()
        assert extended["id"] == first["id"]
        assert extended["extended"] is True
        assert extended["arrived_at"] == first["arrived_at"]
        assert extended["last_seen_at"] > first["last_seen_at"]
        stored = await ctx.store.get("checkins", first["id"])
        assert stored is not None
        assert stored["last_seen_at"] > stored["arrived_at"]
        assert await ctx.store.count("checkins", {"person_id": person_id}) == 1
        day = local_day(utcnow()).isoformat()
        await fold_pending(ctx.store)  # as a report does before it reads
        counter = await ctx.store.get("report_counters", f"cp|{day}|{venue['id']}|checkin|checkin")
        assert counter is not None
        assert counter["n"] == 1  # an extension is not a new visit

        # 90 + 121 minutes: more than the 120-minute stay window after the last check-in.
        monkeypatch.setattr(checkins, "utcnow", shifted(90 + 121))
        later = await check_in(client, citizen, venue["venue_token"], person_id)
        assert later.status_code == 201
        assert later.json()["id"] != first["id"]

    async def test_retries_at_once_leave_one_visit(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        venue = await new_checkpoint(ctx, client)
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        responses = await asyncio.gather(
            *(check_in(client, citizen, venue["venue_token"], person_id) for _ in range(8))
        )
        assert [r.status_code for r in responses] == [201] * 8
        assert sorted(r.json()["extended"] for r in responses) == [False] + [True] * 7
        assert len({r.json()["id"] for r in responses}) == 1
        assert await ctx.store.count("checkins", {"person_id": person_id}) == 1

    async def test_the_bare_jws_works_too_and_venues_are_separate(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        first = await new_checkpoint(ctx, client)
        second = await new_checkpoint(ctx, client, name="Chợ Bến Thành", kind="market")
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        bare = first["venue_token"].removeprefix("KHAIBAO:1:")
        assert (await check_in(client, citizen, bare, person_id)).status_code == 201
        assert (
            await check_in(client, citizen, second["venue_token"], person_id)
        ).status_code == 201

    async def test_only_for_the_callers_own_people(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        venue = await new_checkpoint(ctx, client)
        owner = await sign_in_citizen(client, "+84900000001")
        other = await sign_in_citizen(client, "+84900000002")
        person_id = await create_person(client, owner)
        response = await check_in(client, other, venue["venue_token"], person_id)
        assert response.status_code == 404
        staff = await staff_headers(ctx, "checkpoint_staff", venue["id"])
        assert (await check_in(client, staff, venue["venue_token"], person_id)).status_code == 403

    async def test_invalid_venue_codes_are_a_400_with_the_reason(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        venue = await new_checkpoint(ctx, client)
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        personal = await person_token(client, citizen, person_id)
        head, body, signature = venue["venue_token"].removeprefix("KHAIBAO:1:").split(".")
        claims = json.loads(base64.urlsafe_b64decode(body + "=="))
        moved = base64.urlsafe_b64encode(json.dumps({**claims, "vid": "cp_OTHER"}).encode())
        flipped = ("B" if signature[0] != "B" else "C") + signature[1:]
        cases = {
            "garbage": "malformed",
            f"KHAIBAO:1:{head}.{body}.{flipped}": "bad_signature",
            f"KHAIBAO:1:{head}.{moved.decode().rstrip('=')}.{signature}": "bad_signature",
            personal: "wrong_type",
        }
        for token, reason_code in cases.items():
            response = await check_in(client, citizen, token, person_id)
            assert response.status_code == 400, token[:40]
            problem = response.json()
            assert problem["code"] == "invalid_venue_token"
            assert problem["errors"][0]["field"] == "venue_token"
            assert problem["errors"][0]["code"] == reason_code, token
        assert await ctx.store.count("checkins", {}) == 0

    async def test_a_personal_code_is_told_apart_from_a_venue_code(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        await new_checkpoint(ctx, client)
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        personal = await person_token(client, citizen, person_id)
        messages = {}
        for lang in ("en", "vi"):
            response = await client.post(
                "/v1/checkins",
                json={"venue_token": personal, "person_id": person_id},
                headers={**citizen, "Accept-Language": lang},
            )
            assert response.status_code == 400
            (error,) = response.json()["errors"]
            assert error["code"] == "wrong_type"
            messages[lang] = error["message"]
        assert messages == {
            "en": "Personal code, not a venue code",
            "vi": "Mã cá nhân, không phải mã địa điểm",
        }
        assert await ctx.store.count("checkins", {}) == 0
