"""How notifications in the outbox reach people.

The path of one notification: the request writes it (state `pending`) with the state
change, commits, then calls `dispatch`. The dispatcher moves it to `queued` and hands it
over: to Celery through Redis when `KHAIBAO_REDIS_URL` is set, otherwise to an asyncio task
in this process. Whoever runs it calls `Courier.deliver`, which claims it (`sending`),
calls the provider and records the outcome.

Nothing here may fail the request that wrote the notification: if the broker is down, the
notification stays `pending`. The relay, a loop in every API process and every worker
process, hands over again whatever is due: pending ones (new, or waiting out a backoff) and
queued or sending ones whose lease ran out (a lost message, a killed worker). Its claims are
compare-and-set, so several processes relaying at once do not hand over one notification
twice; if they ever do, the second run finds it claimed and does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from celery import Celery

from core.background import stop_if_cancelled
from core.clock import utcnow
from core.context import Context
from core.logging import log_event
from notifications import repository
from notifications.broker import DELIVER_TASK, make_celery
from notifications.config import DeliverySettings
from notifications.courier import Courier
from notifications.providers import make_provider

log = logging.getLogger(__name__)

RELAY_BATCH = 200
PUBLISH_TIMEOUT_SECONDS = 5.0
# After a failed publish, requests stop trying the broker for this long; the relay probes.
BROKER_PAUSE_SECONDS = 2.0


class OutboxDispatcher:
    """What `ctx.dispatcher` is: claims notifications and hands them to whoever delivers."""

    def __init__(self, ctx: Context, delivery: DeliverySettings) -> None:
        self.ctx = ctx
        self.delivery = delivery

    async def dispatch(self, notification_ids: Sequence[str]) -> None:
        """Called after the write that created them is durable. Never raises: whatever it
        could not hand over stays in the outbox for the relay."""
        if not notification_ids or not self.ready():
            return
        try:
            now = utcnow()
            until = repository.later(now, self.delivery.requeue_seconds)
            claimed = await repository.claim_for_dispatch(
                self.ctx.store, notification_ids, now=now, until=until
            )
            if claimed:
                await self.hand_over_claimed(claimed, until)
        except Exception:
            log.exception(
                "dispatch failed; the relay will send",
                extra={"fields": {"count": len(notification_ids)}},
            )

    async def hand_over_claimed(self, ids: Sequence[str], until: datetime) -> None:
        """The request's part of `dispatch` after the claim."""
        await self.hand_over_or_release(ids, until)

    async def hand_over_or_release(self, ids: Sequence[str], until: datetime) -> bool:
        """Whether they were handed over; if not, they are back in the outbox, pending."""
        if ids and not await self.hand_over(ids):
            await repository.release(self.ctx.store, ids, claimed_until=until, now=utcnow())
            return False
        return True

    def ready(self) -> bool:
        """Whether a hand-over is worth trying now."""
        return True

    def capacity(self) -> int:
        """How many more notifications the relay may hand over now."""
        return RELAY_BATCH

    async def hand_over(self, ids: Sequence[str]) -> bool:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


class CeleryDispatcher(OutboxDispatcher):
    """Publishes one small message per notification: its id, nothing personal."""

    def __init__(self, ctx: Context, delivery: DeliverySettings) -> None:
        super().__init__(ctx, delivery)
        self._celery: Celery | None = None
        # Kombu publishes synchronously: one thread keeps that off the event loop, and a
        # broker that hangs holds up only this thread, not the requests.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="celery-publish")
        self._paused_until = 0.0
        self._publishing: set[asyncio.Task[None]] = set()

    def _app(self) -> Celery:
        if self._celery is None:
            self._celery = make_celery(self.ctx.settings, self.delivery, main="khaibao-publisher")
        return self._celery

    def ready(self) -> bool:
        return time.monotonic() >= self._paused_until

    def capacity(self) -> int:
        # After a failed publish the relay probes with one notification, not a full batch.
        return 1 if self._paused_until else RELAY_BATCH

    async def hand_over_claimed(self, ids: Sequence[str], until: datetime) -> None:
        # The request does not wait for the broker: its answer depends on the write alone.
        # Should this process die before publishing, the relay publishes once `until` passes.
        task = asyncio.create_task(self._publish_in_background(ids, until))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _publish_in_background(self, ids: Sequence[str], until: datetime) -> None:
        try:
            await self.hand_over_or_release(ids, until)
        except Exception:
            log.exception("releasing unpublished notifications failed; the relay will send")

    def _publish(self, ids: Sequence[str]) -> None:
        app = self._app()
        with app.producer_or_acquire() as producer:
            for notification_id in ids:
                app.send_task(DELIVER_TASK, args=(notification_id,), producer=producer)

    async def hand_over(self, ids: Sequence[str]) -> bool:
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(
                loop.run_in_executor(self._executor, self._publish, list(ids)),
                PUBLISH_TIMEOUT_SECONDS,
            )
        except Exception as exc:
            self._paused_until = time.monotonic() + BROKER_PAUSE_SECONDS
            log.warning(
                "broker unavailable; notifications wait in the outbox",
                extra={"fields": {"count": len(ids), "error": type(exc).__name__}},
            )
            return False
        if self._paused_until:
            self._paused_until = 0.0
            log.info("broker reachable again")
        return True

    async def aclose(self) -> None:
        if self._publishing:
            await asyncio.wait(set(self._publishing), timeout=PUBLISH_TIMEOUT_SECONDS + 1)
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown)
        if self._celery is not None:
            self._celery.close()


