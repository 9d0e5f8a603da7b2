"""The Celery worker: `khaibao worker` or `celery -A runtime.worker worker`.

Pool: prefork. Each pool process is a separate process with its own store connection, its
own event loop and its own relay, opened after the fork (`worker_process_init`), never
inherited from the parent: SQLite connections, threads and event loops do not survive a
fork. Prefork also gives what the guarantees lean on: the parent notices a pool process
that died (killed, out of memory, hard time limit) and, with `task_reject_on_worker_lost`,
puts its message back at once; and the hard time limit can actually stop a stuck send. The
work is a short HTTP call, so a few processes per core are enough; `--concurrency` sets how
many.

Tasks are synchronous in Celery; the store and the provider are asyncio. Each process runs
one event loop in a thread of its own for its whole life, and a task submits its coroutine
to that loop and waits (`run_coroutine_threadsafe`). One loop per process means one store,
one HTTP client and one relay per process, created once and used by every task.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from celery import signals

# Imported in the parent, so pool processes inherit the loaded modules; what they open
# (store, event loop, HTTP client) they open themselves after the fork. Nothing here imports
# the web app: the worker builds its context from `runtime.context`, as the API does.
from certificates.refresh import REFRESH_TASK, refresh_trust
from core.clock import utcnow
from core.context import Context
from core.logging import configure_logging
from core.settings import get_settings
from monitoring.jobs import DAILY_JOBS_TASK, run_daily_jobs
from notifications.broker import DELIVER_TASK, make_celery
from notifications.config import DeliverySettings
from notifications.courier import Courier
from notifications.delivery import Relay, start_delivery
from runtime.context import build_context, close_context

log = logging.getLogger(__name__)
T = TypeVar("T")

OPEN_TIMEOUT_SECONDS = 60.0
CLOSE_TIMEOUT_SECONDS = 15.0

delivery_settings = DeliverySettings()
app = make_celery(get_settings(), delivery_settings)


class WorkerRuntime:
    """The event loop of one worker process, with the store, the courier and the relay."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._opened: Future[tuple[Context, Courier, Relay]] | None = None

    def start(self) -> None:
        with self._lock:
            if self._loop is not None:
                return
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="khaibao-loop", daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
            # Not waited for here: the pool process reports ready at once, and the first
            # task waits for the store instead.
            self._opened = asyncio.run_coroutine_threadsafe(self._open(), loop)

    @staticmethod
    async def _open() -> tuple[Context, Courier, Relay]:
        ctx = await build_context(get_settings())
        courier = Courier(ctx, delivery_settings)
        relay = await start_delivery(ctx)
        return ctx, courier, relay

    def deliver(self, notification_id: str) -> str:
        self.start()
        assert self._loop is not None
        assert self._opened is not None
        try:
            _, courier, _ = self._opened.result(timeout=OPEN_TIMEOUT_SECONDS)
        except Exception:
            self.stop()  # the next task opens again; the outbox keeps this notification
            raise
        future = asyncio.run_coroutine_threadsafe(courier.deliver(notification_id), self._loop)
        try:
            return future.result()
        except BaseException:  # a soft time limit or shutdown: stop the coroutine too
            future.cancel()
            raise

    def run(self, action: Callable[[Context], Coroutine[Any, Any, T]]) -> T:
        """Another domain's task: `action` on this process's loop, with its context."""
        self.start()
        assert self._loop is not None
        assert self._opened is not None
        ctx, _, _ = self._opened.result(timeout=OPEN_TIMEOUT_SECONDS)
        future = asyncio.run_coroutine_threadsafe(action(ctx), self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def stop(self) -> None:
        with self._lock:
            loop, thread, opened = self._loop, self._thread, self._opened
            self._loop = self._thread = self._opened = None
        if loop is None or thread is None:
            return
        if opened is not None and opened.done() and opened.exception() is None:
            ctx, courier, relay = opened.result()
            closing = asyncio.run_coroutine_threadsafe(_close(ctx, courier, relay), loop)
            try:
                closing.result(timeout=CLOSE_TIMEOUT_SECONDS)
            except Exception:
                log.exception("worker process did not close cleanly")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=CLOSE_TIMEOUT_SECONDS)
        if not thread.is_alive():
            loop.close()


