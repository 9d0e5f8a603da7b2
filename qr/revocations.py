"""Revoking a person's live QR tokens when their status worsens, and the public list of
revoked token ids that checkpoint apps download to work offline.

The database is the source of truth. The online scan reads the token record by its jti
(one primary-key read that also says whose the token is), so a revocation counts
everywhere the moment its batch commits; offline scanners learn it at their next sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.storage import Operation, Store
from qr import repository

PAGE_SIZE = 5000
# `until` lags "now" by this much, so a revocation whose batch commits a moment after its
# timestamp is still inside the next sync's window (repeats are harmless: it is a set).
SETTLE = timedelta(seconds=10)


async def revoke_live_tokens(
    store: Store, person_id: str, *, reason: str, now: datetime
) -> list[Operation]:
    """The operations that revoke every unexpired token issued to `person_id`; the caller
    puts them in the same atomic batch as the status change. Safe to include twice."""
    ops: list[Operation] = []
    for document in await repository.live_tokens(store, person_id, now=now):
        ops.extend(repository.revoke_token(document, reason=reason, now=now))
    return ops


@dataclass(frozen=True)
class RevokedPage:
    revoked: list[tuple[str, datetime]]
    until: datetime
    more: bool


async def revoked_since(store: Store, since: datetime | None, *, now: datetime) -> RevokedPage:
    """Revoked jtis with `revoked_at >= since`, oldest first. Pass `until` back as the next
    `since`; when `more` is true, ask again at once."""
    found = await repository.revoked_since(store, since, limit=PAGE_SIZE + 1)
    page = [(str(doc["_id"]), doc["revoked_at"]) for doc in found[:PAGE_SIZE]]
    if len(found) > PAGE_SIZE:
        return RevokedPage(page, until=page[-1][1], more=True)
    until = now - SETTLE
    if since is not None:
        until = max(until, since)
    return RevokedPage(page, until=until, more=False)
