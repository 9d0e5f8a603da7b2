"""Opening and closing what a process needs: the API, the worker and every CLI command."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio import Redis

from accounts.sessions import ensure_current
from core.context import Context
from core.crypto import FieldCipher
from core.ratelimit import RateLimiter, make_counter
from core.settings import Settings, get_settings
from core.storage.factory import check_database_directory, open_store
from notifications.delivery import make_dispatcher
from reports.counters import InlineCounting
from reports.folding import PENDING_STEPS, Folding, fold_pending
from runtime.collections import COLLECTIONS

T = TypeVar("T")


async def build_context(settings: Settings) -> Context:
    """Open what a process needs. Shared by the API, the worker and the CLI."""
    check_database_directory(settings)
    store = open_store(settings)
    await store.start(COLLECTIONS)
    redis = Redis.from_url(settings.redis_url, socket_timeout=2) if settings.redis_url else None
    cipher = FieldCipher(
        settings.data_key.get_secret_value(), settings.secret_key.get_secret_value()
    )
    ctx = Context(
        settings=settings,
        store=store,
        cipher=cipher,
        limiter=RateLimiter(
            make_counter(store, redis, None if settings.is_mongodb else settings.sqlite_path)
        ),
        redis=redis,
    )
    ctx.dispatcher = make_dispatcher(ctx)
    # Every process with a context folds the counter steps (API, worker): its own soon after
    # each write, and every KHAIBAO_COUNTER_FOLD_SECONDS what any process left pending. On
    # SQLite, which commits one transaction at a time, the steps go inline instead.
    counting: InlineCounting | Folding
    if store.serialises_writes:
        counting = InlineCounting(leftover=lambda: fold_pending(store))
    else:
        counting = Folding(store, every=settings.counter_fold_seconds)
    counting.start()
    ctx.counters = counting
    # "Soon after each write": the store asks for the fold once a batch that left steps
    # pending has committed, so no writer has to remember to, however its batch was put
    # together. Inserted, not any write: a fold's own batch updates the records it folds and
    # must not ask for another. Through the context, which a test may give other folding.
    store.after_insert(PENDING_STEPS, lambda: ctx.counters.kick())
    ctx.sessions = ensure_current
    return ctx


async def close_context(ctx: Context) -> None:
    await ctx.counters.aclose()
    if ctx.redis is not None:
        await ctx.redis.aclose()
    ctx.limiter.close()
    await ctx.store.close()


def run_with_context(action: Callable[[Context], Awaitable[T]]) -> T:
    """Run one operator action with a full context (store, cipher, Redis), then close it."""

    async def main() -> T:
        ctx = await build_context(get_settings())
        try:
            return await action(ctx)
        finally:
            await close_context(ctx)

    return asyncio.run(main())
