"""The person record, its status and what holds it, and finding it by keyed hash: the only
module that reads or writes the `people` collection.

A *person* belongs to one account (the account holder, or a dependant such as a child or an
elderly parent). The same identity number declared from two accounts is two person
documents; a confirmed case found by identity number marks all of them. Declarations create
and update people; tracing changes their status; QR codes and scans read it.

A status set by health staff (a confirmed case, contact tracing, monitoring) holds for the
exposure look-back: a citizen's own declaration may raise it but not lower it until then.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from core.context import Context
from core.i18n import Text
from core.storage import CollectionSpec, Delete, Document, Index, Insert, Store, Update

Status = Literal["green", "yellow", "red"]
STATUSES: tuple[Status, ...] = ("green", "yellow", "red")
SEVERITY: dict[str, int] = {"green": 0, "yellow": 1, "red": 2}
# Statuses set by health staff that a citizen's own declaration may not lower for a while.
HOLDING_SOURCES = ("case", "tracing", "monitoring")


@dataclass(frozen=True)
class Hold:
    status: Status
    source: str
    since: datetime


# Why a status stays above what the citizen's own declaration says, by the hold's source:
# the reason the declaration's answer adds.
HOLD_REASONS: dict[str, Text] = {
    "case": Text(
        "Status set by a health officer for a confirmed case; a declaration cannot lower it yet.",
        "Trạng thái do cán bộ y tế xác định là ca bệnh; tờ khai chưa thể hạ mức này.",
    ),
    "tracing": Text(
        "Status set by contact tracing; a declaration cannot lower it yet.",
        "Trạng thái do truy vết tiếp xúc xác định; tờ khai chưa thể hạ mức này.",
    ),
    "monitoring": Text(
        "Status raised by a report during medical monitoring; a declaration cannot lower it yet.",
        "Trạng thái do báo cáo trong đợt theo dõi y tế nâng lên; tờ khai chưa thể hạ mức này.",
    ),
}


def active_holds(person: Document, now: datetime, lookback: timedelta) -> list[Hold]:
    """The statuses set by health staff that are still young enough to stand: the current
    status when staff set it, and the one remembered in the `hold_*` fields, kept there when
    a declaration raised the status above it or when tracing held a person whose status was
    already worse (a red contact is held yellow for when the red is gone). Nothing lifts a
    hold but time, so a remembered one counts whoever changed the status since."""
    holds: list[Hold] = []
    source = person.get("status_source")
    if source in HOLDING_SOURCES and person.get("status_changed_at") is not None:
        holds.append(Hold(person["status"], source, person["status_changed_at"]))
    if person.get("hold_since") is not None:
        holds.append(Hold(person["hold_status"], person["hold_source"], person["hold_since"]))
    return [hold for hold in holds if now - hold.since < lookback]


def active_hold(person: Document, now: datetime, lookback: timedelta) -> Hold | None:
    """The hold that decides the least status a declaration may leave: the most severe of
    `active_holds`, and of equal ones the latest (it ends last)."""
    holds = active_holds(person, now, lookback)
    return max(holds, key=lambda hold: (SEVERITY[hold.status], hold.since), default=None)


# Encryption and keyed-hash contexts of personal fields: a value encrypted for one field
# cannot be decrypted as another. Identity numbers, names and phones are stored only this way.
ID_NUMBER_CONTEXT = "person.id_number"
NAME_CONTEXT = "person.full_name"
PHONE_CONTEXT = "person.phone"


def normalise_id_number(number: str) -> str:
    """As the declaration form stores it: no spaces, upper case."""
    return "".join(number.split()).upper()


def id_number_hash(ctx: Context, id_number: str) -> str:
    """A person is found by a keyed hash of their identity number, never the number itself."""
    return ctx.cipher.lookup_hash(id_number, context=ID_NUMBER_CONTEXT)


# One person per (account, identity number): the `_id` is derived from both
# (`person_id_for`), so two first declarations racing meet on it and uniqueness holds on a
# cluster sharded by `_id`, where a compound unique index cannot be kept
# (docs/shard-plan.md). The (account, identity hash) index finds people made before.
PEOPLE = CollectionSpec(
    "people",
    indexes=(
        Index(("account_id", "created_at")),
        Index(("account_id", "id_hash")),
        Index(("id_hash",)),
    ),
    datetime_fields=frozenset(
        {
            "created_at",
            "status_changed_at",
            "updated_at",
            "hold_since",
            "last_declared_at",
            "expires_at",
            "erasing_since",
        }
    ),
    # A person (name, identity number and phone, encrypted) is kept for the retention period
    # after their last declaration, then deleted like the declarations themselves.
    expires_field="expires_at",
)
# The account holder (`relation` "self") is one person: one marker per account, `_id` the
# account id, naming the holder's person. A batch that makes a person the holder inserts it
# (or moves it from what it read, compare-and-set on `person_id`), so two declarations of
# different holders racing each other clash on it on either backend and the loser reads
# again (docs/shard-plan.md). Whether the account has a holder is read from its people, not
# from here: the marker only settles a race, so one left behind by a holder gone since (an
# expiry, an interrupted erasure) is moved, and it expires no later than its holder.
HOLDERS = CollectionSpec(
    "account_holders",
    datetime_fields=frozenset({"expires_at"}),
    expires_field="expires_at",
)
SPECS: tuple[CollectionSpec, ...] = (PEOPLE, HOLDERS)


async def get_person(store: Store, person_id: str) -> Document | None:
    """One primary-key read: the scan path's way to the current status. A person whose
    erasure has begun (`start_erasure`) is already gone to everyone but the erasure."""
    person = await store.get("people", person_id)
    if person is None or person.get("erasing_since") is not None:
        return None
    return person


async def person_to_erase(store: Store, person_id: str) -> Document | None:
    """The person record as it is, an erasure begun and not finished included: erasure's
    read, so that asking again finishes what a failure interrupted."""
    return await store.get("people", person_id)


# The filter condition that leaves out a person whose erasure has begun: every read of
# people that serves a route carries it (one more condition, no more reads), so an erasure
# interrupted between its two writes leaves the person gone everywhere, as `get_person` does.
STANDING: Mapping[str, Any] = {"erasing_since": None}


def being_erased(person: Document) -> bool:
    """Marked by `start_erasure` and not yet deleted: an erasure begun and interrupted."""
    return person.get("erasing_since") is not None


async def people_by_id_hash(store: Store, id_hash: str) -> list[Document]:
    return await store.find("people", {"id_hash": id_hash, **STANDING})


async def people_of_account(store: Store, account_id: str) -> list[Document]:
    """The account's people as every route shows them: without any whose erasure began."""
    return await store.find(
        "people", {"account_id": account_id, **STANDING}, sort=[("created_at", 1)]
    )


