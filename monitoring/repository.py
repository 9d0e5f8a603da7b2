"""Every database query on monitoring episodes and their daily reports.

The worklist is read through one index per area size — (status, province, ward,
urgency_key), (status, province, urgency_key) and (status, urgency_key) — where
`urgency_key` sorts the most urgent first and pages by range: an officer's list never walks
the episodes of other wards, whatever the country's total.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.storage import CollectionSpec, Delete, Document, Index, Insert, Operation, Store, Update

EPISODES = CollectionSpec(
    "monitoring_episodes",
    indexes=(
        Index(("status", "province", "ward", "urgency_key")),
        Index(("status", "province", "urgency_key")),
        Index(("status", "urgency_key")),
        # The daily jobs: episodes past their end, and episodes without a recent report.
        Index(("status", "ends_on")),
        Index(("status", "last_report_day")),
        Index(("person_id", "starts_on")),
        Index(("entry_declaration_id",)),
    ),
    datetime_fields=frozenset({"created_at", "last_report_at", "closed_at", "expires_at"}),
    # Set when an episode closes: closed episodes expire with the retention period.
    expires_field="expires_at",
)
REPORTS = CollectionSpec(
    "monitoring_reports",
    indexes=(Index(("episode_id", "at")),),
    datetime_fields=frozenset({"at", "expires_at"}),
    expires_field="expires_at",
)
# Arrivals monitoring may follow: one document per entry declaration, written in the
# declaration's own batch, so an officer can open an episode for an arrival (and a
# non-green one has it opened at once) and reach the traveller (`contact_enc`, see
# monitoring.contact) without monitoring reading another domain's records.
ARRIVALS = CollectionSpec(
    "monitoring_arrivals",
    datetime_fields=frozenset({"created_at", "expires_at"}),
    expires_field="expires_at",
)
# The one active episode of a person or an arrival: a marker whose `_id` is derived from
# the subject, inserted with the episode and deleted in the batch that closes it, so two
# openings racing each other clash on `_id` on either backend (docs/shard-plan.md).
ACTIVE = CollectionSpec("monitoring_active", indexes=(Index(("episode_id",)),))
SPECS: tuple[CollectionSpec, ...] = (EPISODES, REPORTS, ARRIVALS, ACTIVE)


def active_key(person_id: str | None, entry_declaration_id: str | None) -> str:
    """The marker's `_id` of whom an episode follows: its person, else its arrival."""
    if person_id is not None:
        return f"person:{person_id}"
    return f"entry:{entry_declaration_id}"


def claim_active(episode: Document) -> Insert:
    """Marks the episode as its subject's active one; a clash means one is running."""
    key = active_key(episode.get("person_id"), episode.get("entry_declaration_id"))
    return Insert("monitoring_active", {"_id": key, "episode_id": episode["_id"]})


def release_active(episode: Document) -> Delete:
    """Frees the subject for a new episode, in the batch that closes this one."""
    return Delete("monitoring_active", {"episode_id": episode["_id"]})


async def active_episode_id(
    store: Store, person_id: str | None, entry_declaration_id: str | None
) -> str | None:
    """The id of the subject's active episode: by its marker, or for an episode opened
    before markers existed, by a query of the active episodes."""
    marker = await store.get("monitoring_active", active_key(person_id, entry_declaration_id))
    if marker is not None:
        return str(marker["episode_id"])
    where = (
        {"person_id": person_id, "status": "active"}
        if person_id is not None
        else {"entry_declaration_id": entry_declaration_id, "status": "active"}
    )
    found = await store.find_one("monitoring_episodes", where)
    return str(found["_id"]) if found is not None else None


def insert_episode(document: Document) -> Insert:
    return Insert("monitoring_episodes", document)


def update_episode(episode_id: str, fields: Mapping[str, Any], **when: Any) -> Update:
    """Compare-and-set: an episode no longer as read (`when`) rolls the batch back with
    `PreconditionFailed`, which every caller handles as a race lost."""
    return Update(
        "monitoring_episodes", episode_id, set=dict(fields), when=when, must_match=bool(when)
    )


def insert_arrival(document: Document) -> Insert:
    return Insert("monitoring_arrivals", document)


async def arrival(store: Store, entry_declaration_id: str) -> Document | None:
    return await store.get("monitoring_arrivals", entry_declaration_id)


