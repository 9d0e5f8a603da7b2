"""Every database query on checkpoints, scans, check-ins and confirmed cases.

Scans and check-ins are what contact tracing reads, so both are indexed by
(checkpoint_id, time) — "who was here around then" — and (person_id, time) — "where was
this person". Both expire after the retention period (at least the exposure look-back).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from core.storage import CollectionSpec, Delete, Document, Index, Insert, Operation, Store, Update

CHECKPOINTS = CollectionSpec(
    "checkpoints",
    # `khaibao checkpoints list --province P`: an operator's listing of one province.
    indexes=(Index(("province",)),),
    datetime_fields=frozenset({"created_at", "venue_token_exp"}),
)
SCANS = CollectionSpec(
    "scans",
    indexes=(Index(("checkpoint_id", "at")), Index(("person_id", "at"))),
    datetime_fields=frozenset({"at", "expires_at"}),
    expires_field="expires_at",
)
CHECKINS = CollectionSpec(
    "checkins",
    # By arrival at a checkpoint: a visit lasts at most `visit_max_hours`, so the visits
    # overlapping a time window arrived in one bounded range (`checkins_at`).
    indexes=(Index(("checkpoint_id", "arrived_at")), Index(("person_id", "last_seen_at"))),
    datetime_fields=frozenset({"arrived_at", "last_seen_at", "expires_at"}),
    expires_field="expires_at",
)
# One document per (person, checkpoint) naming the latest visit: extending or starting a
# visit is a compare-and-set on it, so two check-ins racing cannot open two visits.
LATEST_VISITS = CollectionSpec(
    "checkin_latest",
    datetime_fields=frozenset({"arrived_at", "last_seen_at", "expires_at"}),
    expires_field="expires_at",
)
CASES = CollectionSpec(
    "cases",
    # A person's cases, for their export and their erasure.
    indexes=(Index(("person_id",)),),
    datetime_fields=frozenset({"confirmed_at", "created_at", "expires_at"}),
    expires_field="expires_at",
)
# One document per person (`_id` = person id) naming their case while its episode lasts:
# opening it is an insert (or a compare-and-set on an ended one), so officers confirming the
# same person again, even at once, get the same case.
CASE_EPISODES = CollectionSpec(
    "case_episodes",
    datetime_fields=frozenset({"confirmed_at", "until", "expires_at"}),
    expires_field="expires_at",
)
SPECS: tuple[CollectionSpec, ...] = (
    CHECKPOINTS,
    SCANS,
    CHECKINS,
    LATEST_VISITS,
    CASES,
    CASE_EPISODES,
)


# -- checkpoints -----------------------------------------------------------------------------


def insert_checkpoint(document: Document) -> Insert:
    return Insert("checkpoints", document)


async def checkpoint(store: Store, checkpoint_id: str) -> Document | None:
    return await store.get("checkpoints", checkpoint_id)


async def checkpoints(store: Store, *, province: int | None, limit: int) -> list[Document]:
    """Checkpoints, oldest first (ids are time-ordered), optionally of one province."""
    where = {} if province is None else {"province": province}
    return await store.find("checkpoints", where, sort=(("_id", 1),), limit=limit)


def replace_venue_token(
    checkpoint_id: str, *, token: str, jti: str, kid: str, exp: datetime
) -> Update:
    return Update(
        "checkpoints",
        checkpoint_id,
        set={"venue_token": token, "venue_jti": jti, "venue_kid": kid, "venue_token_exp": exp},
    )


# -- scans and check-ins ---------------------------------------------------------------------


def insert_scan(document: Document) -> Insert:
    return Insert("scans", document)


def insert_checkin(document: Document) -> Insert:
    return Insert("checkins", document)


def _latest_id(person_id: str, checkpoint_id: str) -> str:
    return f"{person_id}|{checkpoint_id}"


async def latest_visit(store: Store, person_id: str, checkpoint_id: str) -> Document | None:
    return await store.get("checkin_latest", _latest_id(person_id, checkpoint_id))


def start_latest_visit(
    person_id: str, checkpoint_id: str, visit_id: str, *, now: datetime, stay: timedelta
) -> Insert:
    """The first visit pointer; a racing twin clashes on the `_id` and retries. It expires
    with the stay window: after that the next check-in is a new visit anyway."""
    document = {
        "_id": _latest_id(person_id, checkpoint_id),
        "visit_id": visit_id,
        "arrived_at": now,
        "last_seen_at": now,
        "version": 1,
        "expires_at": now + stay,
    }
    return Insert("checkin_latest", document)


def replace_latest_visit(
    latest: Document, *, visit_id: str, now: datetime, stay: timedelta
) -> Update:
    """Point at a new visit, only if nobody moved the pointer since it was read."""
    version = int(latest["version"])
    return Update(
        "checkin_latest",
        str(latest["_id"]),
        set={
            "visit_id": visit_id,
            "arrived_at": now,
            "last_seen_at": now,
            "version": version + 1,
            "expires_at": now + stay,
        },
        when={"version": version},
        must_match=True,
    )


def extend_latest_visit(latest: Document, *, now: datetime, stay: timedelta) -> Update:
    """Extend the visit the pointer names, while it still names it. Concurrent extensions
    all succeed: they only move `last_seen_at` forward to about the same moment."""
    return Update(
        "checkin_latest",
        str(latest["_id"]),
        set={"last_seen_at": now, "expires_at": now + stay},
        when={"visit_id": latest["visit_id"]},
        must_match=True,
    )


def extend_visit(visit_id: str, *, now: datetime, expires_at: datetime) -> Update:
    return Update(
        "checkins",
        visit_id,
        set={"last_seen_at": now, "expires_at": expires_at},
        must_match=True,
    )


async def scans_of_person(store: Store, person_id: str, *, since: datetime) -> list[Document]:
    return await store.find("scans", {"person_id": person_id, "at": {"$gte": since}})


async def checkins_of_person(store: Store, person_id: str, *, since: datetime) -> list[Document]:
    return await store.find("checkins", {"person_id": person_id, "last_seen_at": {"$gte": since}})


async def scans_at(
    store: Store, checkpoint_id: str, *, start: datetime, end: datetime
) -> list[Document]:
    where = {"checkpoint_id": checkpoint_id, "at": {"$gte": start, "$lte": end}}
    return await store.find("scans", where)


async def checkins_at(
    store: Store, checkpoint_id: str, *, start: datetime, end: datetime, longest: timedelta
) -> list[Document]:
    """Visits overlapping [start, end]: left no earlier than `start`, arrived by `end`.
    A visit lasts at most `longest`, so those arrived in [start - longest, end]: one range
    of the (checkpoint_id, arrived_at) index, however old the window."""
    where = {
        "checkpoint_id": checkpoint_id,
        "arrived_at": {"$gte": start - longest, "$lte": end},
        "last_seen_at": {"$gte": start},
    }
    return await store.find("checkins", where)


# -- cases -----------------------------------------------------------------------------------


def insert_case(document: Document) -> Insert:
    return Insert("cases", document)


async def case(store: Store, case_id: str) -> Document | None:
    return await store.get("cases", case_id)


async def case_episode(store: Store, person_id: str) -> Document | None:
    return await store.get("case_episodes", person_id)


def open_episode(
    person_id: str,
    case_id: str,
    *,
    confirmed_at: datetime,
    until: datetime,
    previous: Document | None,
) -> Insert | Update:
    """The person's episode, naming `case_id` until `until`. Replacing an ended episode is
    a compare-and-set on the case it named; a first one is an insert (DuplicateKey when
    another officer opened it first)."""
    fields = {"case_id": case_id, "confirmed_at": confirmed_at, "until": until, "expires_at": until}
    if previous is None:
        return Insert("case_episodes", {"_id": person_id, **fields})
    return Update(
        "case_episodes",
        person_id,
        set=fields,
        when={"case_id": previous["case_id"]},
        must_match=True,
    )


def backdate_case(case_id: str, person_id: str, confirmed_at: datetime) -> list[Update]:
    """An earlier confirmation date for a case already open (tracing then looks further
    back)."""
    return [
        Update("cases", case_id, set={"confirmed_at": confirmed_at}),
        Update("case_episodes", person_id, set={"confirmed_at": confirmed_at}),
    ]


def record_tracing(case_id: str, *, contacts: int, notified: int) -> Update:
    return Update("cases", case_id, set={"contacts": contacts}, inc={"notified": notified})


# -- a person's records, for their export and their erasure ----------------------------------


async def all_scans_of_person(store: Store, person_id: str, *, limit: int) -> list[Document]:
    """The scans of a person's codes, newest first: their export and their access log."""
    return await store.find("scans", {"person_id": person_id}, sort=[("at", -1)], limit=limit)