async def people_to_erase(store: Store, account_id: str) -> list[Document]:
    """All the account's people, those whose erasure began and was interrupted included:
    `DELETE /v1/me`'s read, so that it finishes them too."""
    return await store.find("people", {"account_id": account_id}, sort=[("created_at", 1)])


def set_status(
    person: Document,
    status: Status,
    reasons: Sequence[dict[str, Any]],
    *,
    source: Literal["declaration", "tracing", "case", "monitoring"],
    now: datetime,
) -> Update:
    """Change a person's current status, only if nobody changed it since `person` was read
    (compare-and-set on `status_version`; a lost race raises PreconditionFailed) and their
    erasure has not begun meanwhile (`STANDING`: one more condition on the same write)."""
    version = int(person.get("status_version", 0))
    return Update(
        "people",
        str(person["_id"]),
        set={
            "status": status,
            "status_reasons": list(reasons),
            "status_source": source,
            "status_changed_at": now,
            "status_version": version + 1,
            "updated_at": now,
        },
        when={"status_version": version, **STANDING},
        must_match=True,
    )


def remember_hold(
    person: Document, hold: Hold, reasons: Sequence[dict[str, Any]], *, now: datetime
) -> Update:
    """Hold a person whose status is already worse than `hold` (a contact already red): the
    status stays, `hold` is remembered in the `hold_*` fields for when it is gone, and the
    reasons say both. Compare-and-set on `status_version`, which moves, so a declaration
    read before cannot write its own idea of the hold over this one."""
    version = int(person.get("status_version", 0))
    return Update(
        "people",
        str(person["_id"]),
        set={
            "status_reasons": list(reasons),
            "hold_status": hold.status,
            "hold_source": hold.source,
            "hold_since": hold.since,
            "status_version": version + 1,
            "updated_at": now,
        },
        when={"status_version": version, **STANDING},
        must_match=True,
    )


