"""Administrative changes in the audit log. A reviewer found that `khaibao users …`,
`khaibao keys rotate` and `POST /v1/checkpoints` wrote nothing there, though staff reads
were audited. Each change is now written with its entry, in one batch: who (a signed-in
admin's id, or `cli:` and the OS user for a command), what (`action`, `params`), which
object (`target`) and when (`at`), and never a password or a key."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from core.clock import utcnow
from core.context import Context
from tests.checkpoints.helpers import account_id
from tests.conftest import STAFF_PASSWORD, sign_in_staff

REPOSITORY = Path(__file__).resolve().parents[2]
OS_USER = "ops.lan"  # the login name the commands run under (getpass reads LOGNAME first)


async def khaibao(ctx: Context, *args: str, stdin: str = "") -> str:
    """Run the `khaibao` command in its own process, as an operator does; its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KHAIBAO_")}
    env.update(KHAIBAO_ENV="test", KHAIBAO_DATABASE_URL=ctx.settings.database_url, LOGNAME=OS_USER)
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "api.cli", *args],
        input=stdin,
        env=env,
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def audit_entries(ctx: Context, action_prefix: str) -> list[dict[str, Any]]:
    entries = await ctx.store.find("audit_log", {}, sort=(("at", 1),))
    return [e for e in entries if str(e.get("action", "")).startswith(action_prefix)]


def assert_recent(entry: dict[str, Any]) -> None:
    assert utcnow() - timedelta(minutes=5) < entry["at"] <= utcnow()


class TestStaffAccountCommands:
    async def test_each_users_command_is_audited_as_the_os_user_without_the_password(
        self, ctx: Context
    ) -> None:
        pw = f"{STAFF_PASSWORD}\n"
        user_id = await khaibao(
            ctx, "users", "create", "--role", "health_officer", "--username", "nurse",
            "--province", "1", stdin=pw,
        )  # fmt: skip
        await khaibao(ctx, "users", "update", "--username", "nurse", "--role", "analyst")
        await khaibao(ctx, "users", "disable", "--username", "nurse")
        await khaibao(ctx, "users", "enable", "--username", "nurse")
        await khaibao(
            ctx, "users", "reset-password", "--username", "nurse", stdin="a new long passphrase\n"
        )

        entries = await audit_entries(ctx, "staff.")
        assert [e["action"] for e in entries] == [
            "staff.create",
            "staff.update",
            "staff.disable",
            "staff.enable",
            "staff.reset_password",
        ]
        for entry in entries:
            assert entry["user"] == f"cli:{OS_USER}"
            assert entry["target"] == user_id
            assert_recent(entry)
            assert STAFF_PASSWORD not in repr(entry)
            assert "a new long passphrase" not in repr(entry)
            assert "argon2" not in repr(entry)
        create, update, disable, _, reset = entries
        assert create["params"]["role"] == "health_officer"
        assert create["params"]["area"] == {"province": 1, "ward": None}
        assert update["params"]["role"] == "analyst"
        assert disable["params"] == {"disabled": True}
        assert reset["params"] == {}


class TestSigningKeyCommands:
    async def test_rotate_and_remove_are_audited_by_key_id(self, ctx: Context) -> None:
        # `rotate` prints the new key's id first, then when it signs (it waits, published).
        first = (await khaibao(ctx, "keys", "rotate")).split()[0]
        await khaibao(ctx, "keys", "remove", first)  # the waiting key: cancels the rotation
        second = (await khaibao(ctx, "keys", "rotate")).split()[0]

        rotated_first, removed, rotated_second = await audit_entries(ctx, "qr.keys.")
        assert rotated_first["action"] == "qr.keys.rotate"
        assert rotated_first["target"] == first
        signing = rotated_first["params"]["previous"]
        assert signing not in (first, second)
        assert rotated_second["target"] == second
        assert rotated_second["params"] == {"previous": signing}
        assert removed["action"] == "qr.keys.remove"
        assert removed["target"] == first
        assert removed["params"] == {"new_current": None}  # not the signing key: none new
        for entry in (rotated_first, rotated_second, removed):
            assert entry["user"] == f"cli:{OS_USER}"
            assert_recent(entry)
            assert "PRIVATE" not in repr(entry)
            assert "-----" not in repr(entry)


class TestCheckpoints:
    async def test_an_admins_new_checkpoint_is_audited_with_the_admins_id(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        admin = await sign_in_staff(ctx, client, "admin")
        body = {"name": "Chợ Bến Thành", "province": 1, "ward": 70, "kind": "market"}
        created = await client.post("/v1/checkpoints", json=body, headers=admin)
        assert created.status_code == 201, created.text

        [entry] = await audit_entries(ctx, "checkpoint.")
        assert entry["action"] == "checkpoint.create"
        assert entry["user"] == account_id(admin)
        assert entry["role"] == "admin"
        assert entry["target"] == created.json()["id"]
        assert entry["params"] == {"province": 1, "ward": 70, "kind": "market"}
        assert_recent(entry)

    async def test_a_checkpoint_made_from_the_shell_names_the_os_user(self, ctx: Context) -> None:
        checkpoint_id = await khaibao(
            ctx, "checkpoints", "create", "--name", "Chợ", "--province", "1",
            "--ward", "70", "--kind", "market",
        )  # fmt: skip
        [entry] = await audit_entries(ctx, "checkpoint.")
        assert entry["user"] == f"cli:{OS_USER}"
        assert entry["target"] == checkpoint_id
        stored = await ctx.store.get("checkpoints", checkpoint_id)
        assert stored is not None
        assert stored["created_by"] == f"cli:{OS_USER}"


class TestBorderGates:
    async def test_adding_and_retiring_a_gate_is_audited(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        admin = await sign_in_staff(ctx, client, "admin")
        gate = {
            "id": "poe_new_gate",
            "name": "Cửa khẩu mới",
            "name_en": "New gate",
            "kind": "land",
            "province": 20,
        }
        assert (await client.post("/v1/entry/points", json=gate, headers=admin)).status_code == 201
        retired = await client.delete("/v1/entry/points/poe_new_gate", headers=admin)
        assert retired.status_code == 204

        put, retire = await audit_entries(ctx, "entry_point.")
        assert put["action"] == "entry_point.put"
        assert put["params"]["province"] == 20
        assert retire["action"] == "entry_point.retire"
        for entry in (put, retire):
            assert entry["user"] == account_id(admin)
            assert entry["target"] == "poe_new_gate"
            assert_recent(entry)
