"""What a request or a job needs, built once per process in the app's lifespan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio import Redis

from core.crypto import FieldCipher
from core.ratelimit import RateLimiter
from core.settings import Settings
from core.storage import Store


class Dispatcher(Protocol):
    """Hands notifications, already durable in the outbox, to whoever delivers them."""

    async def dispatch(self, notification_ids: Sequence[str]) -> None: ...


class _NoDispatch:
    async def dispatch(self, notification_ids: Sequence[str]) -> None:
        return None


@dataclass
class Context:
    settings: Settings
    store: Store
    cipher: FieldCipher
    limiter: RateLimiter
    redis: Redis | None = None
    dispatcher: Dispatcher = field(default_factory=_NoDispatch)
