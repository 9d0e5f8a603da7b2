"""Every database query of the QR domain: signing keys, issued tokens and revocations.

* `signing_keys`: one document per key (`_id` = kid), the private key encrypted.
* `signing_state`: one document (`_id` = "qr") naming the key that signs (`current_kid`)
  and the one published ahead to take over at its `signs_from` (`next_kid`), so that
  creating the first key and rotating are compare-and-set operations several processes
  agree on.
* `qr_tokens`: every token signed (`_id` = jti), personal and venue, kept until it
  expires: the scan path finds whose a token is and its revocation from it.
* `revocations`: revoked jtis, kept until the token would have expired anyway; published
  to offline scanners by `GET /v1/revocations`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.storage import CollectionSpec, Delete, Document, Index, Insert, Operation, Store, Update

# A handful of keys and one state document: unsharded (docs/shard-plan.md).
SIGNING_KEYS = CollectionSpec(
    "signing_keys",
    datetime_fields=frozenset(
        {"created_at", "signs_from", "retired_at", "publish_until", "removed_at"}
    ),
    shard_key=None,
)
SIGNING_STATE = CollectionSpec(
    "signing_state", datetime_fields=frozenset({"updated_at"}), shard_key=None
)
QR_TOKENS = CollectionSpec(
    "qr_tokens",
    indexes=(Index(("person_id", "exp")), Index(("kid", "exp"))),
    datetime_fields=frozenset({"iat", "exp", "revoked_at", "expires_at"}),
    expires_field="expires_at",
)
REVOCATIONS = CollectionSpec(
    "revocations",
    indexes=(Index(("revoked_at",)),),
    datetime_fields=frozenset({"revoked_at", "expires_at"}),
    expires_field="expires_at",
)
SPECS: tuple[CollectionSpec, ...] = (SIGNING_KEYS, SIGNING_STATE, QR_TOKENS, REVOCATIONS)

STATE_ID = "qr"


# -- signing keys ----------------------------------------------------------------------------


async def signing_keys(store: Store) -> list[Document]:
    return await store.find("signing_keys", {}, sort=[("created_at", 1)])


async def signing_state(store: Store) -> Document | None:
    return await store.get("signing_state", STATE_ID)


def insert_first_key(key: Document, *, now: datetime) -> list[Insert]:
    """The very first key and the state naming it. Two processes racing here clash on the
    state document's `_id`; the loser reloads and uses the winner's key."""
    state = {"_id": STATE_ID, "current_kid": key["_id"], "updated_at": now}
    return [Insert("signing_keys", key), Insert("signing_state", state)]


def insert_key(key: Document) -> Insert:
    return Insert("signing_keys", key)


def set_signing(
    state: Document, *, current_kid: str, next_kid: str | None, now: datetime
) -> Update:
    """Name the key that signs and the one waiting, only if the state is still the `state`
    we read (nobody rotated or removed meanwhile)."""
    return Update(
        "signing_state",
        STATE_ID,
        set={"current_kid": current_kid, "next_kid": next_kid, "updated_at": now},
        when={"current_kid": state["current_kid"], "next_kid": state.get("next_kid")},
        must_match=True,
    )


def retire_key(kid: str, *, now: datetime, publish_until: datetime) -> Update:
    """The key signs until `now` (a rotation's takeover, ahead) and is published after."""
    return Update("signing_keys", kid, set={"retired_at": now, "publish_until": publish_until})


def unretire_key(kid: str) -> Update:
    """The rotation that would have retired the key was cancelled: it goes on signing."""
    return Update("signing_keys", kid, set={"retired_at": None, "publish_until": None})


def signs_from(kid: str, at: datetime) -> Update:
    return Update("signing_keys", kid, set={"signs_from": at}, must_match=True)


def remove_key(kid: str, *, now: datetime) -> Update:
    """Emergency removal: the private key is wiped and the public key unpublished; the
    document stays so scans can say *why* its tokens are refused."""
    return Update(
        "signing_keys",
        kid,
        set={"removed_at": now, "private_key_enc": None, "publish_until": now},
        must_match=True,
    )


async def last_expiry_signed_by(store: Store, kid: str) -> datetime | None:
    found = await store.find("qr_tokens", {"kid": kid}, sort=[("exp", -1)], limit=1)
    return found[0]["exp"] if found else None


# -- issued tokens ---------------------------------------------------------------------------


def insert_token(document: Document) -> Insert:
    return Insert("qr_tokens", document)


async def token(store: Store, jti: str) -> Document | None:
    return await store.get("qr_tokens", jti)


async def newest_live_token(
    store: Store, person_id: str, *, valid_after: datetime
) -> Document | None:
    """The person's newest unrevoked token still valid at `valid_after`."""
    found = await store.find(
        "qr_tokens",
        {"person_id": person_id, "exp": {"$gt": valid_after}, "revoked_at": None},
        sort=[("exp", -1)],
        limit=1,
    )
    return found[0] if found else None


async def live_tokens(store: Store, person_id: str, *, now: datetime) -> list[Document]:
    return await store.find(
        "qr_tokens",
        {"person_id": person_id, "exp": {"$gt": now}, "revoked_at": None},
    )


def revoke_token(document: Document, *, reason: str, now: datetime) -> list[Update]:
    """Mark the token record and publish its jti. Both are upserts or plain updates, so the
    same token revoked twice (two status changes racing) never fails the caller's batch."""
    jti = str(document["_id"])
    published: dict[str, Any] = {
        "revoked_at": now,
        "reason": reason,
        "expires_at": document["expires_at"],
    }
    return [
        Update("qr_tokens", jti, set={"revoked_at": now, "revoke_reason": reason}),
        Update("revocations", jti, set_on_insert=published, upsert=True),
    ]


async def revoked_since(store: Store, since: datetime | None, *, limit: int) -> list[Document]:
    where = {"revoked_at": {"$gte": since}} if since is not None else {}
    return await store.find("revocations", where, sort=[("revoked_at", 1)], limit=limit)


async def tokens_of_person(store: Store, person_id: str) -> list[Document]:
    """Every code issued for a person and still kept, oldest first (their export)."""
    return await store.find("qr_tokens", {"person_id": person_id}, sort=[("exp", 1)])


def erase_person_tokens(tokens: list[Document], *, now: datetime) -> list[Operation]:
    """Erasure: every live code published as revoked (offline scanners stop accepting it;
    the revocation holds only the jti), then the token records, which name the person,
    deleted: an online scan of the code then finds no record and denies it."""
    ops: list[Operation] = []
    for document in tokens:
        if document.get("revoked_at") is None and document["exp"] > now:
            ops.extend(revoke_token(document, reason="erased", now=now)[1:])
        ops.append(Delete("qr_tokens", {"_id": str(document["_id"])}))
    return ops
