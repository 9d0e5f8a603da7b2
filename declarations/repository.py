"""Every query on declarations (people: `people.repository`; kept answers: `core.idempotency`)."""

from __future__ import annotations

from typing import Any

from core.idempotency import erase_answers_naming
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
SPECS: tuple[CollectionSpec, ...] = (DECLARATIONS,)


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
        erase_answers_naming(person_id),
    ]
