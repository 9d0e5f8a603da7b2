"""The stored declaration and every query on declarations (people: `people.repository`;
kept answers: `core.idempotency`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from core.context import Context
from core.idempotency import erase_answers_naming
from core.storage import CollectionSpec, Delete, Document, Index, Insert, Store
from declarations.schemas import DeclarationIn
from people.repository import Status

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


def declaration_document(
    ctx: Context,
    body: DeclarationIn,
    *,
    declaration_id: str,
    account_id: str,
    person_id: str,
    status: Status,
    rule_status: Status,
    rules_version: str,
    reasons: list[dict[str, Any]],
    now: datetime,
) -> Document:
    """The stored declaration: no name, identity number or phone; the street encrypted.
    `status` is the person's after it, `rule_status` what the rules alone said."""
    answers = body.model_dump(mode="json", include={"exposure", "travel"})
    return {
        "_id": declaration_id,
        "account_id": account_id,
        "person_id": person_id,
        "created_at": now,
        "expires_at": now + timedelta(days=ctx.settings.retention_days),
        "status": status,
        "rule_status": rule_status,
        "reasons": reasons,
        "rules_version": rules_version,
        "relation": body.person.relation,
        "birth_year": body.person.birth_year,
        "gender": body.person.gender,
        "nationality": body.person.nationality,
        "province": body.address.province,
        "ward": body.address.ward,
        "street_enc": ctx.cipher.encrypt(body.address.street, context=STREET_CONTEXT),
        "symptoms": list(body.symptoms),
        "chronic_conditions": list(body.chronic_conditions),
        "pregnant": body.pregnant,
        "exposure": answers["exposure"],
        "travel": answers["travel"],
    }


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