class InProcessDispatcher(OutboxDispatcher):
    """No broker configured: this process delivers, in asyncio tasks, with the same
    `Courier` a worker uses. The embedded default (SQLite, no Redis) needs nothing else."""

    def __init__(self, ctx: Context, delivery: DeliverySettings) -> None:
        super().__init__(ctx, delivery)
        self.courier = Courier(ctx, delivery)
        self._running: set[asyncio.Task[str]] = set()
        self._slots = asyncio.Semaphore(delivery.in_process_concurrency)

    def capacity(self) -> int:
        return max(
            0, min(RELAY_BATCH, 4 * self.delivery.in_process_concurrency - len(self._running))
        )

    async def _run(self, notification_id: str) -> str:
        async with self._slots:
            try:
                return await self.courier.deliver(notification_id)
            except Exception:  # the lease runs out and the relay tries again
                log.exception(
                    "delivery failed", extra={"fields": {"notification_id": notification_id}}
                )
                return "error"

    async def hand_over(self, ids: Sequence[str]) -> bool:
        for notification_id in ids:
            task = asyncio.create_task(self._run(notification_id))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        return True

    async def drain(self, grace: float) -> None:
        """Let sends under way finish (tests, shutdown); cancel what is left."""
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)

    async def aclose(self) -> None:
        await self.drain(self.delivery.webhook_timeout_seconds + 1)
        await self.courier.aclose()


def make_dispatcher(ctx: Context) -> OutboxDispatcher:
    delivery = DeliverySettings()
    if ctx.settings.redis_url:
        make_provider(ctx.settings, delivery)  # a misconfigured provider stops every process
        return CeleryDispatcher(ctx, delivery)
    return InProcessDispatcher(ctx, delivery)


async def relay_once(dispatcher: OutboxDispatcher) -> int:
    """Hand over what is due; returns how many were handed over. Used by the loop and by
    tests."""
    limit = dispatcher.capacity()
    if limit <= 0 or not dispatcher.ready():
        return 0
    store = dispatcher.ctx.store
    now = utcnow()
    documents = await repository.due(store, now=now, limit=limit)
    if not documents:
        return 0
    until = repository.later(now, dispatcher.delivery.requeue_seconds)
    claimed = await repository.claim_for_relay(store, documents, now=now, until=until)
    if not claimed:
        return 0
    if not await dispatcher.hand_over_or_release(claimed, until):
        # The dispatcher said why ("broker unavailable…"); they wait in the outbox.
        log_event(log, "relay put notifications back in the outbox", count=len(claimed))
        return 0
    log_event(log, "relay handed over notifications", count=len(claimed))
    return len(claimed)


class Relay:
    """The relay loop of one process, started with the process and stopped with it."""

    def __init__(self, dispatcher: OutboxDispatcher) -> None:
        self.dispatcher = dispatcher
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._forever(), name="notification-relay")

    async def _forever(self) -> None:
        period = self.dispatcher.delivery.relay_seconds
        # Jitter keeps the relays of processes started together from polling in step.
        await asyncio.sleep(period * random.uniform(0.1, 1.0))
        while True:
            handed = 0
            try:
                handed = await relay_once(self.dispatcher)
            except Exception:
                stop_if_cancelled()
                log.exception("relay round failed; will retry")
            stop_if_cancelled()
            if handed < RELAY_BATCH:  # a full batch means a backlog: go again at once
                await asyncio.sleep(period * random.uniform(0.8, 1.2))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.dispatcher.aclose()


async def start_delivery(ctx: Context) -> Relay:
    """For the process lifespan: the relay loop; `stop()` also closes the dispatcher."""
    dispatcher = ctx.dispatcher
    if not isinstance(dispatcher, OutboxDispatcher):
        raise TypeError("ctx.dispatcher is not an outbox dispatcher")
    relay = Relay(dispatcher)
    relay.start()
    return relay