async def _close(ctx: Context, courier: Courier, relay: Relay) -> None:
    await relay.stop()
    await courier.aclose()
    await close_context(ctx)


runtime = WorkerRuntime()


def _deliver(notification_id: str) -> str:
    """The one task: it takes a notification id, never its content, so the message in Redis
    holds nothing personal and the outbox document is read fresh on every run."""
    return runtime.deliver(notification_id)


# Retries are not Celery's: the courier schedules them in the outbox (see broker.py).
deliver = app.task(name=DELIVER_TASK, ignore_result=True)(_deliver)


async def _refreshed_version(ctx: Context) -> int:
    return (await refresh_trust(ctx)).version


def _refresh_trust() -> int:
    """Refresh the certificates trust list from the configured URLs. It takes nothing: what
    to fetch is the worker's own configuration (`KHAIBAO_TRUST_REFRESH_URLS`)."""
    return runtime.run(_refreshed_version)


refresh_trust_task = app.task(name=REFRESH_TASK, ignore_result=True)(_refresh_trust)


async def _daily_jobs(ctx: Context) -> int:
    done = await run_daily_jobs(ctx, utcnow())
    return done.closed + done.marked + done.reminded


def _run_daily_jobs() -> int:
    """Monitoring's daily jobs, sent by the scheduler. Idempotent: a message delivered twice
    (or two schedulers) does each thing once."""
    return runtime.run(_daily_jobs)


daily_jobs_task = app.task(name=DAILY_JOBS_TASK, ignore_result=True)(_run_daily_jobs)


def beat_schedule() -> dict[str, dict[str, Any]]:
    """What `khaibao scheduler` sends, and how often."""
    settings = get_settings()
    schedule: dict[str, dict[str, Any]] = {
        "monitoring-daily-jobs": {
            "task": DAILY_JOBS_TASK,
            "schedule": float(settings.scheduler_tick_seconds),
            "options": {"queue": delivery_settings.queue},
        }
    }
    if settings.trust_refresh_urls:
        schedule["trust-refresh"] = {
            "task": REFRESH_TASK,
            "schedule": float(settings.trust_refresh_minutes * 60),
            "options": {"queue": delivery_settings.queue},
        }
    return schedule


def run_scheduler() -> int:
    """Celery beat: one process that sends the scheduled tasks to the workers. It keeps its
    schedule in memory: after a restart each task is due at once, which is safe because
    every scheduled task is idempotent and reads what is still to do from the database."""
    settings = get_settings()
    if not settings.redis_url:
        print(
            "error: the scheduler needs KHAIBAO_REDIS_URL; without it each API process runs "
            "the scheduled jobs itself",
            file=sys.stderr,
        )
        return 2
    app.conf.beat_schedule = beat_schedule()
    beat = app.Beat(scheduler="celery.beat:Scheduler", loglevel=settings.log_level)
    beat.run()
    return 0


def _logging(**_: Any) -> None:
    configure_logging(get_settings().log_level)


def _open_pool_process(**_: Any) -> None:
    runtime.start()


def _close_pool_process(**_: Any) -> None:
    runtime.stop()


def _close_worker(**_: Any) -> None:
    runtime.stop()  # the solo pool runs tasks in the main process; prefork: nothing open


signals.setup_logging.connect(_logging)
signals.worker_process_init.connect(_open_pool_process)
signals.worker_process_shutdown.connect(_close_pool_process)
signals.worker_shutdown.connect(_close_worker)


def run_worker(*, concurrency: int) -> int:
    settings = get_settings()
    if not settings.redis_url:
        print(
            "error: the worker needs KHAIBAO_REDIS_URL; without it the API delivers "
            "notifications itself",
            file=sys.stderr,
        )
        return 2
    argv = [
        "worker",
        "--pool=prefork",
        f"--concurrency={concurrency}",
        f"--queues={delivery_settings.queue}",
        f"--hostname=khaibao-{os.getpid()}@%h",
        f"--loglevel={settings.log_level}",
        # Workers need not know each other: the outbox, not the broker, is the state.
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    code = app.start(argv=argv)
    return int(code or 0)
