"""Two codes of one person carry nothing that says they are one person's: a scanner's
operator, a venue or someone who photographed both cannot link the visits, nor see a known
person's code turn red. The scan still finds the person, through the code's record by `jti`,
and offline scanners still verify every code with the published keys. Codes signed while
`sub` was a keyed hash of the person id keep scanning until they expire."""

from __future__ import annotations

import base64
import secrets
import time
from datetime import timedelta
from typing import Any

import httpx
import jwt

from core.clock import utcnow
from core.context import Context
from core.settings import Settings
from qr import repository
from qr.keys import key_ring
from qr.tokens import low_s
from tests.checkpoints.helpers import (
    create_person,
    new_checkpoint,
    person_token,
    scan,
    staff_headers,
    unverified_parts,
    verify_offline,
    verify_with_joserfc,
)
from tests.conftest import sign_in_citizen

# The claims every code of its kind carries alike, and its status when issued.
SHARED_BY_EVERY_CODE = {"iss", "aud", "st"}
# The second a code was issued and when it expires: shared with every code issued in it.
ISSUE_TIMES = {"iat", "exp"}


def claims_in_common(first: str, second: str) -> set[str]:
    _, a = unverified_parts(first)
    _, b = unverified_parts(second)
    return {name for name in a.keys() | b.keys() if a.get(name) == b.get(name)}


async def code_signed_as_before(ctx: Context, person_id: str, status: str) -> str:
    """A personal code as `qr.signing` signed it before December 2026: `sub` the keyed hash
    of the person id (`subject_reference`, context "qr.sub"), recorded as it recorded it."""
    digest = bytes.fromhex(ctx.cipher.lookup_hash(person_id, context="qr.sub"))
    sub = base64.urlsafe_b64encode(digest).decode()[:22]
    signer = (await key_ring(ctx)).signing_key(utcnow())
    assert signer is not None
    iat = utcnow().replace(microsecond=0)
    exp = iat + timedelta(hours=ctx.settings.qr_token_hours)
    jti = secrets.token_urlsafe(16)
    claims = {
        "iss": ctx.settings.public_url,
        "aud": "khaibao-checkpoint",
        "sub": sub,
        "st": status,
        "iat": int(iat.timestamp()),
        "exp": int(exp.timestamp()),
        "jti": jti,
    }
    headers = {"kid": signer.kid, "typ": "kb-qr+jwt"}
    token = jwt.encode(claims, signer.private_key, algorithm=signer.alg, headers=headers)
    token = low_s(token) if signer.alg == "ES256" else token
    record = {
        "_id": jti,
        "kid": signer.kid,
        "iat": iat,
        "exp": exp,
        "revoked_at": None,
        "token": token,
        "expires_at": exp + timedelta(hours=1),
        "kind": "person",
        "person_id": person_id,
        "sub": sub,
        "status": status,
    }
    await ctx.store.write([repository.insert_token(record)])
    return token


async def jwks(client: httpx.AsyncClient) -> dict[str, Any]:
    keys: dict[str, Any] = (await client.get("/.well-known/jwks.json")).json()
    return keys