async def scans_of_person_between(
    store: Store,
    person_id: str,
    *,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[Document]:
    """A person's scans at or after `since` and before `until`, newest first: which staff
    saw their status, for `khaibao audit --person` (reports, which the app hands this to)."""
    where: dict[str, Any] = {"person_id": person_id}
    at: dict[str, datetime] = {}
    if since is not None:
        at["$gte"] = since
    if until is not None:
        at["$lt"] = until
    if at:
        where["at"] = at
    return await store.find("scans", where, sort=[("at", -1)], limit=limit)


async def all_checkins_of_person(store: Store, person_id: str) -> list[Document]:
    return await store.find("checkins", {"person_id": person_id}, sort=[("last_seen_at", 1)])


async def cases_of_person(store: Store, person_id: str) -> list[Document]:
    return await store.find("cases", {"person_id": person_id})


def erase_person(
    person_id: str, checkins: list[Document], cases: list[Document]
) -> list[Operation]:
    """Erasure: the person's scans, visits and visit pointers deleted; their cases kept,
    made anonymous (the counts they added to the reports and the map stay, and the case
    still says when and how many contacts were told), their case episode deleted."""
    pointers = sorted({_latest_id(person_id, str(c["checkpoint_id"])) for c in checkins})
    ops: list[Operation] = [
        Delete("scans", {"person_id": person_id}),
        Delete("checkins", {"person_id": person_id}),
        Delete("case_episodes", {"_id": person_id}),
    ]
    if pointers:
        ops.append(Delete("checkin_latest", {"_id": {"$in": pointers}}))
    ops.extend(
        Update("cases", str(case["_id"]), set={"person_id": None, "person_ids": []})
        for case in cases
    )
    return ops
