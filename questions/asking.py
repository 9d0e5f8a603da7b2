"""Asking: a citizen's question, feedback or report stored as received, at most
`KHAIBAO_QUESTIONS_PER_DAY` a day, exactly once per Idempotency-Key.

The account is read first (a token outlives `DELETE /v1/me`), then a retry's kept answer,
then the day's limit: a retry is answered without spending a question, an erased account is
told so rather than to come back tomorrow. The question, its audit record, the account's
precondition and the kept answer are one atomic batch. The responders' side is in
`questions.answering`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from accounts.sessions import AccountErased, account_held, ensure_account_exists
from core.clock import new_id, utcnow
from core.context import Context
from core.errors import RateLimited, ValidationFailed
from core.i18n import Text, problem_more
from core.idempotency import first_answer, keep_answer, retry_of, winner_of
from core.logging import log_event
from core.principals import Principal
from core.storage import Document, DuplicateKey, Operation, PreconditionFailed
from declarations.fields import province_exists, province_of_ward
from questions import repository
from questions.schemas import QuestionCreated, QuestionIn
from reports.audit import audited_change

log = logging.getLogger(__name__)

DAY = 24 * 3600


class QuestionLimitReached(RateLimited):
    # As `ExportLimitReached`: the wait in hours, since the day is Vietnam's.
    code = "question_limit_reached"
    detail = Text(
        "You have sent as many questions as allowed today. Try again {wait}.",
        "Bạn đã gửi đủ số câu hỏi cho phép trong ngày. Vui lòng thử lại {wait}.",
        more=problem_more("question_limit_reached", 1),
    )

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after, self.detail)


class PlaceUnknown(ValidationFailed):
    code = "place_unknown"
    title = Text("Unknown place", "Địa bàn không tồn tại")
    detail = Text(
        "The province or ward code does not exist, or the ward is not in that province.",
        "Mã tỉnh hoặc mã xã không tồn tại, hoặc xã không thuộc tỉnh đó.",
    )


def _check_place(province: int | None, ward: int | None) -> None:
    if province is None and ward is None:
        return
    if province is None or not province_exists(province):
        raise PlaceUnknown()
    if ward is not None and province_of_ward(ward) != province:
        raise PlaceUnknown()


@dataclass(frozen=True)
class Asked:
    """The answer to `POST /v1/questions`, and whether it is the first answer to an earlier
    request with the same Idempotency-Key, sent again."""

    created: QuestionCreated
    replayed: bool


async def ask(
    ctx: Context,
    citizen: Principal,
    question: QuestionIn,
    *,
    locale: str,
    idempotency_key: str | None = None,
) -> Asked:
    """Store a question, or, for an Idempotency-Key already used with the same body, answer
    as the first time: a phone that lost the answer and sends again stores one question
    and spends one of the day's questions."""
    _check_place(question.province, question.ward)
    # Every question is a new record under the asker's account: not under an erased one
    # (a token outlives `DELETE /v1/me` by its minutes). Before the limit, so such a token
    # is told the account is gone (401 account_erased, as documented), not to come back
    # tomorrow; before the replay, so it is never told of a question erased with it.
    await ensure_account_exists(ctx, citizen)
    retry = retry_of(ctx, "question", citizen, idempotency_key, question)
    # Read before the limit, so a retry is answered even at the day's limit.
    first = await first_answer(ctx, retry, QuestionCreated)
    if first is not None:
        return Asked(first, replayed=True)
    bucket = "questions:" + ctx.cipher.lookup_hash(citizen.subject, context="questions.asker")
    try:
        await ctx.limiter.hit(bucket, limit=ctx.settings.questions_per_day, window_seconds=DAY)
    except RateLimited as exc:
        raise QuestionLimitReached(int(exc.headers["Retry-After"])) from None
    now = utcnow()
    question_id = new_id("qst")
    created = QuestionCreated(id=question_id, status="received")
    document: Document = {
        "_id": question_id,
        "asker": citizen.subject,
        "locale": "vi" if locale == "vi" else "en",
        "kind": question.kind,
        "category": question.category,
        "title": question.title,
        "body": question.body,
        "province": question.province,
        "ward": question.ward,
        "status": "received",
        "version": 0,
        "answer": None,
        "answered_by": None,
        "answer_seconds": None,
        "duplicate_of": None,
        "rejection_reason": None,
        "faq_id": None,
        "received_at": now,
        "updated_at": now,
        "answered_at": None,
        "published_at": None,
        "expires_at": repository.retained_from(ctx.settings, now),
        # The `_id` of its stored first answer, a keyed hash: erasure deletes that too.
        "idempotency_hash": retry.record_id if retry is not None else None,
    }
    params = {"kind": question.kind, "category": question.category}
    ops: list[Operation] = [
        repository.insert_question(document),
        audited_change(citizen, "question.received", params, now=now, target=question_id),
        account_held(citizen.subject),
    ]
    if retry is not None:
        ops.insert(0, keep_answer(retry, "question", created, now=now))
    try:
        await ctx.store.write(ops)
    except PreconditionFailed:  # DELETE /v1/me took the account after the read above
        raise AccountErased() from None
    except DuplicateKey as clash:
        # The same key raced itself (each counted once against the limit).
        return Asked(await winner_of(ctx, retry, clash, QuestionCreated), replayed=True)
    log_event(log, "question received", question_id=question_id, category=question.category)
    return Asked(created, replayed=False)
