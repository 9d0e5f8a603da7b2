"""Every database query on entry declarations, points of entry, border scans and the
hand-over of non-green arrivals to medical monitoring."""

from __future__ import annotations

from datetime import datetime

from core.storage import CollectionSpec, Document, Index, Insert, Store, Update

# Encryption contexts: everyone on the form (one ciphertext) and the stay's street.
PEOPLE_CONTEXT = "entry.people"
STREET_CONTEXT = "entry.street"

ENTRY_DECLARATIONS = CollectionSpec(
    "entry_declarations",
    # The short code is found by its keyed hash (staff type it at the border); unique, so
    # two declarations can never share one.
    indexes=(Index(("code_hash",), unique=True), Index(("passport_hash",))),
    datetime_fields=frozenset({"created_at", "arrived_at", "expires_at"}),
    expires_field="expires_at",
    # Unsharded while the unique short code is an index (a cluster keeps it unique only
    # unsharded); at national volume the code's hash becomes the `_id` (docs/shard-plan.md).
    shard_key=None,
)
# Gates an admin added or retired; the shipped list (points.json) covers the rest.
ENTRY_POINTS = CollectionSpec("entry_points", datetime_fields=frozenset({"changed_at"}))
ENTRY_SCANS = CollectionSpec(
    "entry_scans",
    indexes=(Index(("checkpoint_id", "at")), Index(("entry_id", "at"))),
    datetime_fields=frozenset({"at", "expires_at"}),
    expires_field="expires_at",
)
SPECS: tuple[CollectionSpec, ...] = (ENTRY_DECLARATIONS, ENTRY_POINTS, ENTRY_SCANS)


def insert_declaration(document: Document) -> Insert:
    return Insert("entry_declarations", document)


async def declaration(store: Store, entry_id: str) -> Document | None:
    return await store.get("entry_declarations", entry_id)


async def declaration_by_code(store: Store, code_hash: str) -> Document | None:
    return await store.find_one("entry_declarations", {"code_hash": code_hash})


def mark_arrived(entry_id: str, *, checkpoint_id: str, now: datetime) -> Update:
    """The first border scan marks the arrival; later scans leave it as it was."""
    return Update(
        "entry_declarations",
        entry_id,
        set={"arrived_at": now, "arrived_checkpoint_id": checkpoint_id},
        when={"arrived_at": None},
    )


def insert_scan(document: Document) -> Insert:
    return Insert("entry_scans", document)


async def added_points(store: Store) -> list[Document]:
    return await store.find("entry_points", {})


async def added_point(store: Store, point_id: str) -> Document | None:
    return await store.get("entry_points", point_id)


def save_point(point_id: str, fields: dict[str, object], *, now: datetime) -> Update:
    return Update("entry_points", point_id, set={**fields, "changed_at": now}, upsert=True)
