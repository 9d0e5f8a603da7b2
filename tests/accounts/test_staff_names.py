"""Naming staff accounts by id (`accounts.repository.usernames_of`): what `khaibao audit`
shows in its `actor` column, for a page of entries however many accounts it names."""

from __future__ import annotations

from accounts import repository
from core.context import Context
from core.storage.factory import open_store
from reports.counters import COUNTERS
from tests.conftest import make_settings


def staff_document(user_id: str, username: str) -> dict[str, object]:
    return {
        "_id": user_id,
        "username": username,
        "password_hash": "not a hash: nobody signs in here",
        "role": "analyst",
        "disabled": False,
        "token_version": 0,
    }


class TestUsernamesOf:
    async def test_names_staff_accounts_across_reads(self, ctx: Context) -> None:
        """More ids than one read takes: the first account's and the last's fall in
        different reads, and both are named."""
        await ctx.store.write(
            [
                repository.insert_staff(staff_document("usr_a", "an.tran")),
                repository.insert_staff(staff_document("usr_z", "lan.nguyen")),
            ]
        )
        gone = [f"usr_m{n:04d}" for n in range(repository.NAME_BATCH + 100)]
        names = await repository.usernames_of(ctx.store, ["usr_z", *gone, "usr_a", "usr_a"])
        assert names == {"usr_a": "an.tran", "usr_z": "lan.nguyen"}

    async def test_a_citizens_account_is_never_named(self, ctx: Context) -> None:
        account_id = repository.account_id_for("a phone's hash")
        await ctx.store.write(
            [repository.insert_account({"_id": account_id, "phone_hash": "a phone's hash"})]
        )
        assert await repository.usernames_of(ctx.store, [account_id]) == {}

    async def test_a_store_without_staff_accounts_names_nobody(self, database_url: str) -> None:
        store = open_store(make_settings(database_url))  # a store that knows only counters
        await store.start([COUNTERS])
        try:
            assert await repository.usernames_of(store, ["usr_a"]) == {}
        finally:
            await store.close()
