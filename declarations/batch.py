"""The offline queue: `POST /v1/declarations/batch` sends what a phone stored while it had
no coverage, each item answered exactly as `POST /v1/declarations` would answer it alone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import ValidationError

from core.clock import local_day, utcnow
from core.context import Context
from core.errors import AppError
from core.principals import Principal
from declarations.schemas import BatchItemIn, DeclarationIn
from declarations.service import SubmitResult, check_idempotency_key, submit_declaration

BatchOutcome = SubmitResult | AppError | ValidationError


async def submit_batch(
    ctx: Context,
    principal: Principal,
    items: Sequence[BatchItemIn],
    *,
    lang: str = "en",
    now: datetime | None = None,
) -> list[BatchOutcome]:
    """Each item exactly as POST /v1/declarations would treat it, in order (a phone's queue
    is in the order the person filled the forms). One item's failure is that item's answer."""
    outcomes: list[BatchOutcome] = []
    for item in items:
        try:
            key = check_idempotency_key(item.idempotency_key)
            day = local_day(now or utcnow())
            body = DeclarationIn.model_validate(item.declaration, context={"today": day})
            outcomes.append(await submit_declaration(ctx, principal, body, key, now=now, lang=lang))
        except (AppError, ValidationError) as exc:
            outcomes.append(exc)
    return outcomes
