"""Every query of the public map: its published snapshot (`public_map`), and the counters it
is built from (kept by the reports domain, read through `reports.repository`)."""

from __future__ import annotations

from datetime import date

from core.storage import CollectionSpec, Document, Store, Update
from reports import repository as reports_repository
from reports.arrivals_monitoring import under_monitoring_by_ward

# Two documents: `snapshot` (everything the answers are rendered from) and `head` (its
# version and age, a few bytes that every process polls).
PUBLIC_MAP = CollectionSpec("public_map", datetime_fields=frozenset({"built_at"}))
SPECS: tuple[CollectionSpec, ...] = (PUBLIC_MAP,)


async def head(store: Store) -> Document | None:
    return await store.get("public_map", "head")


async def snapshot(store: Store) -> Document | None:
    return await store.get("public_map", "snapshot")


async def save(store: Store, snapshot: Document, head: Document) -> None:
    """Both documents in one atomic write: a reader never sees a head without its snapshot.
    (A touch keeps the snapshot's own `built_at`: it is when its figures last changed.)"""
    await store.write(
        [
            Update("public_map", "snapshot", set=snapshot, upsert=True),
            Update("public_map", "head", set=head, upsert=True),
        ]
    )


async def touch(store: Store, head: Document) -> None:
    """A rebuild that found nothing new: only the head's age changes."""
    await store.write([Update("public_map", "head", set=head, upsert=True)])


async def counters(store: Store, first: date | None, last: date) -> list[Document]:
    return await reports_repository.map_counters(store, first, last)


async def late_cases(store: Store) -> int:
    return await reports_repository.map_late_marker(store)


async def under_monitoring(
    store: Store, first: date, last: date
) -> dict[tuple[date, int, int], int]:
    return await under_monitoring_by_ward(store, first, last)
