"""The outbox: a notification is a document written in the same atomic batch as the state
change that causes it, and only then handed to delivery. If delivery is down, it waits
here; the relay sends what is still pending.

States, and who moves a notification between them (every move is a compare-and-set):

* `pending`: waiting; due at `next_attempt_at` (now for a new one, later after a failed
  send). The dispatcher (right after the write) or a relay moves it to `queued`.
* `queued`: handed to the broker (or to the in-process runner) until `claimed_until`. A
  worker moves it to `sending`. If the hand-over failed it goes back to `pending`; if it is
  still queued when `claimed_until` passes, the message is presumed lost and a relay hands
  it over again.
* `sending`: one process is calling the provider, leased until `claimed_until`. It ends
  `delivered`, back to `pending` with a backoff (a retryable error, attempts left), or
  `failed`. If that process dies, the send is taken over when the lease ends.
* `cancelled`: final; the person it was for was erased before it left (recipient and
  parameters wiped with it).
* `delivered`: final. `failed`: final until an operator puts it back to `pending`
  (`khaibao notifications retry`).

`version` grows by one on every move, so a move made from a stale read matches nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Literal

import orjson

from core.clock import new_id, utcnow
from core.crypto import FieldCipher
from core.storage import CollectionSpec, Index, Insert

Kind = Literal["otp", "status_change", "exposure", "question_update", "monitoring_reminder"]
State = Literal["pending", "queued", "sending", "delivered", "failed", "cancelled"]

OUTBOX = CollectionSpec(
    "notifications",
    indexes=(
        Index(("state", "next_attempt_at")),
        Index(("state", "claimed_until")),
        Index(("state", "created_at")),
        # Erasure finds the messages to a phone by its keyed hash, and the messages about a
        # person (sent to the account's phone) by the person (`rights.erasure`).
        Index(("to_hash",)),
        Index(("person_id",)),
    ),
    datetime_fields=frozenset(
        {
            "created_at",
            "updated_at",
            "next_attempt_at",
            "delivered_at",
            "expires_at",
            "claimed_until",
        }
    ),
    expires_field="expires_at",
)

RECIPIENT_CONTEXT = "notification.to"
PARAMS_CONTEXT = "notification.params"


def new_notification(
    cipher: FieldCipher,
    *,
    kind: Kind,
    phone: str,
    locale: str,
    params: Mapping[str, str | int],
    keep_days: int = 30,
    notification_id: str | None = None,
    about: str | None = None,
) -> tuple[str, Insert]:
    """The outbox entry for one message. Recipient and parameters (a code, a reason) are
    encrypted: the outbox is personal data like everything else. `about` names the person
    the message is about (a dependant's status goes to the account's phone), so erasing
    that person cancels it."""
    now = utcnow()
    # A caller that must send a message at most once names it (a daily reminder): a
    # second insert under that id fails instead of queueing it twice.
    notification_id = notification_id or new_id("ntf")
    document = {
        "_id": notification_id,
        "kind": kind,
        "locale": "vi" if locale == "vi" else "en",
        "to_enc": cipher.encrypt(phone, context=RECIPIENT_CONTEXT),
        "to_hash": cipher.lookup_hash(phone, context=RECIPIENT_CONTEXT),
        "person_id": about,
        "params_enc": cipher.encrypt(orjson.dumps(dict(params)).decode(), context=PARAMS_CONTEXT),
        "state": "pending",
        "version": 0,
        "attempts": 0,
        "last_error": None,
        "created_at": now,
        "updated_at": now,
        "next_attempt_at": now,
        "claimed_until": None,
        "delivered_at": None,
        "expires_at": now + timedelta(days=keep_days),
    }
    return notification_id, Insert(OUTBOX.name, document)
