"""The responders' moves on a question: answering (and publishing), marking a duplicate,
rejecting.

A question moves received → answered → published, or to rejected; a duplicate is answered
with the earlier question's answer. Each move is one atomic batch: the question's new state
(compare-and-set on its version), the FAQ entry when it is published, the asker's
notification in the outbox and the audit record. The notification is handed to delivery
only after the batch is durable.

A published entry is built only from the responder's own public title and text and the
answer, never from the asker's words, and holds no phone or identity number: what it may
hold is `questions.publishing`. A responder acts only on questions inside their area:
another area's is `404`, as a missing one is.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from accounts.contact import phone_of
from core.clock import utcnow
from core.context import Context
from core.errors import Conflict, NotFound
from core.i18n import Text
from core.idempotency import Retry, first_answer, keep_answer, retry_of, winner_of
from core.logging import log_event
from core.principals import Principal
from core.storage import Document, DuplicateKey, Insert, Operation, PreconditionFailed
from notifications.outbox import new_notification
from questions import repository
from questions.publishing import new_faq_entry, public_text
from questions.schemas import AnswerIn, DuplicateIn, QuestionCreated, RejectIn
from reports.audit import audited_change

log = logging.getLogger(__name__)

ANSWERABLE = ("received", "answered")
# The routes whose first answers `core.idempotency` keeps.
ANSWER, DUPLICATE, REJECT = "question_answer", "question_duplicate", "question_reject"


class QuestionClosed(Conflict):
    code = "question_closed"
    title = Text("Already handled", "Đã được xử lý")
    detail = Text(
        "This question was published or rejected, or changed meanwhile. Reload it.",
        "Câu hỏi đã được công khai, từ chối, hoặc vừa thay đổi. Hãy tải lại.",
    )


class _MoveRaced(QuestionClosed):
    """Another move of the question committed between our read and our write: to the
    responder, `QuestionClosed`; to the move, a reason to look again (`_once`)."""


class DuplicateTargetInvalid(Conflict):
    code = "duplicate_target_invalid"
    title = Text("Cannot be the original", "Không thể là câu hỏi gốc")
    detail = Text(
        "The earlier question must be another, already answered question you can see.",
        "Câu hỏi gốc phải là một câu hỏi khác, đã được trả lời, mà bạn được xem.",
    )


async def _visible(ctx: Context, responder: Principal, question_id: str) -> Document:
    """The question, if inside the responder's area; the same 404 otherwise, so a
    responder cannot learn that a question exists elsewhere."""
    found = await repository.question(ctx.store, question_id)
    if found is None or not responder.covers(found["province"], found["ward"]):
        raise NotFound()
    return found


@dataclass(frozen=True)
class _Move:
    """One state change of a question, and what goes with it."""

    question: Document
    status: str
    changes: dict[str, Any]
    outcome: str | None  # what the asker is told: "answered", "rejected", or nothing
    action: str
    params: dict[str, Any]
    faq: Document | None = None  # the entry published with it


async def _apply(
    ctx: Context, responder: Principal, move: _Move, *, kept: Insert | None = None
) -> None:
    """`kept`: the first answer to an Idempotency-Key, kept in the same batch."""
    question = move.question
    if question["status"] not in ANSWERABLE:
        raise QuestionClosed()
    now = utcnow()
    # The asker keeps the full retention to read an answer or a rejection.
    changes = {
        **move.changes,
        "status": move.status,
        "updated_at": now,
        "expires_at": repository.retained_from(ctx.settings, now),
    }
    ops: list[Operation] = [] if kept is None else [kept]
    ops += [
        repository.change_question(
            question["_id"],
            version=int(question["version"]),
            status=question["status"],
            changes=changes,
        ),
        audited_change(responder, move.action, move.params, now=now, target=question["_id"]),
    ]
    if move.faq is not None:
        ops.append(repository.insert_faq(move.faq))
    notification_id = None
    # The asker hears once that there is an answer, and why not if it is rejected;
    # publishing (or replacing) an answer they already have tells them nothing new.
    already_told = question["status"] == "answered" and move.outcome == "answered"
    if move.outcome is not None and not already_told:
        phone = await phone_of(ctx, question["asker"])
        if phone is not None:
            notification_id, entry = new_notification(
                ctx.cipher,
                kind="question_update",
                phone=phone,
                locale=question.get("locale", "vi"),
                params={"outcome": move.outcome},
            )
            ops.append(entry)
    try:
        await ctx.store.write(ops)
    except PreconditionFailed:
        raise _MoveRaced() from None
    if notification_id is not None:
        await ctx.dispatcher.dispatch([notification_id])
    log_event(log, move.action, question_id=question["_id"], user=responder.subject)


def _answered(question: Document, answer: str, responder: Principal) -> dict[str, Any]:
    now = utcnow()
    received = question["received_at"]
    first = question.get("answered_at") or now
    return {
        "answer": answer,
        "answered_by": responder.subject,
        "answered_at": first,
        "answer_seconds": int((first - received) / timedelta(seconds=1)),
    }


@dataclass(frozen=True)
class Moved:
    """The answer to a responder's move (answer, duplicate, reject), and whether it is the
    first answer to an earlier request with the same Idempotency-Key, sent again."""

    created: QuestionCreated
    replayed: bool


# What a question looks like once a move asked for is done (this answer, published as asked;
# rejected for this reason; linked to this original): sent again, it is answered as it stands.
Stands = Callable[[Document], Awaitable[bool]]


async def answer(
    ctx: Context,
    responder: Principal,
    question_id: str,
    given: AnswerIn,
    *,
    idempotency_key: str | None = None,
) -> Moved:
    """Answer (and publish), safe to send again: with an Idempotency-Key a retry gets the
    first answer; without one, a question that already stands as `given` asks (this answer,
    published or not as asked) is answered as it stands, moving, telling and auditing
    nothing. Anything else on a published or rejected question is `409 question_closed`."""
    # Before anything is read: a request that cannot be published is refused as it stands.
    public = public_text(given) if given.publish else None
    question = await _visible(ctx, responder, question_id)
    # After the area check, so a replay tells no more than a first request would.
    retry = retry_of(ctx, ANSWER, responder, idempotency_key, given, target=question_id)
    replayed = await _replayed(ctx, retry)
    if replayed is not None:
        return replayed

    async def stands(current: Document) -> bool:
        return await _stands_as_given(ctx, current, given.body, public)

    if await stands(question):
        return _as_it_stands(question)
    changes = _answered(question, given.body, responder)
    status, entry = "answered", None
    params: dict[str, Any] = {"publish": given.publish}
    if public is not None:
        status, entry = "published", new_faq_entry(question, given.body, public)
        changes |= {"faq_id": entry["_id"], "published_at": entry["published_at"]}
        params["faq_id"] = entry["_id"]
    move = _Move(question, status, changes, "answered", "question." + status, params, entry)
    return await _once(ctx, responder, move, stands, ANSWER, retry)


async def _replayed(ctx: Context, retry: Retry | None) -> Moved | None:
    """The first answer kept for this Idempotency-Key, if any (409 with another body)."""
    first = await first_answer(ctx, retry, QuestionCreated)
    return None if first is None else Moved(first, replayed=True)


def _as_it_stands(question: Document) -> Moved:
    return Moved(QuestionCreated(id=question["_id"], status=question["status"]), replayed=False)


async def _once(
    ctx: Context,
    responder: Principal,
    move: _Move,
    stands: Stands,
    route: str,
    retry: Retry | None,
) -> Moved:
    """The move, with the first answer to its Idempotency-Key kept in the same batch. A
    move that loses a race looks again: the same key that raced itself gets the winner's
    answer, and a question the winner left as this move asks is answered as it stands."""
    question_id = str(move.question["_id"])
    created = QuestionCreated(id=question_id, status=move.status)
    kept = None
    if retry is not None:
        kept = keep_answer(retry, route, created, now=utcnow(), status_code=200)
    try:
        await _apply(ctx, responder, move, kept=kept)
    except DuplicateKey as clash:
        return Moved(await winner_of(ctx, retry, clash, QuestionCreated), replayed=True)
    except _MoveRaced:
        # Moved meanwhile: by this very move sent twice at once, or by a colleague.
        replayed = await _replayed(ctx, retry)
        if replayed is not None:
            return replayed
        moved = await _visible(ctx, responder, question_id)
        if not await stands(moved):
            raise
        return _as_it_stands(moved)
    return Moved(created, replayed=False)


async def _stands_as_given(
    ctx: Context, question: Document, answer: str, public: tuple[str, str] | None
) -> bool:
    """Whether the question holds this answer, published with this public text, or not
    published when there is none."""
    if question.get("answer") != answer:
        return False
    status, faq_id = str(question["status"]), question.get("faq_id")
    if public is None:
        return status == "answered"
    if status != "published" or faq_id is None:
        return False
    entry = await repository.faq_entry(ctx.store, str(faq_id))
    return entry is not None and (entry["title"], entry["question"]) == public


async def duplicate(
    ctx: Context,
    responder: Principal,
    question_id: str,
    given: DuplicateIn,
    *,
    idempotency_key: str | None = None,
) -> Moved:
    """Answer the question with an earlier one's answer, safe to send again as `answer` is:
    a question already linked to `given.of` and holding its answer (and FAQ entry) as they
    now are is answered as it stands."""
    question = await _visible(ctx, responder, question_id)
    retry = retry_of(ctx, DUPLICATE, responder, idempotency_key, given, target=question_id)
    replayed = await _replayed(ctx, retry)
    if replayed is not None:
        return replayed
    of = given.of
    original = await repository.question(ctx.store, of)
    if (
        of == question_id
        or original is None
        or original["status"] not in ("answered", "published")
        or not (
            original["status"] == "published"
            or responder.covers(original["province"], original["ward"])
        )
    ):
        raise DuplicateTargetInvalid()
    changes = _answered(question, str(original["answer"]), responder)
    changes |= {"duplicate_of": of, "faq_id": original.get("faq_id")}

    async def stands(current: Document) -> bool:
        linked = ("answered", of, changes["answer"], changes["faq_id"])
        fields = ("status", "duplicate_of", "answer", "faq_id")
        return tuple(current.get(name) for name in fields) == linked

    if await stands(question):
        return _as_it_stands(question)
    move = _Move(question, "answered", changes, "answered", "question.duplicate", {"of": of})
    return await _once(ctx, responder, move, stands, DUPLICATE, retry)


async def reject(
    ctx: Context,
    responder: Principal,
    question_id: str,
    given: RejectIn,
    *,
    idempotency_key: str | None = None,
) -> Moved:
    """Reject with a reason the asker reads, safe to send again as `answer` is: a question
    already rejected for this reason is answered as it stands; for another reason, or
    published, it is `409 question_closed`."""
    question = await _visible(ctx, responder, question_id)
    retry = retry_of(ctx, REJECT, responder, idempotency_key, given, target=question_id)
    replayed = await _replayed(ctx, retry)
    if replayed is not None:
        return replayed

    async def stands(current: Document) -> bool:
        return (current["status"], current.get("rejection_reason")) == ("rejected", given.reason)

    if await stands(question):
        return _as_it_stands(question)
    changes = {"rejection_reason": given.reason, "answered_by": responder.subject}
    move = _Move(question, "rejected", changes, "rejected", "question.rejected", {})
    return await _once(ctx, responder, move, stands, REJECT, retry)
