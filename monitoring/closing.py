"""An officer's close of an episode, safe to send again on a flaky line.

With an Idempotency-Key, a retry gets the first answer (`core.idempotency`). Without
one, a close whose outcome the episode already has (the first request's answer was lost, a
second tap, a colleague who closed it the same way) answers the episode as it stands and
writes nothing, as a second `DELETE` answers 204: only another outcome for a closed episode
is `409 episode_closed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.clock import local_day, utcnow
from core.context import Context
from core.errors import Overloaded
from core.idempotency import IDEMPOTENCY, Retry, first_answer, keep_answer, retry_of
from core.principals import Principal
from core.storage import Document, DuplicateKey, Operation, PreconditionFailed
from monitoring.episodes import CLOSED_OTHERWISE, EpisodeClosed, episode_for, view, viewed
from monitoring.schemas import CloseIn, EpisodeView
from monitoring.service import closing_fields, ending

ROUTE = "monitoring_close"
# Closes tried while reports keep changing the episode, before the officer is asked to retry.
ATTEMPTS = 3


@dataclass(frozen=True)
class Closed:
    """The answer to `POST /v1/monitoring/{id}/close`, and whether it is the first answer
    to an earlier request with the same Idempotency-Key, sent again."""

    episode: EpisodeView
    replayed: bool


async def close_episode(
    ctx: Context,
    officer: Principal,
    episode_id: str,
    body: CloseIn,
    *,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Closed:
    now = now or utcnow()
    # Before the replay, so a retry tells no more than a first request would: another
    # area's episode, or an erased person's, is 404.
    episode = await episode_for(ctx, officer, episode_id)
    retry = retry_of(ctx, ROUTE, officer, idempotency_key, body, target=episode_id)
    first = await first_answer(ctx, retry, EpisodeView)
    if first is not None:
        return Closed(first, replayed=True)
    for _ in range(ATTEMPTS):
        if episode["status"] != "active":
            break
        closing = closing_fields(ctx, body.outcome, now)
        closed = view({**episode, **closing}, local_day(now))
        ops: list[Operation] = [
            *ending(ctx, episode, closing, now),
            viewed(officer, "monitoring_close", episode, now),
        ]
        if retry is not None:
            # It names the person, so their erasure deletes it with their other kept answers.
            person_id = episode.get("person_id")
            ops.insert(
                0, keep_answer(retry, ROUTE, closed, now=now, person_id=person_id, status_code=200)
            )
        try:
            await ctx.store.write(ops)
        except DuplicateKey as clash:
            if retry is None or clash.collection != IDEMPOTENCY.name:
                raise
            return await _lost_race(ctx, officer, episode_id, body, retry, now)
        except PreconditionFailed:
            # No longer as read: closed meanwhile (by this very request sent twice at once,
            # by someone else, by the job), erased with its person (404), or flagged or
            # cleared by a report, which leaves it active to close as it now is.
            first = await first_answer(ctx, retry, EpisodeView)
            if first is not None:
                return Closed(first, replayed=True)
            episode = await episode_for(ctx, officer, episode_id)
            continue
        return Closed(closed, replayed=False)
    if episode["status"] == "active":
        raise Overloaded()  # reports kept changing it: the officer tries again shortly
    return _as_it_stands(episode, body, now)


def _as_it_stands(episode: Document, body: CloseIn, now: datetime) -> Closed:
    """A closed episode as it is, when it has the outcome asked for; else 409."""
    if episode.get("outcome") != body.outcome:
        raise EpisodeClosed(CLOSED_OTHERWISE)
    return Closed(view(episode, local_day(now)), replayed=False)


async def _lost_race(
    ctx: Context,
    officer: Principal,
    episode_id: str,
    body: CloseIn,
    retry: Retry | None,
    now: datetime,
) -> Closed:
    first = await first_answer(ctx, retry, EpisodeView)
    if first is not None:
        return Closed(first, replayed=True)
    return _as_it_stands(await episode_for(ctx, officer, episode_id), body, now)
