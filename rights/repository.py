"""Every query on organisations and consents.

* `organisations`: one document per organisation an admin registered (`org_…`), with its
  name. Its accounts are staff accounts of role `organisation` naming it.
* `consents`: one document per consent a citizen gave for one of their people to one
  organisation, for some days (`days`, as asked; granting the same again while it stands
  moves its `expires_at`, keeping the id). Its `_id` is the opaque reference the
  organisation sees instead of the person. It expires by itself at `expires_at` (a TTL
  purge); every read also compares `expires_at` with now, so an expired consent shows
  nothing even before the purge runs. A revoked one keeps `revoked_at` until then, for the
  citizen's export.
* `consents_standing`: the one standing consent of a (person, organisation): a marker whose
  `_id` is derived from the pair, written in the batch of every grant and deleted in the
  batch that revokes. A grant inserts it when absent and otherwise moves it from the
  consent it read (compare-and-set on `consent_id`), so two grants racing each other clash
  on it on either backend and the loser reads again (docs/shard-plan.md). It carries the
  consent's `expires_at` and expires with it; one found past its end is moved like any.
"""

from __future__ import annotations

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

ORGANISATIONS = CollectionSpec("organisations", datetime_fields=frozenset({"created_at"}))
CONSENTS = CollectionSpec(
    "consents",
    indexes=(
        Index(("organisation_id", "revoked_at", "expires_at")),
        Index(("person_id", "granted_at")),
    ),
    datetime_fields=frozenset({"granted_at", "expires_at", "revoked_at"}),
    expires_field="expires_at",
)
STANDING = CollectionSpec(
    "consents_standing",
    indexes=(Index(("person_id",)),),
    datetime_fields=frozenset({"expires_at"}),
    expires_field="expires_at",
)
SPECS: tuple[CollectionSpec, ...] = (ORGANISATIONS, CONSENTS, STANDING)


def insert_organisation(document: Document) -> Insert:
    return Insert(ORGANISATIONS.name, document)


async def organisation(store: Store, organisation_id: str) -> Document | None:
    return await store.get(ORGANISATIONS.name, organisation_id)


def insert_consent(document: Document) -> Insert:
    return Insert(CONSENTS.name, document)


async def consent(store: Store, consent_id: str) -> Document | None:
    return await store.get(CONSENTS.name, consent_id)


def standing_key(person_id: str, organisation_id: str) -> str:
    return f"{person_id}:{organisation_id}"


async def standing_marker(store: Store, person_id: str, organisation_id: str) -> Document | None:
    return await store.get(STANDING.name, standing_key(person_id, organisation_id))


def claim_standing(consent: Document, *, was: Document | None) -> Operation:
    """Makes `consent` the pair's standing one. From no marker, an insert (a clash is
    `DuplicateKey`: another grant got there first); from the marker `was`, a move that
    fails the batch with `PreconditionFailed` if another grant or a revocation moved it
    since."""
    key = standing_key(str(consent["person_id"]), str(consent["organisation_id"]))
    fields = {"consent_id": consent["_id"], "expires_at": consent["expires_at"]}
    if was is None:
        document = {"_id": key, "person_id": consent["person_id"], **fields}
        return Insert(STANDING.name, document)
    return Update(
        STANDING.name, key, set=fields, when={"consent_id": was["consent_id"]}, must_match=True
    )


def release_standing(consent: Document) -> Delete:
    """Frees the pair, in the batch that revokes this consent (if it is the marked one)."""
    key = standing_key(str(consent["person_id"]), str(consent["organisation_id"]))
    return Delete(STANDING.name, {"_id": key, "consent_id": consent["_id"]})


def revoke_consent(consent_id: str, *, now: datetime) -> Update:
    """Only a consent still standing: revoking twice keeps the first time."""
    return Update(CONSENTS.name, consent_id, set={"revoked_at": now}, when={"revoked_at": None})


def renew_consent(consent_id: str, *, expires_at: datetime) -> Update:
    """A new end for a consent still standing; one revoked (or purged) meanwhile fails the
    batch with `PreconditionFailed`, rather than coming back to life."""
    return Update(
        CONSENTS.name,
        consent_id,
        set={"expires_at": expires_at},
        when={"revoked_at": None},
        must_match=True,
    )


async def consents_of_person(store: Store, person_id: str) -> list[Document]:
    return await store.find(CONSENTS.name, {"person_id": person_id}, sort=[("granted_at", 1)])


async def standing_consents(store: Store, organisation_id: str, *, now: datetime) -> list[Document]:
    """The consents an organisation holds now: not expired, not revoked."""
    return await store.find(
        CONSENTS.name,
        {"organisation_id": organisation_id, "expires_at": {"$gt": now}, "revoked_at": None},
        sort=[("expires_at", 1)],
    )


def erase_consents(person_id: str) -> list[Operation]:
    return [
        Delete(STANDING.name, {"person_id": person_id}),
        Delete(CONSENTS.name, {"person_id": person_id}),
    ]