def first_status(status: Status, reasons: Sequence[dict[str, Any]], now: datetime) -> Document:
    """The status fields of a new person, set by their first declaration (`set_status`
    changes them afterwards)."""
    return {
        "status": status,
        "status_reasons": list(reasons),
        "status_source": "declaration",
        "status_changed_at": now,
        "status_version": 1,
    }


def person_id_for(account_id: str, id_hash: str) -> str:
    """The `_id` of the account's person with this identity number (keyed hash)."""
    digest = hashlib.sha256(f"person\x00{account_id}\x00{id_hash}".encode()).hexdigest()
    return f"per_{digest[:32]}"


async def person_of_account(store: Store, account_id: str, id_hash: str) -> Document | None:
    """The account's person with this identity number (keyed hash), if declared before,
    whose erasure may have begun (`being_erased`): the declaring path decides what to answer
    for them, and a new person could not be stored beside them anyway (the same `_id`)."""
    found = await store.get("people", person_id_for(account_id, id_hash))
    if found is None:  # a person made before ids were derived from account and identity
        found = await store.find_one("people", {"account_id": account_id, "id_hash": id_hash})
    return found


def holder_of(people: Sequence[Document], *, besides: str) -> Document | None:
    """Among an account's people as read, its holder (`relation` self) other than the
    person `besides`."""
    return next((p for p in people if p.get("relation") == "self" and p["_id"] != besides), None)


async def holder_marker(store: Store, account_id: str) -> Document | None:
    """The account's holder marker as it is: read only after a claim clashed on it."""
    return await store.get(HOLDERS.name, account_id)


def claim_holder(
    account_id: str, person_id: str, *, was: Document | None, expires_at: datetime
) -> Insert | Update:
    """Makes `person_id` the account's holder. Without a marker read (`was` None), an
    insert: any marker there, live or left behind, is a `DuplicateKey`, after which the
    caller reads the marker and then the people, and claims again from the marker it read:
    a move that fails with `PreconditionFailed` if another claim moved it since."""
    fields = {"person_id": person_id, "expires_at": expires_at}
    if was is None:
        return Insert(HOLDERS.name, {"_id": account_id, **fields})
    return Update(
        HOLDERS.name, account_id, set=fields, when={"person_id": was["person_id"]}, must_match=True
    )


def release_holder(account_id: str, person_id: str) -> Delete:
    """The account's marker, if it names this person: in the batch that erases them or
    declares them as a dependant."""
    return Delete(HOLDERS.name, {"_id": account_id, "person_id": person_id})


async def people_count(store: Store, account_id: str) -> int:
    return await store.count("people", {"account_id": account_id, **STANDING})


def insert_person(document: Document) -> Insert:
    return Insert("people", document)


