"""HTTP endpoints of questions and feedback: citizens ask and read their own, responders
work the queue. The public FAQ and its page are in `questions.public`, the analysts'
report in `questions.report`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from accounts.sessions import AccountErased
from core.errors import (
    Forbidden,
    IdempotencyKeyReused,
    NotFound,
    StorageUnavailable,
    Unauthenticated,
    ValidationFailed,
)
from questions import answering, asking, publishing, service
from questions.public import router as public_router
from questions.report import router as report_router
from questions.schemas import (
    QUERY_MAX,
    AnswerIn,
    Category,
    Cursor,
    DocumentId,
    DuplicateIn,
    Limit,
    MyQuestion,
    MyQuestions,
    QuestionCreated,
    QuestionIn,
    Queue,
    QueuedQuestion,
    RejectIn,
    Status,
)
from web.deps import Citizen, ContextDep, Responder, optional_key, request_language
from web.openapi import answered
from web.problems import responses

router = APIRouter(tags=["questions"])
router.include_router(public_router)
router.include_router(report_router)

_SIGNED_IN = (Unauthenticated, Forbidden, ValidationFailed, StorageUnavailable)
_MOVE_ERRORS = (*_SIGNED_IN, NotFound, answering.QuestionClosed)
_PUBLISH_ERRORS = (
    publishing.PublicTextRequired,
    publishing.PublicTextAsAsked,
    publishing.PublicTextHasNumber,
)
# A responder's move (answer, duplicate, reject) sent again on a flaky line.
_MoveKey = Annotated[
    str | None,
    optional_key(
        "Optional, the responder's own, per question: a retry with the same "
        "key and body gets the first answer (with `Idempotent-Replayed: true`), telling "
        "and auditing nothing more; another body is 409 `idempotency_key_reused`"
    ),
]


@router.post(
    "/v1/questions",
    status_code=201,
    summary="Ask a question, send feedback or report a problem (citizen)",
    response_model=QuestionCreated,
    responses={
        **answered(201, "Received", "Idempotent-Replayed"),
        **responses(
            *_SIGNED_IN,
            AccountErased,
            IdempotencyKeyReused,
            asking.PlaceUnknown,
            asking.QuestionLimitReached,
        ),
    },
)
async def ask(
    ctx: ContextDep,
    citizen: Citizen,
    question: QuestionIn,
    request: Request,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        optional_key(
            "Optional, 1-128 characters of A-Z a-z 0-9 _ - : . — one per question; "
            "a retry with the same key and body returns the first answer (with "
            "`Idempotent-Replayed: true`), storing and counting nothing more"
        ),
    ] = None,
) -> QuestionCreated:
    locale = request_language(request)
    asked = await asking.ask(ctx, citizen, question, locale=locale, idempotency_key=idempotency_key)
    if asked.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return asked.created


@router.get(
    "/v1/questions/mine",
    summary="My questions, newest first, with their status and answer (citizen)",
    response_model=MyQuestions,
    responses=responses(*_SIGNED_IN),
)
async def mine(
    ctx: ContextDep, citizen: Citizen, before: Cursor = None, limit: Limit = 20
) -> MyQuestions:
    found, next_before = await service.mine(ctx, citizen, before=before, limit=limit)
    items = [MyQuestion.model_validate({**d, "id": d["_id"]}) for d in found]
    return MyQuestions(items=items, next_before=next_before)


@router.get(
    "/v1/questions",
    summary="The responders' queue inside their area, newest first or by relevance to q",
    response_model=Queue,
    responses=responses(*_SIGNED_IN),
)
async def work_queue(
    ctx: ContextDep,
    responder: Responder,
    status: Status | None = None,
    category: Category | None = None,
    q: Annotated[str | None, Query(max_length=QUERY_MAX, description="Words to find")] = None,
    before: Cursor = None,
    limit: Limit = 50,
) -> Queue:
    found, next_before = await service.queue(
        ctx, responder, status=status, category=category, text=q, before=before, limit=limit
    )
    items = [QueuedQuestion.model_validate({**d, "id": d["_id"]}) for d in found]
    return Queue(items=items, next_before=next_before)


@router.post(
    "/v1/questions/{question_id}/answer",
    summary="Answer a question, and publish it to the FAQ with an edited public text",
    response_model=QuestionCreated,
    responses={
        **answered(200, "Answered, or already so", "Idempotent-Replayed"),
        **responses(*_MOVE_ERRORS, *_PUBLISH_ERRORS, IdempotencyKeyReused),
    },
)
async def answer(
    ctx: ContextDep,
    responder: Responder,
    question_id: DocumentId,
    given: AnswerIn,
    response: Response,
    idempotency_key: _MoveKey = None,
) -> QuestionCreated:
    outcome = await answering.answer(
        ctx, responder, question_id, given, idempotency_key=idempotency_key
    )
    return _moved(outcome, response)


@router.post(
    "/v1/questions/{question_id}/duplicate",
    summary="Mark as a duplicate of an earlier question: answered with its answer",
    response_model=QuestionCreated,
    responses={
        **answered(200, "Answered with the earlier answer, or already so", "Idempotent-Replayed"),
        **responses(*_MOVE_ERRORS, answering.DuplicateTargetInvalid, IdempotencyKeyReused),
    },
)
async def duplicate(
    ctx: ContextDep,
    responder: Responder,
    question_id: DocumentId,
    given: DuplicateIn,
    response: Response,
    idempotency_key: _MoveKey = None,
) -> QuestionCreated:
    outcome = await answering.duplicate(
        ctx, responder, question_id, given, idempotency_key=idempotency_key
    )
    return _moved(outcome, response)


@router.post(
    "/v1/questions/{question_id}/reject",
    summary="Reject a question with a reason the asker sees",
    response_model=QuestionCreated,
    responses={
        **answered(200, "Rejected, or already so for this reason", "Idempotent-Replayed"),
        **responses(*_MOVE_ERRORS, IdempotencyKeyReused),
    },
)
async def reject(
    ctx: ContextDep,
    responder: Responder,
    question_id: DocumentId,
    given: RejectIn,
    response: Response,
    idempotency_key: _MoveKey = None,
) -> QuestionCreated:
    outcome = await answering.reject(
        ctx, responder, question_id, given, idempotency_key=idempotency_key
    )
    return _moved(outcome, response)


def _moved(outcome: answering.Moved, response: Response) -> QuestionCreated:
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return outcome.created