async def arrivals_with_older_contact(store: Store, *, version: int, limit: int) -> list[Document]:
    """Arrivals handed over before entry added the traveller's contact as it is now: a
    `contact_version` other than `version`, or none (`$ne` matches a missing field)."""
    return await store.find(
        "monitoring_arrivals", {"contact_version": {"$ne": version}}, limit=limit
    )


def set_arrival_contact(arrival: Document, contact_enc: str | None, *, version: int) -> Update:
    """The traveller's contact as it is now, on an arrival handed over with an older one or
    none; only while it still has the one it was read with. An empty `contact_enc`: there is
    none to add; None: the one it has is kept (its declaration gone, nothing more is known)."""
    found = {"contact_enc": contact_enc} if contact_enc is not None else {}
    return Update(
        "monitoring_arrivals",
        str(arrival["_id"]),
        set={**found, "contact_version": version},
        when={"contact_version": arrival.get("contact_version")},
    )


def insert_report(document: Document) -> Insert:
    return Insert("monitoring_reports", document)


async def episode(store: Store, episode_id: str) -> Document | None:
    return await store.get("monitoring_episodes", episode_id)


async def reports_by_id(store: Store, report_ids: list[str]) -> list[Document]:
    return await store.find("monitoring_reports", {"_id": {"$in": report_ids}})


async def episodes_of_person(store: Store, person_id: str) -> list[Document]:
    return await store.find(
        "monitoring_episodes", {"person_id": person_id}, sort=[("starts_on", -1)], limit=100
    )


async def episode_of_entry(store: Store, entry_declaration_id: str) -> Document | None:
    return await store.find_one(
        "monitoring_episodes", {"entry_declaration_id": entry_declaration_id}
    )


async def worklist(
    store: Store,
    *,
    status: str,
    province: int | None,
    ward: int | None,
    needs_attention: bool,
    after: str | None,
    limit: int,
) -> list[Document]:
    """One page of an area's list, most urgent first (see the module docstring)."""
    where: dict[str, Any] = {"status": status}
    if province is not None:
        where["province"] = province
    if ward is not None:
        where["ward"] = ward
    key: dict[str, str] = {}
    if needs_attention:
        key["$lt"] = "1"  # keys of episodes needing attention start with 0
    if after is not None:
        key["$gt"] = after
    if key:
        where["urgency_key"] = key
    return await store.find("monitoring_episodes", where, sort=[("urgency_key", 1)], limit=limit)


async def ended_before(store: Store, day: str, *, limit: int) -> list[Document]:
    """Active episodes whose last day is before `day` (ISO date)."""
    return await store.find(
        "monitoring_episodes",
        {"status": "active", "ends_on": {"$lt": day}},
        sort=[("ends_on", 1)],
        limit=limit,
    )


async def silent_unmarked(store: Store, day: str, *, limit: int) -> list[Document]:
    """Active episodes whose last report is before `day` (ISO date) and that do not carry the
    `no_report` flag yet. Episodes that never had a report carry their start's eve as
    `last_report_day`, so they are found too."""
    return await store.find(
        "monitoring_episodes",
        {"status": "active", "last_report_day": {"$lt": day}, "no_report": False},
        sort=[("last_report_day", 1)],
        limit=limit,
    )


async def unreminded(store: Store, day: str, *, limit: int) -> list[Document]:
    """Active episodes without a report on `day` (ISO date) not yet reminded that day."""
    return await store.find(
        "monitoring_episodes",
        {"status": "active", "last_report_day": {"$lt": day}, "reminded_day": {"$ne": day}},
        sort=[("last_report_day", 1)],
        limit=limit,
    )


async def reports_of_episode(store: Store, episode_id: str) -> list[Document]:
    return await store.find("monitoring_reports", {"episode_id": episode_id}, sort=[("at", 1)])


def erase_episodes(episode_ids: list[str]) -> list[Operation]:
    """Erasure: a person's monitoring episodes and every daily report in them, deleted."""
    if not episode_ids:
        return []
    return [
        Delete("monitoring_active", {"episode_id": {"$in": episode_ids}}),
        Delete("monitoring_reports", {"episode_id": {"$in": episode_ids}}),
        Delete("monitoring_episodes", {"_id": {"$in": episode_ids}}),
    ]
