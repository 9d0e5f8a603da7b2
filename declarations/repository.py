"""Every query on declarations and idempotency records (people: `people.repository`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import BaseModel

from core.context import Context
from core.storage import CollectionSpec, Delete, Document, Index, Insert, Store

# Encryption context of the street: a value encrypted for one field cannot be decrypted as
# another.
STREET_CONTEXT = "declaration.street"

DECLARATIONS = CollectionSpec(
    "declarations",
    # `_id` last: an account's history is sorted by time, then id, within the index.
    indexes=(
        Index(("account_id", "created_at", "_id")),
        Index(("person_id", "created_at", "_id")),
    ),
    datetime_fields=frozenset({"created_at", "expires_at"}),
    expires_field="expires_at",
)
# One record per (account, Idempotency-Key): its unique `_id` is what makes 20 identical
# requests racing each other store one declaration.
IDEMPOTENCY = CollectionSpec(
    "idempotency",
    # Erasure finds a person's stored answers (they name the person) by `person_id`.
    indexes=(Index(("person_id",)),),
    datetime_fields=frozenset({"created_at", "expires_at"}),
    expires_field="expires_at",
)
SPECS: tuple[CollectionSpec, ...] = (DECLARATIONS, IDEMPOTENCY)


def insert_declaration(document: Document) -> Insert:
    return Insert("declarations", document)


async def get_declaration(store: Store, declaration_id: str) -> Document | None:
    return await store.get("declarations", declaration_id)


async def declarations_of_account(
    store: Store, account_id: str, *, person_id: str | None, limit: int
) -> list[Document]:
    where: dict[str, Any] = {"account_id": account_id}
    if person_id is not None:
        where["person_id"] = person_id
    return await store.find(
        "declarations", where, sort=[("created_at", -1), ("_id", -1)], limit=limit
    )


def idempotency_hashes(ctx: Context, scoped_key: str, body: BaseModel) -> tuple[str, str]:
    """The `_id` of the record that answers an Idempotency-Key (`scoped_key`: the key with
    whatever keeps one caller's or one route's keys apart), and a keyed hash of the body
    sent with it, which a retry must match."""
    record_id = ctx.cipher.lookup_hash(scoped_key, context="idempotency.key")
    canonical = orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return record_id, ctx.cipher.lookup_hash(canonical.decode(), context="idempotency.body")


async def idempotency_record(store: Store, record_id: str) -> Document | None:
    return await store.get("idempotency", record_id)


def insert_idempotency_record(document: Document) -> Insert:
    return Insert("idempotency", document)


def erase_idempotency_records(record_ids: Sequence[str]) -> Delete:
    """Stored answers by their `_id` (a question's names no person: its asker's erasure
    finds it through the question)."""
    return Delete("idempotency", {"_id": {"$in": list(record_ids)}})


async def declarations_of_person(store: Store, person_id: str) -> list[Document]:
    """Everything a person declared, oldest first (their export)."""
    return await store.find("declarations", {"person_id": person_id}, sort=[("created_at", 1)])


async def latest_declaration_of_person(store: Store, person_id: str) -> Document | None:
    """The person's latest declaration (where they said they live now)."""
    found = await store.find(
        "declarations",
        {"person_id": person_id},
        sort=[("created_at", -1), ("_id", -1)],
        limit=1,
    )
    return found[0] if found else None


def erase_person(person_id: str) -> list[Delete]:
    """A person's declarations and the stored answers to them, gone (erasure). The report
    counters they were counted in are separate documents and keep their numbers."""
    return [
        Delete("declarations", {"person_id": person_id}),
        Delete("idempotency", {"person_id": person_id}),
    ]
