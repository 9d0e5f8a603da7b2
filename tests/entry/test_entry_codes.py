"""An arrival's QR code is an entry code, never a personal code: anyone may get one without
signing in, so a checkpoint scanner must refuse it, online and offline by the published
rules, while border scans accept it, and the entry codes issued before it had a type of its
own, until they expire."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

from core.clock import utcnow
from core.context import Context
from core.settings import Settings
from core.storage import Insert
from qr.signing import sign_person_token
from tests.checkpoints.helpers import (
    create_person,
    new_checkpoint,
    person_token,
    scan,
    staff_headers,
    unverified_parts,
    verify_offline,
)
from tests.conftest import sign_in_citizen
from tests.entry.conftest import border_checkpoint, family, submit


async def declared(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await submit(client, family())
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "green"
    return body


async def legacy_entry_code(ctx: Context, entry_id: str) -> str:
    """What `sign_entry_token` signed before entry codes had a type of their own: a personal
    code's type and audience, recorded as the entry declaration's."""
    issued, record = await sign_person_token(ctx, entry_id, "green", now=utcnow())
    assert isinstance(record, Insert)
    document = {**record.document, "kind": "entry", "person_id": None, "entry_id": entry_id}
    await ctx.store.write([Insert("qr_tokens", document)])
    return issued.token


class TestAnEntryCodeIsNoPersonalCode:
    async def test_it_has_its_own_type_and_audience(self, client: httpx.AsyncClient) -> None:
        header, claims = unverified_parts((await declared(client))["token"])
        assert header["typ"] == "kb-entry+jwt"
        assert claims["aud"] == "khaibao-border"
        # Signed with the published keys all the same.
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert header["kid"] in {key["kid"] for key in jwks["keys"]}

    async def test_an_offline_scanner_refuses_it_by_the_published_rules(
        self, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        token = (await declared(client))["token"]
        jwks = (await client.get("/.well-known/jwks.json")).json()
        with pytest.raises(jwt.InvalidTokenError, match="wrong_type"):
            verify_offline(token, jwks, settings)
        # A scanner that checks only what PyJWT checks by itself (not `typ`) refuses it too.
        key = jwt.PyJWKSet.from_dict(jwks)[unverified_parts(token)[0]["kid"]]
        with pytest.raises(jwt.InvalidAudienceError):
            jwt.decode(token, key, algorithms=["ES256"], audience="khaibao-checkpoint")
        # The same rules accept a personal code: the refusal is the entry code's own.
        citizen = await sign_in_citizen(client)
        personal = await person_token(client, citizen, await create_person(client, citizen))
        assert verify_offline(personal, jwks, settings)["st"] == "green"

    async def test_an_online_scan_denies_it_as_wrong_type(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        token = (await declared(client))["token"]
        checkpoint = await new_checkpoint(ctx, client)
        staff = await staff_headers(ctx, "checkpoint_staff", checkpoint["id"])
        result = await scan(client, staff, checkpoint["id"], token)
        assert (result["decision"], result["reason_code"]) == ("deny", "wrong_type")
        assert result["status"] is None
        assert "entry" in result["reason"].lower()
        recorded = await ctx.store.find("scans", {"checkpoint_id": checkpoint["id"]})
        assert [(s["decision"], s["reason_code"]) for s in recorded] == [("deny", "wrong_type")]


class TestTheBorderAcceptsEntryCodes:
    async def test_a_new_entry_code(self, ctx: Context, client: httpx.AsyncClient) -> None:
        token = (await declared(client))["token"]
        checkpoint_id, staff = await border_checkpoint(ctx, client)
        scanned = await client.post(
            f"/v1/checkpoints/{checkpoint_id}/entry-scans", json={"token": token}, headers=staff
        )
        assert scanned.status_code == 200, scanned.text
        assert (scanned.json()["decision"], scanned.json()["status"]) == ("allow", "green")

    async def test_one_issued_before_entry_codes_had_their_own_type(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        entry = await declared(client)
        token = await legacy_entry_code(ctx, entry["id"])
        assert unverified_parts(token)[0]["typ"] == "kb-qr+jwt"
        checkpoint_id, staff = await border_checkpoint(ctx, client)
        scanned = await client.post(
            f"/v1/checkpoints/{checkpoint_id}/entry-scans", json={"token": token}, headers=staff
        )
        assert scanned.status_code == 200, scanned.text
        assert scanned.json()["traveller"]["passport_last4"] == "5678"
        stored = await ctx.store.get("entry_declarations", entry["id"])
        assert stored is not None
        assert stored["arrived_checkpoint_id"] == checkpoint_id

    async def test_but_never_a_personal_code(self, ctx: Context, client: httpx.AsyncClient) -> None:
        citizen = await sign_in_citizen(client)
        personal = await person_token(client, citizen, await create_person(client, citizen))
        checkpoint_id, staff = await border_checkpoint(ctx, client)
        refused = await client.post(
            f"/v1/checkpoints/{checkpoint_id}/entry-scans",
            json={"token": personal},
            headers=staff,
        )
        assert refused.status_code == 400
        assert refused.json()["code"] == "wrong_type"
        assert "personal QR code" in refused.json()["detail"]


class TestAnotherKindOfCodeAtTheBorderIsWrongType:
    """docs/api.md: online scans refuse another kind of code as `wrong_type`. Staff told
    "no declaration" would send a traveller who declared to declare again."""

    async def test_a_personal_code_in_the_callers_language(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        personal = await person_token(client, citizen, await create_person(client, citizen))
        checkpoint_id, staff = await border_checkpoint(ctx, client)
        url = f"/v1/checkpoints/{checkpoint_id}/entry-scans"
        vi = await client.post(
            url, json={"token": personal}, headers={**staff, "Accept-Language": "vi-VN"}
        )
        assert vi.status_code == 400
        assert vi.headers["content-type"] == "application/problem+json"
        assert (vi.json()["code"], vi.json()["title"]) == ("wrong_type", "Không phải mã nhập cảnh")
        assert "mã QR cá nhân" in vi.json()["detail"]
        ko = await client.post(
            url, json={"token": personal}, headers={**staff, "Accept-Language": "ko"}
        )
        assert ko.json()["title"] == "입국 신고 코드가 아닙니다"
        recorded = await ctx.store.find("entry_scans", {"checkpoint_id": checkpoint_id})
        assert [s["decision"] for s in recorded] == ["wrong_type", "wrong_type"]

    @pytest.mark.parametrize("printed", [True, False])
    async def test_a_venue_poster_with_or_without_its_prefix(
        self, ctx: Context, client: httpx.AsyncClient, printed: bool
    ) -> None:
        poster = (await new_checkpoint(ctx, client))["venue_token"]
        token = poster if printed else poster.removeprefix("KHAIBAO:1:")
        checkpoint_id, staff = await border_checkpoint(ctx, client)
        refused = await client.post(
            f"/v1/checkpoints/{checkpoint_id}/entry-scans",
            json={"token": token},
            headers={**staff, "Accept-Language": "en"},
        )
        assert refused.status_code == 400
        assert refused.json()["code"] == "wrong_type"
        assert "venue poster" in refused.json()["detail"]

    async def test_an_unknown_code_is_still_not_found(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        token = (await declared(client))["token"]
        head, claims, _ = token.split(".")
        checkpoint_id, staff = await border_checkpoint(ctx, client)
        url = f"/v1/checkpoints/{checkpoint_id}/entry-scans"
        for shown in ({"token": f"{head}.{claims}.AAAA"}, {"code": "ZZZZ-ZZZZ"}):
            refused = await client.post(url, json=shown, headers=staff)
            assert refused.status_code == 404, shown
            assert refused.json()["code"] == "entry_not_found"
