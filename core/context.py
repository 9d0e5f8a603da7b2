"""What a request or a job needs, built once per process in the app's lifespan."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from redis.asyncio import Redis

from core.crypto import FieldCipher
from core.errors import Unauthenticated
from core.principals import Principal
from core.ratelimit import RateLimiter
from core.settings import Settings
from core.storage import Operation, Store, Update


class Dispatcher(Protocol):
    """Hands notifications, already durable in the outbox, to whoever delivers them."""

    async def dispatch(self, notification_ids: Sequence[str]) -> None: ...


class _NoDispatch:
    async def dispatch(self, notification_ids: Sequence[str]) -> None:
        return None


class CounterFolding(Protocol):
    """Folds the counter steps that writes left pending into the report counters
    (`reports.folding`). `kick` asks for a fold soon: the store calls it after each
    committed batch that left some (the runtime registers it), never a writer."""

    def steps(self, steps: Iterable[Update], *, now: datetime) -> list[Operation]: ...

    def kick(self) -> None: ...

    async def aclose(self) -> None: ...


class _NoFolding:
    """Without the runtime's folding, steps wait for a reader or another process to fold."""

    def steps(self, steps: Iterable[Update], *, now: datetime) -> list[Operation]:
        raise RuntimeError("no counter folding here: build the context with build_context")

    def kick(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class SessionCheck(Protocol):
    """Whether a signed-in staff caller's account still stands as its token says (not
    disabled, same token version): raises Unauthenticated if not. The runtime hangs the
    accounts domain's check here, so the web kit needs no domain to ask it."""

    async def __call__(self, ctx: Context, principal: Principal, /) -> None: ...


async def _no_staff_sessions(ctx: Context, principal: Principal, /) -> None:
    """Fail closed: a context nobody gave a session check admits no staff token."""
    if principal.role != "citizen":
        raise Unauthenticated()


T = TypeVar("T")


class Caches:
    """What a process remembers between requests, one object per kind (the QR key ring, the
    checkpoints known to exist), created on first use. It hangs off the context, so a new
    context starts with nothing cached and no test has to know which cache to clear."""

    def __init__(self) -> None:
        self._by_kind: dict[type[Any], Any] = {}

    def of(self, kind: type[T]) -> T:
        """The cache of this kind; `kind()` makes an empty one."""
        found: T | None = self._by_kind.get(kind)
        if found is None:
            found = self._by_kind[kind] = kind()
        return found

    def forget(self, kind: type[Any]) -> None:
        self._by_kind.pop(kind, None)


@dataclass
class Context:
    settings: Settings
    store: Store
    cipher: FieldCipher
    limiter: RateLimiter
    redis: Redis | None = None
    dispatcher: Dispatcher = field(default_factory=_NoDispatch)
    counters: CounterFolding = field(default_factory=_NoFolding)
    caches: Caches = field(default_factory=Caches)
    sessions: SessionCheck = _no_staff_sessions


class ContextRunner(Protocol):
    """Runs one operator action with a context opened for it, then closes it (the CLI's
    `runtime.context.run_with_context`, handed to each domain's `register`)."""

    def __call__(self, action: Callable[[Context], Awaitable[T]]) -> T: ...
