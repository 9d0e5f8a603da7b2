"""Idempotency-Key: the one rule for a key, and the first answers kept so that a POST sent
again is answered, not done twice. Every domain whose POST takes a key keeps its answers
here, in the one `idempotency` collection.

A record's `_id` is a keyed hash of the route, the caller and the key (`idempotency_hashes`),
beside a keyed hash of the body: the same key and body get the first answer again, the same
key with another body is `409 idempotency_key_reused`. Its unique `_id` is what makes twenty
identical requests racing each other store one change: the record goes first in the batch
that writes the change, and exactly one batch commits.

Declarations and entry declarations, whose key is required and whose stored answers carry
more, build their records themselves with the functions below; the routes where a key is
optional (a question, a monitoring episode, a daily report, a consent, a scan…) use `Retry`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel

from core.context import Context
from core.errors import IdempotencyKeyReused
from core.principals import Principal
from core.storage import CollectionSpec, Delete, Document, DuplicateKey, Index, Insert, Store

# The one rule for an Idempotency-Key, for every route that takes one: the pattern is built
# from it, and every message about a refused key says it with `IDEMPOTENCY_KEY_RULE`.
IDEMPOTENCY_KEY_LENGTH = (1, 128)
IDEMPOTENCY_KEY_CHARACTERS = ("A-Z", "a-z", "0-9", "_", "-", ":", ".")
IDEMPOTENCY_KEY_PATTERN = "^[{}]{{{},{}}}$".format(
    "".join("\\" + c if c in "]\\^-" else c for c in IDEMPOTENCY_KEY_CHARACTERS),
    *IDEMPOTENCY_KEY_LENGTH,
)
IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
IDEMPOTENCY_KEY_RULE = {
    "characters": " ".join(IDEMPOTENCY_KEY_CHARACTERS),
    "min": str(IDEMPOTENCY_KEY_LENGTH[0]),
    "max": str(IDEMPOTENCY_KEY_LENGTH[1]),
}

ANSWER_HOURS = 24  # how long a first answer is kept, unless its route says longer

IDEMPOTENCY = CollectionSpec(
    "idempotency",
    # Erasure finds a person's stored answers (they name the person) by `person_id`.
    indexes=(Index(("person_id",)),),
    datetime_fields=frozenset({"created_at", "expires_at"}),
    expires_field="expires_at",
)


def idempotency_hashes(ctx: Context, scoped_key: str, body: BaseModel) -> tuple[str, str]:
    """The `_id` of the record that answers an Idempotency-Key (`scoped_key`: the key with
    whatever keeps one caller's or one route's keys apart), and a keyed hash of the body
    sent with it, which a retry must match."""
    record_id = ctx.cipher.lookup_hash(scoped_key, context="idempotency.key")
    canonical = orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return record_id, ctx.cipher.lookup_hash(canonical.decode(), context="idempotency.body")


async def idempotency_record(store: Store, record_id: str) -> Document | None:
    return await store.get("idempotency", record_id)


def insert_idempotency_record(document: Document) -> Insert:
    return Insert("idempotency", document)


def erase_idempotency_records(record_ids: Sequence[str]) -> Delete:
    """Stored answers by their `_id` (a question's names no person: its asker's erasure
    finds it through the question)."""
    return Delete("idempotency", {"_id": {"$in": list(record_ids)}})


def erase_answers_naming(person_id: str) -> Delete:
    """The stored answers that name a person (their erasure)."""
    return Delete("idempotency", {"person_id": person_id})


# -- an optional key ------------------------------------------------------------------------

Answer = TypeVar("Answer", bound=BaseModel)


@dataclass(frozen=True)
class Retry:
    """Where the first answer to (route, caller, Idempotency-Key) is kept, and what was sent."""

    record_id: str
    body_hash: str


def retry_of(
    ctx: Context,
    route: str,
    caller: Principal,
    key: str | None,
    body: BaseModel,
    *,
    target: str | None = None,
) -> Retry | None:
    """None without a key. `route` keeps the same key sent to two routes from naming one
    record; the caller's id keeps two callers' keys apart; `target`, the record a route
    acts on (an episode, a question, a checkpoint), keeps a key sent about two of them
    from answering one with the other's answer."""
    if not key:
        return None
    scope = route if target is None else f"{route}\x00{target}"
    return Retry(*idempotency_hashes(ctx, f"{scope}\x00{caller.subject}\x00{key}", body))


async def first_answer(ctx: Context, retry: Retry | None, model: type[Answer]) -> Answer | None:
    """The answer kept for this key, if any; `409 idempotency_key_reused` when it was
    sent with another body."""
    if retry is None:
        return None
    stored = await idempotency_record(ctx.store, retry.record_id)
    if stored is None:
        return None
    if stored["body_hash"] != retry.body_hash:
        raise IdempotencyKeyReused()
    return model.model_validate_json(str(stored["response"]))


async def winner_of(
    ctx: Context, retry: Retry | None, clash: DuplicateKey, model: type[Answer]
) -> Answer:
    """After a batch holding `keep_answer` clashed on a unique key: a clash on the kept
    answer is the same key sent twice at once, answered with the winner's answer (409 for
    another body); any other clash, or one whose winner's record already expired, is
    raised again."""
    if retry is None or clash.collection != IDEMPOTENCY.name:
        raise clash
    first = await first_answer(ctx, retry, model)
    if first is None:
        raise clash
    return first


def keep_answer(
    retry: Retry,
    route: str,
    answer: BaseModel,
    *,
    now: datetime,
    person_id: str | None = None,
    status_code: int = 201,
    expires_at: datetime | None = None,
) -> Insert:
    """The record of the first answer, to go first in the batch that writes the change:
    of the same key sent twice at once, exactly one batch commits. With `person_id`, the
    person's erasure (or their account's) deletes it. It is kept `ANSWER_HOURS`, or until
    `expires_at`: a route whose retries were answered for as long as its record is kept
    keeps its answer as long."""
    record: dict[str, Any] = {
        "_id": retry.record_id,
        "kind": route,
        "body_hash": retry.body_hash,
        "status_code": status_code,
        "response": answer.model_dump_json(),
        "created_at": now,
        "expires_at": expires_at or now + timedelta(hours=ANSWER_HOURS),
    }
    if person_id is not None:
        record["person_id"] = person_id
    return insert_idempotency_record(record)
