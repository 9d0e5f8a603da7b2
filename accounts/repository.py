"""Every query on citizen accounts, staff users, one-time codes and refresh tokens."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from core.storage import (
    CollectionSpec,
    Delete,
    Document,
    Index,
    Insert,
    Operation,
    Store,
    Update,
)

# Encryption and keyed-hash context of an account's phone: it receives the alerts for all
# the account's people.
PHONE_CONTEXT = "account.phone"

# One account per phone: its `_id` is derived from the phone's keyed hash, so uniqueness holds
# on a sharded cluster, where only the shard key (`_id`) can be unique
# (docs/shard-plan.md). The `phone_hash` index finds accounts made before, under random ids.
ACCOUNTS = CollectionSpec(
    "accounts",
    indexes=(Index(("phone_hash",)),),
    datetime_fields=frozenset({"created_at"}),
)
# A few hundred staff: unsharded, so the unique user name holds as an index.
STAFF = CollectionSpec(
    "staff_users",
    indexes=(Index(("username",), unique=True),),
    datetime_fields=frozenset({"created_at"}),
    shard_key=None,
)
OTPS = CollectionSpec(
    "otps", datetime_fields=frozenset({"expires_at", "created_at"}), expires_field="expires_at"
)
REFRESH_TOKENS = CollectionSpec(
    "refresh_tokens",
    # A reused refresh token revokes every token descended from the same sign-in.
    # Erasure of an account ends every sign-in of it (`subject`).
    indexes=(Index(("family",)), Index(("subject",))),
    datetime_fields=frozenset({"expires_at"}),
    expires_field="expires_at",
)
SPECS = (ACCOUNTS, STAFF, OTPS, REFRESH_TOKENS)

# Ids per read when naming staff accounts: one `$in` stays a bounded command.
NAME_BATCH = 500


async def account(store: Store, account_id: str) -> Document | None:
    """By primary key: tracing reads the phone that alerts for a person go to."""
    return await store.get("accounts", account_id)


def account_id_for(phone_hash: str) -> str:
    """The `_id` of the phone's account: two sign-ins racing to create it meet on it."""
    digest = hashlib.sha256(f"account\x00{phone_hash}".encode()).hexdigest()
    return f"acc_{digest[:32]}"


async def account_by_phone_hash(store: Store, phone_hash: str) -> Document | None:
    found = await store.get("accounts", account_id_for(phone_hash))
    if found is None:  # an account made before ids were derived from the phone
        found = await store.find_one("accounts", {"phone_hash": phone_hash})
    return found


async def staff_by_username(store: Store, username: str) -> Document | None:
    return await store.find_one("staff_users", {"username": username})


async def staff_by_id(store: Store, user_id: str) -> Document | None:
    return await store.get("staff_users", user_id)


async def usernames_of(store: Store, user_ids: Iterable[str]) -> dict[str, str]:
    """User names of staff accounts by id, for `khaibao audit` to name who acted: one read
    per `NAME_BATCH` ids (a page names a few staff, however long it is). Staff accounts
    only, never citizens' accounts, whose phone is personal data. A store without the
    collection (one opened for another domain alone) names nobody: the ids stay as they are."""
    ids = sorted(set(user_ids))
    names: dict[str, str] = {}
    try:
        for start in range(0, len(ids), NAME_BATCH):
            chunk = ids[start : start + NAME_BATCH]
            for doc in await store.find("staff_users", {"_id": {"$in": chunk}}):
                username = doc.get("username")
                if isinstance(username, str):
                    names[str(doc["_id"])] = username
    except ValueError:
        return {}
    return names


async def all_staff(store: Store) -> list[Document]:
    """Every staff account, by username: operators count them in dozens, not millions."""
    return await store.find("staff_users", {}, sort=(("username", 1),))


def update_staff(user_id: str, fields: Document) -> Update:
    """Change an account and bump its token version, which ends its live access tokens."""
    return Update("staff_users", user_id, set=fields, inc={"token_version": 1}, must_match=True)


async def otp(store: Store, phone_hash: str) -> Document | None:
    return await store.get("otps", phone_hash)


def save_codes(
    phone_hash: str, found: Document | None, codes: list[Document], *, now: datetime
) -> list[Operation]:
    """The phone's live codes (`{"h": code hash, "until": epoch seconds, "wrong": n}`),
    replacing those `found` held, only while it still holds them: every write bumps the
    record's version `v` and is made only on the version read, so two requests or guesses
    at once cannot both write over the same codes (the loser reads again).

    A phone holds several codes at once: a code someone else asks for does not replace the
    owner's. The record expires with its last code."""
    until = max((float(c["until"]) for c in codes), default=now.timestamp())
    fields = {
        "codes": codes,
        "created_at": now,
        "expires_at": datetime.fromtimestamp(until, tz=now.tzinfo),
    }
    if found is None:
        return [Insert("otps", {"_id": phone_hash, **fields, "v": 0})]
    if "v" not in found:
        # A code stored before phones held several: replaced, while it is still that one.
        return [
            Delete("otps", {"_id": phone_hash, "code_hash": found.get("code_hash")}),
            Insert("otps", {"_id": phone_hash, **fields, "v": 0}),
        ]
    version = int(found["v"])
    return [
        Update(
            "otps",
            phone_hash,
            set={**fields, "v": version + 1},
            when={"v": version},
            must_match=True,
        )
    ]


def insert_account(document: Document) -> Insert:
    return Insert("accounts", document)


def insert_staff(document: Document) -> Insert:
    return Insert("staff_users", document)


def insert_refresh_token(document: Document) -> Insert:
    return Insert("refresh_tokens", document)


async def refresh_token(store: Store, token_hash: str) -> Document | None:
    return await store.get("refresh_tokens", token_hash)


def revoke_refresh_family(family: str) -> Delete:
    return Delete("refresh_tokens", {"family": family})


def use_refresh_token(token_hash: str) -> Update:
    return Update(
        "refresh_tokens", token_hash, set={"used": True}, when={"used": False}, must_match=True
    )


def erase_account(account: Document) -> list[Delete]:
    """Erasure of a citizen account: the account (its phone), its live one-time code and
    every refresh token, so no sign-in of it lasts beyond its access token's minutes."""
    return [
        Delete("accounts", {"_id": str(account["_id"])}),
        Delete("otps", {"_id": str(account["phone_hash"])}),
        Delete("refresh_tokens", {"subject": str(account["_id"])}),
    ]
