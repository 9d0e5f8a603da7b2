"""An optional Idempotency-Key on a POST that creates one record (a question, a monitoring
episode, a daily report, a consent) or acts on one (closing an episode, answering, marking
or rejecting a question, scanning a code at a checkpoint): where the first answer is kept,
and how a retry is answered.

The answer is kept in the declarations' `idempotency` collection, under a keyed hash of the
route, the caller and the key (`repository.idempotency_hashes`), beside a keyed hash of the
body: the same key and body within `ANSWER_HOURS` get the first answer again, the same key
with another body is `409 idempotency_key_reused`. Declarations and entry declarations,
whose key is required and whose stored answers carry more, keep theirs in their services.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from fastapi import Header
from pydantic import BaseModel

from core.context import Context
from core.errors import IdempotencyKeyReused
from core.principals import Principal
from core.storage import DuplicateKey, Insert
from declarations import repository
from declarations.schemas import IDEMPOTENCY_KEY_LENGTH, IDEMPOTENCY_KEY_PATTERN

ANSWER_HOURS = 24  # as for declarations

Answer = TypeVar("Answer", bound=BaseModel)


def optional_key(description: str) -> Any:
    """The optional `Idempotency-Key` header of a route that honours one, as its parameter's
    `Annotated[str | None, optional_key(...)] = None`: a key of another shape is 422, and
    `description` tells client teams what a retry gets on that route."""
    return Header(
        alias="Idempotency-Key",
        max_length=IDEMPOTENCY_KEY_LENGTH[1],
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description=description,
    )


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
    return Retry(*repository.idempotency_hashes(ctx, f"{scope}\x00{caller.subject}\x00{key}", body))


async def first_answer(ctx: Context, retry: Retry | None, model: type[Answer]) -> Answer | None:
    """The answer kept for this key, if any; `409 idempotency_key_reused` when it was
    sent with another body."""
    if retry is None:
        return None
    stored = await repository.idempotency_record(ctx.store, retry.record_id)
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
    if retry is None or clash.collection != repository.IDEMPOTENCY.name:
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
    return repository.insert_idempotency_record(record)
