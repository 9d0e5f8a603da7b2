"""Every query of the reports domain: counters, daily summaries, checkpoint names, audit log.

Counters published in a report are read one by one, not summed by the database: each is an
atom rounded with a secret key before it is added to others (`reports.suppression`). Sums of
true counts that no one sees as such, like the people followed before a report's first day,
are the database's (`Store.totals`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, Literal

from core.storage import CollectionSpec, Document, Index, Insert, Operation, Store, Update
from reports.counters import COUNTERS, MAP_KINDS, MAP_LATE_MARKER, ROLLUPS

# Read by person or account (their access log, their erasure) and by an inspector (`khaibao audit`):
# newest first over a span of days, for one staff user, one kind of action or one report.
# Each index costs every audited write a little; none of them is on a citizen's path.
AUDIT_LOG = CollectionSpec(
    "audit_log",
    indexes=(
        Index(("person_id", "at")),
        # Only the reads of what an account holds itself (its questions): few entries.
        Index(("account_id", "at"), only_with="account_id"),
        Index(("at",)),
        Index(("user", "at")),
        Index(("action", "at")),
        Index(("report", "at")),
    ),
    datetime_fields=frozenset({"at", "expires_at"}),
    expires_field="expires_at",
)

# Counter steps a write left for the fold (`reports.folding`): one record per write, no
# person named. Pending until a fold adds them up; then kept an hour, and expired.
COUNTER_STEPS = CollectionSpec(
    "counter_steps",
    indexes=(Index(("state", "created_at")),),
    datetime_fields=frozenset({"created_at", "expires_at"}),
    expires_field="expires_at",
)

SPECS: tuple[CollectionSpec, ...] = (COUNTERS, ROLLUPS, AUDIT_LOG, COUNTER_STEPS)

WRITE_BATCH = 500
NAME_BATCH = 500


def _days(first: date, last: date) -> dict[str, Any]:
    return {"$gte": first.isoformat(), "$lte": last.isoformat()}


async def declaration_counters(
    store: Store,
    kind: Literal["declarations", "symptoms"],
    first: date,
    last: date,
    province: int | Sequence[int] | None = None,
) -> list[Document]:
    """Ward-level counter documents of the days `first..last` (inclusive), of one province
    or several when given."""
    where: dict[str, Any] = {"kind": kind, "day": _days(first, last)}
    if isinstance(province, int):
        where["province"] = province
    elif province is not None:
        where["province"] = {"$in": list(province)}
    return await store.find("report_counters", where)


async def map_counters(store: Store, first: date | None, last: date) -> list[Document]:
    """The public map's counter cells (cases, and declarations naming a symptom, one per
    day and ward) up to `last`, from `first` on when given."""
    days: dict[str, Any] = {"$lte": last.isoformat()}
    if first is not None:
        days["$gte"] = first.isoformat()
    found: list[Document] = []
    for kind in MAP_KINDS:  # one indexed range each: (kind, day)
        found += await store.find("report_counters", {"kind": kind, "day": days})
    return found


async def map_late_marker(store: Store) -> int:
    """How many cases were counted on days long past (`reports.counters.count_case`)."""
    marker = await store.get("report_counters", MAP_LATE_MARKER)
    return int(marker["n"]) if marker else 0


async def checkpoint_counters(
    store: Store, first: date, last: date, checkpoint_id: str | None = None
) -> list[Document]:
    where: dict[str, Any] = {"kind": "checkpoints", "day": _days(first, last)}
    if checkpoint_id is not None:
        where["checkpoint_id"] = checkpoint_id
    return await store.find("report_counters", where)


async def rollups(
    store: Store, kind: Literal["summary", "gen"], first: date, last: date
) -> list[Document]:
    """Daily summaries, or the generation markers that say which of them are stale."""
    return await store.find("report_rollups", {"kind": kind, "day": _days(first, last)})


async def save_summaries(store: Store, summaries: Sequence[Document]) -> None:
    """Replace summaries wholesale. Two readers building the same day write the same content,
    so the last writer winning is harmless."""
    for start in range(0, len(summaries), WRITE_BATCH):
        await store.write(
            [
                Update(
                    "report_rollups",
                    str(doc["_id"]),
                    set={k: v for k, v in doc.items() if k != "_id"},
                    upsert=True,
                )
                for doc in summaries[start : start + WRITE_BATCH]
            ]
        )


def insert_counter_steps(document: Document) -> Insert:
    return Insert("counter_steps", document)


async def pending_counter_steps(store: Store, *, limit: int) -> list[Document]:
    """The oldest records of counter steps no fold has added yet."""
    return await store.find(
        "counter_steps", {"state": "pending"}, sort=[("created_at", 1)], limit=limit
    )


def mark_folded(record_id: str, *, expires_at: datetime) -> Update:
    """Part of a fold's batch: the record moves from pending to folded, or, if another fold
    took it first, matches nothing and rolls the whole fold back."""
    return Update(
        "counter_steps",
        record_id,
        set={"state": "folded", "expires_at": expires_at},
        when={"state": "pending"},
        must_match=True,
    )


async def checkpoint_names(store: Store, checkpoint_ids: Iterable[str]) -> dict[str, str]:
    """Names from the checkpoints domain's `checkpoints` collection, when it is registered.

    Reports work without it: a store that does not know the collection raises ValueError,
    and the report then carries ids only.
    """
    ids = sorted(set(checkpoint_ids))
    names: dict[str, str] = {}
    try:
        for start in range(0, len(ids), NAME_BATCH):
            chunk = ids[start : start + NAME_BATCH]
            for doc in await store.find("checkpoints", {"_id": {"$in": chunk}}):
                name = doc.get("name")
                if isinstance(name, str):
                    names[str(doc["_id"])] = name
    except ValueError:
        return {}
    return names


async def insert_audit_entry(store: Store, entry: Document) -> None:
    await store.write([Insert("audit_log", entry)])


async def access_entries(store: Store, person_id: str, *, limit: int) -> list[Document]:
    """Staff's and organisations' reads of one person's record, newest first."""
    return await store.find("audit_log", {"person_id": person_id}, sort=[("at", -1)], limit=limit)


