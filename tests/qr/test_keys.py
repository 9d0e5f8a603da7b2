"""Signing keys: the published key set, keys at rest, and rotation and emergency removal
through the real `khaibao keys` command (a separate process, as an operator runs it). A
rotated key signs only once every cached key set has it; the tests that need it signing
rotate in this process with the clock set back by that delay (`rotate(now=...)`)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.exceptions import InvalidTag
from joserfc.jwk import KeySet

from core.clock import utcnow
from core.context import Context
from core.principals import shell_operator
from core.settings import Settings
from qr.keys import PRIVATE_KEY_CONTEXT, key_ring
from qr.rotation import TAKEOVER_MARGIN, rotate, takeover_delay
from tests.checkpoints.helpers import (
    change_status,
    create_person,
    new_checkpoint,
    person_token,
    scan,
    staff_headers,
    unverified_parts,
    verify_with_joserfc,
)
from tests.conftest import make_settings, sign_in_citizen

REPOSITORY = Path(__file__).resolve().parents[2]


async def khaibao(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the `khaibao` CLI against the test's database, in its own process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KHAIBAO_")}
    env.update({"KHAIBAO_ENV": "test", "KHAIBAO_DATABASE_URL": settings.database_url})
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "api.cli", *args],
        env=env,
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class TestPublishedKeySet:
    async def test_jwks_is_cacheable_and_revalidates(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/.well-known/jwks.json")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.headers["cache-control"] == "public, max-age=300"
        keys = response.json()["keys"]
        assert len(keys) == 1
        assert {"kty", "crv", "x", "y", "kid", "alg", "use"} <= set(keys[0])
        assert keys[0]["alg"] == "ES256"
        assert keys[0]["use"] == "sig"
        assert "d" not in keys[0]
        again = await client.get(
            "/.well-known/jwks.json", headers={"If-None-Match": response.headers["etag"]}
        )
        assert again.status_code == 304
        assert again.headers["etag"] == response.headers["etag"]

    async def test_no_sign_in_needed(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/.well-known/jwks.json")).status_code == 200


class TestKeysAtRest:
    async def test_private_key_is_encrypted_and_bound_to_its_field(
        self, client: httpx.AsyncClient, ctx: Context
    ) -> None:
        await client.get("/.well-known/jwks.json")  # first use creates the key
        documents = await ctx.store.find("signing_keys", {})
        assert len(documents) == 1
        stored = documents[0]
        assert "PRIVATE KEY" not in stored["private_key_enc"]
        pem = ctx.cipher.decrypt(stored["private_key_enc"], context=PRIVATE_KEY_CONTEXT)
        assert pem.startswith("-----BEGIN PRIVATE KEY-----")
        with pytest.raises(InvalidTag):
            ctx.cipher.decrypt(stored["private_key_enc"], context="account.phone")
        state = await ctx.store.get("signing_state", "qr")
        assert state is not None
        assert state["current_kid"] == stored["_id"]


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def rotated_long_ago(ctx: Context, algorithm: str | None = None) -> str:
    """A rotation published a takeover delay ago: its key signs now."""
    earlier = utcnow() - takeover_delay(ctx.settings)
    rotation = await rotate(ctx, algorithm, by=shell_operator(), now=earlier)  # type: ignore[arg-type]
    assert rotation.signs_from <= utcnow()
    return rotation.kid


class TestAKeyIsPublishedBeforeItSigns:
    # With the key cache off, this process sees the CLI's changes at once, as every
    # process does after KHAIBAO_QR_KEY_CACHE_SECONDS.
    @pytest.fixture
    def settings(self, database_url: str) -> Settings:
        return make_settings(database_url, qr_key_cache_seconds=0)

    async def test_rotate_publishes_now_and_says_when_the_key_signs(
        self, client: httpx.AsyncClient, ctx: Context, settings: Settings
    ) -> None:
        citizen = await sign_in_citizen(client, "+84900000001")
        old_kid = unverified_parts(
            await person_token(client, citizen, await create_person(client, citizen))
        )[0]["kid"]

        rotated = await khaibao(settings, "keys", "rotate")
        assert rotated.returncode == 0, rotated.stderr
        new_kid = rotated.stdout.split()[0]
        assert new_kid != old_kid
        assert "signs from" in rotated.stdout
        new_key = await ctx.store.get("signing_keys", new_kid)
        assert new_key is not None
        signs_from = new_key["signs_from"]
        assert _time(rotated.stdout.split("signs from ")[1].split(",")[0]) == signs_from.replace(
            microsecond=0
        )

        # Published at once, and signing only after every copy of the key set fetched
        # before has expired (its max-age, as served) and every server serves it.
        response = await client.get("/.well-known/jwks.json")
        assert [key["kid"] for key in response.json()["keys"]] == [new_kid, old_kid]
        max_age = int(response.headers["cache-control"].split("max-age=")[1])
        waited = signs_from - new_key["created_at"]
        # The command's own process has the default key cache lifetime, 30 s.
        assert waited == timedelta(seconds=max_age + 30) + TAKEOVER_MARGIN

        # Until then new codes carry the old key, which every scanner already has.
        other = await sign_in_citizen(client, "+84900000002")
        fresh = await person_token(client, other, await create_person(client, other))
        assert unverified_parts(fresh)[0]["kid"] == old_kid
        listed = await khaibao(settings, "keys", "list")
        rows = {row.split("\t")[0]: row.split("\t") for row in listed.stdout.splitlines()[1:]}
        assert {kid: row[2] for kid, row in rows.items()} == {old_kid: "current", new_kid: "next"}
        assert _time(rows[new_kid][6]) == signs_from.replace(microsecond=0)

        # A second rotation while one waits would cut its wait short: refused.
        again = await khaibao(settings, "keys", "rotate")
        assert again.returncode == 1
        assert f"key {new_kid} is already published" in again.stderr

    async def test_every_process_switches_at_the_time_without_reloading(
        self, client: httpx.AsyncClient, ctx: Context, settings: Settings
    ) -> None:
        old_kid = (await client.get("/.well-known/jwks.json")).json()["keys"][0]["kid"]
        rotated = await khaibao(settings, "keys", "rotate")
        new_kid = rotated.stdout.split()[0]
        ring = await key_ring(ctx)  # what a process holds for its cache lifetime
        signs_from = ring.keys[new_kid].signs_from
        before = ring.signing_key(signs_from - timedelta(milliseconds=1))
        after = ring.signing_key(signs_from)
        assert (before and before.kid, after and after.kid) == (old_kid, new_kid)

    async def test_removing_the_waiting_key_cancels_the_rotation(
        self, client: httpx.AsyncClient, ctx: Context, settings: Settings
    ) -> None:
        old_kid = (await client.get("/.well-known/jwks.json")).json()["keys"][0]["kid"]
        new_kid = (await khaibao(settings, "keys", "rotate")).stdout.split()[0]
        removed = await khaibao(settings, "keys", "remove", new_kid)
        assert removed.returncode == 0, removed.stderr
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert [key["kid"] for key in jwks["keys"]] == [old_kid]
        old_key = await ctx.store.get("signing_keys", old_kid)
        assert old_key is not None
        assert (old_key["retired_at"], old_key["publish_until"]) == (None, None)
        ring = await key_ring(ctx)
        far = utcnow() + timedelta(days=1)
        signer = ring.signing_key(far)
        assert signer is not None
        assert signer.kid == old_kid
        rotated = await khaibao(settings, "keys", "rotate")  # and a new rotation may start
        assert rotated.returncode == 0, rotated.stderr

    async def test_removing_the_current_key_makes_the_waiting_one_sign_at_once(
        self, client: httpx.AsyncClient, ctx: Context, settings: Settings
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        token = await person_token(client, citizen, person_id)
        old_kid = unverified_parts(token)[0]["kid"]
        new_kid = (await khaibao(settings, "keys", "rotate")).stdout.split()[0]

        removed = await khaibao(settings, "keys", "remove", old_kid)
        assert removed.returncode == 0, removed.stderr
        assert removed.stdout.strip().endswith(new_kid)
        checkpoint = await new_checkpoint(ctx, client)
        staff = await staff_headers(ctx, "checkpoint_staff", checkpoint["id"])
        assert (await scan(client, staff, checkpoint["id"], token))["reason_code"] == "key_revoked"
        fresh = await person_token(client, citizen, person_id)
        assert unverified_parts(fresh)[0]["kid"] == new_kid
        assert (await scan(client, staff, checkpoint["id"], fresh))["decision"] == "allow"


class TestRotationAndRemoval:
    # With the key cache off, this process sees the CLI's changes at once, as every
    # process does after KHAIBAO_QR_KEY_CACHE_SECONDS.
    @pytest.fixture
    def settings(self, database_url: str) -> Settings:
        return make_settings(database_url, qr_key_cache_seconds=0)

    async def test_rotate_keeps_old_codes_valid_and_remove_ends_them(
        self, client: httpx.AsyncClient, ctx: Context, settings: Settings
    ) -> None:
        first_citizen = await sign_in_citizen(client, "+84900000001")
        first_person = await create_person(client, first_citizen)
        old_token = await person_token(client, first_citizen, first_person)
        old_kid = unverified_parts(old_token)[0]["kid"]
        checkpoint = await new_checkpoint(ctx, client)
        staff = await staff_headers(ctx, "checkpoint_staff", checkpoint["id"])

        new_kid = await rotated_long_ago(ctx)
        assert new_kid != old_kid

        # The old code still verifies, here and for anyone holding the key set.
        assert (await scan(client, staff, checkpoint["id"], old_token))["decision"] == "allow"
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert [key["kid"] for key in jwks["keys"]] == [new_kid, old_kid]
        verify_with_joserfc(old_token, jwks, settings)

        # New codes are signed with the new key.
        second_citizen = await sign_in_citizen(client, "+84900000002")
        second_person = await create_person(client, second_citizen)
        new_token = await person_token(client, second_citizen, second_person)
        assert unverified_parts(new_token)[0]["kid"] == new_kid
        verify_with_joserfc(new_token, jwks, settings)
        assert (await scan(client, staff, checkpoint["id"], new_token))["decision"] == "allow"

        # The old key stays published until the last code it signed expires: here the
        # venue poster, valid for a year.
        old_key = await ctx.store.get("signing_keys", old_kid)
        assert old_key is not None
        assert old_key["retired_at"] is not None
        assert old_key["publish_until"] >= old_key["retired_at"] + timedelta(days=364)

        listed = await khaibao(settings, "keys", "list")
        assert listed.returncode == 0, listed.stderr
        header, *lines = listed.stdout.splitlines()
        assert header.split("\t")[:3] == ["kid", "alg", "state"]
        rows = [line.split("\t") for line in lines]
        states = {row[0]: row[2] for row in rows}
        assert states == {new_kid: "current", old_kid: "published"}

        removed = await khaibao(settings, "keys", "remove", old_kid)
        assert removed.returncode == 0, removed.stderr
        result = await scan(client, staff, checkpoint["id"], old_token)
        assert (result["decision"], result["reason_code"]) == ("deny", "key_revoked")
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert [key["kid"] for key in jwks["keys"]] == [new_kid]
        removed_doc = await ctx.store.get("signing_keys", old_kid)
        assert removed_doc is not None
        assert removed_doc["private_key_enc"] is None

        # The owner simply fetches a fresh code, signed with a key still in force.
        replacement = await person_token(client, first_citizen, first_person)
        assert unverified_parts(replacement)[0]["kid"] == new_kid
        assert (await scan(client, staff, checkpoint["id"], replacement))["decision"] == "allow"

    async def test_a_key_id_beginning_with_a_dash_reaches_the_command(
        self, settings: Settings
    ) -> None:
        # Key ids are base64url thumbprints: one in 64 begins with "-". It must be taken
        # as the id, not refused as an unknown option (an operator removing a leaked key
        # cannot be told to find the `--` trick first).
        removed = await khaibao(settings, "keys", "remove", "-YJZR8krHP9IoaiMEfzGCUJp6rO")
        assert removed.returncode == 1, removed.stderr
        assert removed.stderr.strip() == "error: no such key"

    async def test_removing_the_current_key_rotates_first(
        self, client: httpx.AsyncClient, ctx: Context, settings: Settings
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        token = await person_token(client, citizen, person_id)
        kid = unverified_parts(token)[0]["kid"]

        removed = await khaibao(settings, "keys", "remove", kid)
        assert removed.returncode == 0, removed.stderr
        ring = await key_ring(ctx)
        assert ring.current is not None
        assert ring.current.kid != kid
        assert removed.stdout.strip().endswith(ring.current.kid)
        checkpoint = await new_checkpoint(ctx, client)
        staff = await staff_headers(ctx, "checkpoint_staff", checkpoint["id"])
        assert (await scan(client, staff, checkpoint["id"], token))["reason_code"] == "key_revoked"
        fresh = await person_token(client, citizen, person_id)
        assert (await scan(client, staff, checkpoint["id"], fresh))["decision"] == "allow"

    async def test_unknown_kid_is_an_operator_error(self, settings: Settings) -> None:
        removed = await khaibao(settings, "keys", "remove", "no-such-kid")
        assert removed.returncode == 1
        assert "no such key" in removed.stderr

    async def test_rotation_to_eddsa_serves_both_key_types(
        self, client: httpx.AsyncClient, ctx: Context, settings: Settings
    ) -> None:
        citizen = await sign_in_citizen(client)
        person_id = await create_person(client, citizen)
        es256 = await person_token(client, citizen, person_id)
        await rotated_long_ago(ctx, "EdDSA")
        await change_status(ctx, person_id, "yellow")  # a new status: a new code
        eddsa = await person_token(client, citizen, person_id)
        assert unverified_parts(eddsa)[0]["alg"] == "EdDSA"
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert sorted(key["kty"] for key in jwks["keys"]) == ["EC", "OKP"]
        key_set = KeySet.import_key_set(jwks)
        for token in (es256, eddsa):
            assert key_set.get_by_kid(unverified_parts(token)[0]["kid"]) is not None


class TestOneKeyForManyProcesses:
    async def test_a_second_process_uses_the_same_first_key(
        self, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        kid = (await client.get("/.well-known/jwks.json")).json()["keys"][0]["kid"]
        listed = await khaibao(settings, "keys", "list")
        assert listed.returncode == 0, listed.stderr
        current = [row.split("\t")[0] for row in listed.stdout.splitlines() if "\tcurrent\t" in row]
        assert current == [kid], listed.stdout
