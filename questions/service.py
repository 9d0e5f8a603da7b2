"""The responders' work queue and a citizen's own questions (asking: `questions.asking`;
the responders' moves, answering, marking a duplicate and rejecting: `questions.answering`).

Privacy: the asker is an account id on the question, used for `mine` and to find the phone
to notify; responders and the public get shapes without it (`questions.schemas`).
Responders with an area see and act only on questions placed inside it; a question without
a place belongs to the whole country, so only responders without an area see it. Every
question a responder is shown is audited under its asker's account, which the asker's
access log shows (the responder's role, never who).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.clock import utcnow
from core.context import Context
from core.principals import Principal
from core.storage import Document
from questions import repository
from reports.audit import access_entry, audited_change

# A responder saw a question in the queue or a search (`GET /v1/me/access-log` of its asker).
QUESTION_READ = "question_read"


def area_filter(responder: Principal) -> dict[str, Any]:
    """The questions a responder may see: those placed in their area, or all."""
    if responder.area is None:
        return {}
    where: dict[str, Any] = {"province": responder.area.province}
    if responder.area.ward is not None:
        where["ward"] = responder.area.ward
    return where


async def mine(
    ctx: Context, citizen: Principal, *, before: str | None, limit: int
) -> tuple[list[Document], str | None]:
    found = await repository.questions_of(ctx.store, citizen.subject, before=before, limit=limit)
    return found, _next(found, limit)


async def queue(
    ctx: Context,
    responder: Principal,
    *,
    status: str | None,
    category: str | None,
    text: str | None,
    before: str | None,
    limit: int,
) -> tuple[list[Document], str | None]:
    where = area_filter(responder)
    if status is not None:
        where["status"] = status
    if category is not None:
        where["category"] = category
    found = await repository.queue(ctx.store, where, text=text, before=before, limit=limit)
    now = utcnow()
    # Questions are what citizens wrote, personal data included: reading the queue is
    # audited like any staff read, before anything is shown. One write for the page: its
    # filters, and each question shown under its asker's account, which that asker's
    # access log reads (as an officer's worklist records each episode it lists).
    params: dict[str, Any] = {"status": status, "category": category}
    params |= {"searched": text is not None, "shown": len(found)}
    await ctx.store.write(
        [
            audited_change(responder, "questions.read", params, now=now),
            *(
                access_entry(
                    responder,
                    QUESTION_READ,
                    person_id=None,
                    account_id=str(doc["asker"]),
                    subject_id=str(doc["_id"]),
                    now=now,
                )
                for doc in found
            ),
        ]
    )
    return found, (None if text is not None else _next(found, limit))


def _next(found: Sequence[Document], limit: int) -> str | None:
    return str(found[-1]["_id"]) if len(found) == limit else None