class TestTwoCodesOfOnePerson:
    async def test_the_green_code_and_the_red_one_after_a_case_share_nothing_of_the_person(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        before = int(time.time())
        green = await person_token(client, citizen, person_id)
        officer = await staff_headers(ctx, "health_officer")
        confirmed = await client.post("/v1/cases", json={"person_id": person_id}, headers=officer)
        assert confirmed.status_code == 201, confirmed.text
        red = await person_token(client, citizen, person_id)
        after = int(time.time())
        assert unverified_parts(green)[1]["st"] == "green"
        assert unverified_parts(red)[1]["st"] == "red"

        common = claims_in_common(green, red)
        assert "sub" not in common
        assert "jti" not in common
        assert common <= SHARED_BY_EVERY_CODE | ISSUE_TIMES
        for token in (green, red):  # the times are the clock's, not the person's
            _, claims = unverified_parts(token)
            assert before <= claims["iat"] <= after
            assert claims["exp"] - claims["iat"] == ctx.settings.qr_token_hours * 3600
        # The header names the signing key and the kind of code, as on everyone's codes.
        assert unverified_parts(green)[0] == unverified_parts(red)[0]

    async def test_two_peoples_codes_have_the_same_claims_in_common_as_one_persons(
        self, client: httpx.AsyncClient
    ) -> None:
        """Nothing in a code tells two codes of one person from codes of two people."""
        citizen = await sign_in_citizen(client)
        first = await create_person(client, citizen)
        second = await create_person(client, citizen)
        mine = await person_token(client, citizen, first)
        theirs = await person_token(client, citizen, second)
        assert {"sub", "jti"}.isdisjoint(claims_in_common(mine, theirs))
        assert len({unverified_parts(t)[1]["sub"] for t in (mine, theirs)}) == 2

    async def test_a_scan_of_each_finds_the_person(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        green = await person_token(client, citizen, person_id)
        officer = await staff_headers(ctx, "health_officer")
        confirmed = await client.post("/v1/cases", json={"person_id": person_id}, headers=officer)
        assert confirmed.status_code == 201, confirmed.text
        red = await person_token(client, citizen, person_id)
        checkpoint = await new_checkpoint(ctx, client)
        staff = await staff_headers(ctx, "checkpoint_staff", checkpoint["id"])

        # The green code was revoked by the case; the scan knows it is this person's, red now.
        revoked = await scan(client, staff, checkpoint["id"], green)
        assert (revoked["decision"], revoked["reason_code"]) == ("deny", "revoked")
        assert revoked["status"] == "red"
        current = await scan(client, staff, checkpoint["id"], red)
        assert (current["decision"], current["reason_code"]) == ("deny", "status_red")
        assert current["status"] == "red"
        scans = await ctx.store.find("scans", {"checkpoint_id": checkpoint["id"]})
        assert [s["person_id"] for s in scans] == [person_id, person_id]

    async def test_offline_scanners_verify_each_with_the_published_keys(
        self, ctx: Context, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        green = await person_token(client, citizen, person_id)
        officer = await staff_headers(ctx, "health_officer")
        confirmed = await client.post("/v1/cases", json={"person_id": person_id}, headers=officer)
        assert confirmed.status_code == 201, confirmed.text
        red = await person_token(client, citizen, person_id)

        keys = await jwks(client)
        for token in (green, red):
            assert verify_offline(token, keys, settings) == unverified_parts(token)[1]
            assert verify_with_joserfc(token, keys, settings) == unverified_parts(token)[1]
        # What an offline scanner refuses the green one by: its `jti` on the synced list.
        staff = await staff_headers(ctx, "checkpoint_staff")
        listed = await client.get("/v1/revocations", headers=staff)
        assert listed.status_code == 200, listed.text
        revoked = {entry["jti"] for entry in listed.json()["revoked"]}
        assert unverified_parts(green)[1]["jti"] in revoked
        assert unverified_parts(red)[1]["jti"] not in revoked


class TestACodeSignedBeforeTheChange:
    async def test_it_scans_until_it_expires(self, ctx: Context, client: httpx.AsyncClient) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        old = await code_signed_as_before(ctx, person_id, "green")
        checkpoint = await new_checkpoint(ctx, client)
        staff = await staff_headers(ctx, "checkpoint_staff", checkpoint["id"])

        result = await scan(client, staff, checkpoint["id"], old)
        assert (result["decision"], result["status"], result["reason_code"]) == (
            "allow",
            "green",
            "ok",
        )
        scans = await ctx.store.find("scans", {"checkpoint_id": checkpoint["id"]})
        assert [s["person_id"] for s in scans] == [person_id]

    async def test_it_is_revoked_with_the_persons_other_codes(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        old = await code_signed_as_before(ctx, person_id, "green")
        officer = await staff_headers(ctx, "health_officer")
        confirmed = await client.post("/v1/cases", json={"person_id": person_id}, headers=officer)
        assert confirmed.status_code == 201, confirmed.text
        checkpoint = await new_checkpoint(ctx, client)
        staff = await staff_headers(ctx, "checkpoint_staff", checkpoint["id"])

        result = await scan(client, staff, checkpoint["id"], old)
        assert (result["decision"], result["status"], result["reason_code"]) == (
            "deny",
            "red",
            "revoked",
        )

    async def test_the_next_code_issued_shares_nothing_with_it(
        self, ctx: Context, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        old = await code_signed_as_before(ctx, person_id, "green")
        officer = await staff_headers(ctx, "health_officer")
        confirmed = await client.post("/v1/cases", json={"person_id": person_id}, headers=officer)
        assert confirmed.status_code == 201, confirmed.text
        new = await person_token(client, citizen, person_id)
        assert {"sub", "jti"}.isdisjoint(claims_in_common(old, new))
        assert (
            verify_offline(old, await jwks(client), settings)["sub"]
            != (verify_offline(new, await jwks(client), settings)["sub"])
        )
