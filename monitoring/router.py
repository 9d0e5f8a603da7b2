"""Monitoring endpoints: open an episode, report a day, the officer's worklist, an episode's
contact card, close."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from core.errors import (
    Forbidden,
    IdempotencyKeyReused,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from core.principals import Principal
from monitoring import closing, daily_reports, service
from monitoring import contact as contacts  # the endpoint below is named `contact`
from monitoring import worklist as reading  # the endpoint below is named `worklist`
from monitoring.episodes import AlreadyMonitored, EpisodeClosed
from monitoring.schemas import (
    CitizenEpisodes,
    CloseIn,
    ContactCard,
    EpisodeCreated,
    EpisodeIn,
    EpisodeView,
    ReportCreated,
    ReportIn,
    Worklist,
)
from qr.schemas import ResourceId
from web.deps import Citizen, ContextDep, HealthOfficer, optional_key, require
from web.openapi import answered
from web.problems import responses

router = APIRouter(tags=["monitoring"])
# A page's `next`: the last episode's urgency key (monitoring.episodes.urgency_key).
CURSOR = r"^[01]\|[0-9]{4}\|[0-9]{4}-[0-9]{2}-[0-9]{2}\|[A-Za-z0-9_-]{1,64}$"
_AUTH = (Unauthenticated, Forbidden)
CitizenOrOfficer = Annotated[Principal, Depends(require("citizen", "health_officer"))]


@router.post(
    "/v1/monitoring",
    status_code=201,
    summary="Open a monitoring episode for a person or an arrival (inside your area)",
    response_model=EpisodeCreated,
    responses={
        **answered(201, "Opened", "Idempotent-Replayed"),
        **responses(*_AUTH, NotFound, ValidationFailed, AlreadyMonitored, IdempotencyKeyReused),
    },
)
async def open_episode(
    body: EpisodeIn,
    ctx: ContextDep,
    officer: HealthOfficer,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        optional_key(
            "Optional, 1-128 characters of A-Z a-z 0-9 _ - : . — one per opening; "
            "a retry with the same key and body returns the first answer (with "
            "`Idempotent-Replayed: true`), opening and auditing nothing more"
        ),
    ] = None,
) -> EpisodeCreated:
    opened = await service.open_episode(ctx, officer, body, idempotency_key=idempotency_key)
    if opened.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return opened.created


@router.get(
    "/v1/monitoring",
    summary="The worklist of your area: who needs a call or a visit, most urgent first",
    response_model=Worklist,
    responses={
        **answered(200, "The worklist", "Cache-Control"),
        **responses(*_AUTH, ValidationFailed),
    },
)
async def worklist(
    ctx: ContextDep,
    officer: HealthOfficer,
    response: Response,
    status: Literal["active", "closed"] = "active",
    needs_attention: bool = False,
    province: Annotated[int | None, Query(ge=1, le=99)] = None,
    ward: Annotated[int | None, Query(ge=1, le=99_999)] = None,
    cursor: Annotated[str | None, Query(max_length=120, pattern=CURSOR)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Worklist:
    response.headers["Cache-Control"] = "no-store"
    page = await reading.worklist(
        ctx,
        officer,
        status=status,
        needs_attention=needs_attention,
        province=province,
        ward=ward,
        cursor=cursor,
        limit=limit,
    )
    return Worklist(items=page.items, next=page.next)


@router.get(
    "/v1/monitoring/{episode_id}/contact",
    summary="Whom to call or visit for one episode of your area: name, phone, street (audited)",
    response_model=ContactCard,
    responses={
        **answered(200, "The contact card", "Cache-Control"),
        **responses(*_AUTH, NotFound, contacts.ContactClosed),
    },
)
async def contact(
    episode_id: ResourceId, ctx: ContextDep, officer: HealthOfficer, response: Response
) -> ContactCard:
    response.headers["Cache-Control"] = "private, no-store"
    return await contacts.contact_card(ctx, officer, episode_id)


@router.post(
    "/v1/monitoring/{episode_id}/reports",
    status_code=201,
    summary="Report a day: the citizen for their own person, or an officer after a call or visit",
    response_model=ReportCreated,
    responses={
        **answered(201, "Stored", "Idempotent-Replayed"),
        **responses(
            *_AUTH,
            NotFound,
            ValidationFailed,
            EpisodeClosed,
            daily_reports.OfficersOnly,
            IdempotencyKeyReused,
        ),
    },
)
async def report(
    episode_id: ResourceId,
    body: ReportIn,
    ctx: ContextDep,
    caller: CitizenOrOfficer,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        optional_key(
            "Optional, the caller's own (another caller's same key is another "
            "key): a retry with the same key and body stores the report once and gets the "
            "first answer (with `Idempotent-Replayed: true`); another body is 409 "
            "`idempotency_key_reused`"
        ),
    ] = None,
) -> ReportCreated:
    reported = await daily_reports.add_report(
        ctx, caller, episode_id, body, idempotency_key=idempotency_key
    )
    if reported.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return reported.created


@router.post(
    "/v1/monitoring/{episode_id}/close",
    summary="Close an episode with its outcome",
    response_model=EpisodeView,
    responses={
        **answered(200, "Closed, or already closed with this outcome", "Idempotent-Replayed"),
        **responses(*_AUTH, NotFound, ValidationFailed, EpisodeClosed, IdempotencyKeyReused),
    },
)
async def close(
    episode_id: ResourceId,
    body: CloseIn,
    ctx: ContextDep,
    officer: HealthOfficer,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        optional_key(
            "Optional, the officer's own, per episode: a retry with the same key "
            "and body gets the first answer (with `Idempotent-Replayed: true`), closing and "
            "auditing nothing more; another body is 409 `idempotency_key_reused`"
        ),
    ] = None,
) -> EpisodeView:
    closed = await closing.close_episode(
        ctx, officer, episode_id, body, idempotency_key=idempotency_key
    )
    if closed.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return closed.episode


@router.get(
    "/v1/people/{person_id}/monitoring",
    summary="Your person's monitoring episodes, day N of M",
    response_model=CitizenEpisodes,
    responses=responses(*_AUTH, NotFound),
)
async def my_episodes(person_id: ResourceId, ctx: ContextDep, citizen: Citizen) -> CitizenEpisodes:
    return CitizenEpisodes(items=await reading.episodes_of_person(ctx, citizen, person_id))