def update_person(person_id: str, fields: dict[str, Any], *, status_version: int) -> Update:
    """Change what a declaration says about a person, leaving the status as it is, only if
    nobody changed the status since it was read (the caller decided with that status) and
    their erasure has not begun meanwhile: a declaration read before `start_erasure` and
    written after it, of an erasure then interrupted, would add to what is to be erased."""
    return Update(
        "people",
        person_id,
        set=fields,
        when={"status_version": status_version, **STANDING},
        must_match=True,
    )


def first_counted(cell: dict[str, Any]) -> dict[str, Any]:
    """What a new person's record holds of their first declaration: where it counts in the
    reports, and that it is their first (see `with_counted`)."""
    return {"counted": cell, "declared_seq": 1, "declared_today": {"day": cell["day"], "n": 1}}


def with_counted(update: Update, person: Document, cell: dict[str, Any]) -> Update:
    """`update` of `person` also recording `cell`, where their latest declaration counts in
    the reports (reports.counters.recount_declaration), and one more declaration on its day
    (`declared_that_day`), only if no other declaration of theirs was recorded since
    `person` was read (compare-and-set on `declared_seq`; a lost race raises
    PreconditionFailed): two declarations at once must not both take the person out of the
    same cells, nor both be counted as the day's last one allowed."""
    seq = person.get("declared_seq")
    today = {"day": cell["day"], "n": declared_that_day(person, cell["day"]) + 1}
    return with_fields(
        update,
        {"counted": cell, "declared_seq": int(seq or 0) + 1, "declared_today": today},
        when={"declared_seq": seq},
    )


def declared_that_day(person: Document | None, day: str) -> int:
    """Declarations stored for `person` on `day` (Vietnam's, ISO): the per-person daily
    limit. A record from before this was kept counts from its next declaration."""
    today = person.get("declared_today") if person is not None else None
    return int(today["n"]) if isinstance(today, dict) and today.get("day") == day else 0


def with_fields(
    update: Update, fields: Mapping[str, Any], *, when: Mapping[str, Any] | None = None
) -> Update:
    """A person's `update`, also setting `fields`; with `when`, also only where those match
    (and then matching nothing rolls the batch back). Built field by field: a declaration
    extends its person's update twice, and `dataclasses.replace` costs several times as
    much."""
    return Update(
        update.collection,
        update.id,
        {**update.set, **fields},
        update.inc,
        update.set_on_insert,
        update.when if when is None else {**update.when, **when},
        update.upsert,
        update.must_match or when is not None,
    )


def start_erasure(person_id: str, *, now: datetime) -> Update:
    """Erasure's first write, alone, before it reads what other domains hold about the
    person: from its commit on, every write that creates a record naming the person carries
    `person_held` and rolls back, so what erasure then reads is all there will ever be, and
    `get_person` no longer finds them. Matching nothing (an erasure that finished meanwhile)
    raises PreconditionFailed."""
    return Update("people", person_id, set={"erasing_since": now}, must_match=True)


def person_held(person_id: str) -> Update:
    """A precondition for a batch that creates a record naming a person (a consent, a
    monitoring episode, a visit, a code, a case, a message about them; not a scan, which
    must not write the person on the hot read path): it matches
    only while the person exists and their erasure has not begun, so a batch that read the
    person before `DELETE /v1/people/{id}` and commits after its first write rolls back whole
    (PreconditionFailed on "people"; the route answers as for a person that is not there).

    It counts, rather than only looks: on MongoDB a transaction that merely read the
    person would not conflict with the erasure's write to them (snapshot isolation checks
    writes against writes), and could commit after the erasure read its list. Writing the
    person document makes the two meet; SQLite commits one batch at a time anyway."""
    return Update(
        "people", person_id, inc={"holds": 1}, when={"erasing_since": None}, must_match=True
    )


def erase_person(person_id: str) -> Delete:
    """Erasure: the person record (name, identity number and phone, encrypted; the status)
    deleted. `rights.erasure` deletes what other domains hold about them in the same batch."""
    return Delete("people", {"_id": person_id})
