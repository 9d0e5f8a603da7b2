"""Every outbox query. Each state change is a conditional `Update`, so two processes
acting on one notification cannot both win: the loser's update matches nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from core.storage import Document, Store, Update
from notifications.outbox import OUTBOX

NAME = OUTBOX.name


def ms(moment: datetime) -> datetime:
    """Millisecond precision: what both engines store, so a stored time compares equal."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def later(now: datetime, seconds: float) -> datetime:
    return ms(now + timedelta(seconds=seconds))


async def get(store: Store, notification_id: str) -> Document | None:
    return await store.get(NAME, notification_id)


def _claimed(ids: Sequence[str], counts: Sequence[int]) -> list[str]:
    return [notification_id for notification_id, n in zip(ids, counts, strict=True) if n]


async def claim_for_dispatch(
    store: Store, ids: Sequence[str], *, now: datetime, until: datetime
) -> list[str]:
    """Right after the write that created them: pending -> queued, for those still pending."""
    if not ids:
        return []
    ops = [
        Update(
            NAME,
            notification_id,
            set={"state": "queued", "claimed_until": until, "updated_at": now},
            inc={"version": 1},
            when={"state": "pending"},
        )
        for notification_id in ids
    ]
    return _claimed(ids, await store.write(ops))


async def due(store: Store, *, now: datetime, limit: int) -> list[Document]:
    """What the relay should hand over: pending and due, or queued/sending past the lease."""
    found = await store.find(
        NAME,
        {"state": "pending", "next_attempt_at": {"$lte": now}},
        sort=[("next_attempt_at", 1)],
        limit=limit,
    )
    for state in ("queued", "sending"):
        if len(found) >= limit:
            break
        found += await store.find(
            NAME,
            {"state": state, "claimed_until": {"$lte": now}},
            sort=[("claimed_until", 1)],
            limit=limit - len(found),
        )
    return found


async def claim_for_relay(
    store: Store, documents: Sequence[Document], *, now: datetime, until: datetime
) -> list[str]:
    """Hand over again what `due` found, unless another process changed it since."""
    if not documents:
        return []
    ids = [str(document["_id"]) for document in documents]
    ops = [
        Update(
            NAME,
            str(document["_id"]),
            set={"state": "queued", "claimed_until": until, "updated_at": now},
            inc={"version": 1},
            when={"version": document["version"]},
        )
        for document in documents
    ]
    return _claimed(ids, await store.write(ops))


async def release(
    store: Store, ids: Sequence[str], *, claimed_until: datetime, now: datetime
) -> None:
    """The hand-over failed (broker down): back to pending, due at once, for the relay."""
    if not ids:
        return
    await store.write(
        [
            Update(
                NAME,
                notification_id,
                set={
                    "state": "pending",
                    "next_attempt_at": now,
                    "claimed_until": None,
                    "updated_at": now,
                },
                inc={"version": 1},
                when={"state": "queued", "claimed_until": claimed_until},
            )
            for notification_id in ids
        ]
    )


async def claim_for_sending(
    store: Store, document: Document, *, now: datetime, until: datetime
) -> bool:
    """Take the send: one process at a time, each take counted as an attempt."""
    counts = await store.write(
        [
            Update(
                NAME,
                str(document["_id"]),
                set={"state": "sending", "claimed_until": until, "updated_at": now},
                inc={"version": 1, "attempts": 1},
                when={"version": document["version"]},
            )
        ]
    )
    return counts == [1]


async def _finish(
    store: Store, notification_id: str, version: int, fields: dict[str, object]
) -> bool:
    counts = await store.write(
        [Update(NAME, notification_id, set=fields, inc={"version": 1}, when={"version": version})]
    )
    return counts == [1]


async def mark_delivered(
    store: Store, notification_id: str, *, version: int, now: datetime
) -> bool:
    return await _finish(
        store,
        notification_id,
        version,
        {"state": "delivered", "delivered_at": now, "claimed_until": None, "updated_at": now},
    )


async def schedule_retry(
    store: Store, notification_id: str, *, version: int, now: datetime, at: datetime, error: str
) -> bool:
    return await _finish(
        store,
        notification_id,
        version,
        {
            "state": "pending",
            "next_attempt_at": at,
            "claimed_until": None,
            "last_error": error,
            "updated_at": now,
        },
    )


async def mark_failed(
    store: Store, notification_id: str, *, version: int, now: datetime, error: str
) -> bool:
    return await _finish(
        store,
        notification_id,
        version,
        {"state": "failed", "claimed_until": None, "last_error": error, "updated_at": now},
    )


async def failed(store: Store, *, limit: int) -> list[Document]:
    return await store.find(NAME, {"state": "failed"}, sort=[("created_at", 1)], limit=limit)


async def put_back(store: Store, ids: Sequence[str], *, now: datetime) -> list[str]:
    """An operator's retry: failed -> pending with a fresh set of attempts."""
    if not ids:
        return []
    ops = [
        Update(
            NAME,
            notification_id,
            set={"state": "pending", "attempts": 0, "next_attempt_at": now, "updated_at": now},
            inc={"version": 1},
            when={"state": "failed"},
        )
        for notification_id in ids
    ]
    return _claimed(ids, await store.write(ops))


async def to_phone(store: Store, phone_hash: str) -> list[Document]:
    """Every kept message to one phone (keyed hash `to_hash`): erasure's list."""
    return await store.find(NAME, {"to_hash": phone_hash})


async def about_person(store: Store, person_id: str) -> list[Document]:
    """Every kept message about one person (`new_notification(about=…)`): erasure's list."""
    return await store.find(NAME, {"person_id": person_id})


def erase(document: Document, *, now: datetime) -> Update | None:
    """Erasure of one message: recipient and parameters wiped; one still waiting to leave
    is cancelled (compare-and-set on its version, so one a worker has just claimed is left
    to finish and is wiped by its expiry). Delivered and failed ones only lose their text."""
    fields: dict[str, object] = {
        "to_enc": None,
        "params_enc": None,
        "to_hash": None,
        "person_id": None,
    }
    if document["state"] in ("pending", "queued"):
        fields.update(state="cancelled", updated_at=now, version=int(document["version"]) + 1)
        return Update(NAME, str(document["_id"]), set=fields, when={"version": document["version"]})
    if document["state"] == "sending":
        return None
    return Update(NAME, str(document["_id"]), set=fields)