async def account_access_entries(store: Store, account_id: str, *, limit: int) -> list[Document]:
    """Staff's reads of what an account holds itself (its questions), newest first."""
    return await store.find("audit_log", {"account_id": account_id}, sort=[("at", -1)], limit=limit)


def anonymise_account_entries(entries: list[Document]) -> list[Operation]:
    """Erasure of an account: the reads of its questions stay, no longer whose they were."""
    return [
        Update("audit_log", str(entry["_id"]), set={"account_id": None, "subject_id": None})
        for entry in entries
    ]


async def audit_entries(
    store: Store,
    *,
    user: str | None = None,
    action: str | None = None,
    action_prefix: str | None = None,
    report: str | None = None,
    person_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
) -> list[Document]:
    """The audit log as an inspector reads it (`khaibao audit`): entries matching every
    filter given, at or after `since` and before `until`, newest first, at most `limit`.
    A prefix ends before the next string up (`trust.` → below `trust/`), so it is a range
    the (action, at) index serves on both stores."""
    where: dict[str, Any] = {}
    if user is not None:
        where["user"] = user
    if action is not None:
        where["action"] = action
    elif action_prefix:
        after = action_prefix[:-1] + chr(ord(action_prefix[-1]) + 1)
        where["action"] = {"$gte": action_prefix, "$lt": after}
    if report is not None:
        where["report"] = report
    if person_id is not None:
        where["person_id"] = person_id
    at: dict[str, datetime] = {}
    if since is not None:
        at["$gte"] = since
    if until is not None:
        at["$lt"] = until
    if at:
        where["at"] = at
    return await store.find("audit_log", where, sort=[("at", -1)], limit=limit)


def anonymise_access_entries(entries: list[Document]) -> list[Operation]:
    """Erasure: the audit trail keeps that a read happened, no longer whose record it was."""
    return [
        Update("audit_log", str(entry["_id"]), set={"person_id": None, "subject_id": None})
        for entry in entries
    ]


async def counters_of(
    store: Store, kind: str, first: date | None = None, last: date | None = None
) -> list[Document]:
    """Counter documents of one kind (arrivals, monitoring…), of the days `first..last` when
    given; through the (kind, day) index."""
    where: dict[str, Any] = {"kind": kind}
    if first is not None and last is not None:
        where["day"] = _days(first, last)
    return await store.find("report_counters", where)


async def monitoring_before(store: Store, first: date) -> list[Document]:
    """Episodes started and ended on the days before `first`, summed by the database per
    (province, ward, reason, event): one row per place and event, not a counter for every
    day since the first episode."""
    return await store.totals(
        "report_counters",
        {"kind": "monitoring", "day": {"$lt": first.isoformat()}},
        by=("province", "ward", "reason", "event"),
        sum_of="n",
    )
