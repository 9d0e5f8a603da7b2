"""The Celery configuration, shared by the worker and by every process that publishes.

Each setting is here because a delivery guarantee depends on it:

* `task_acks_late` + `task_reject_on_worker_lost`: a message is acknowledged only after the
  task returned; if the pool process running it dies, the message goes back to the queue.
  A message that kills its process every time cannot loop forever: each run counts an
  attempt in the outbox, and past the cap the task marks the notification failed.
* `worker_prefetch_multiplier = 1`: a worker holds one unacknowledged message per pool
  process, so a crash strands at most that many until the relay takes them over.
* `visibility_timeout` (1 h): Redis hands an unacknowledged message to another worker after
  this long. It is far above the hard time limit (the lease, 60 s) and no task is ever
  published with a countdown (backoff is scheduled in the outbox, not in the broker), so a
  live task is never duplicated by Redis.
* No result backend: callers never wait for a result; the outbox holds the outcome.
* No Celery retries and no countdowns: a failed send is rescheduled in the outbox
  (`pending` with `next_attempt_at`), where it survives a Redis restart; Redis here may
  keep nothing on disk, and a countdown message held in a worker's memory is exactly what a
  crash or a restart loses.
* Publishing retries once, quickly, and Redis sockets time out in seconds (connect 2 s,
  read 10 s), so a publish ends in a few seconds at worst. Requests do not wait for it at
  all (see `CeleryDispatcher`); a failed publish leaves the notification in the outbox for
  the relay.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from core.settings import Settings
from notifications.config import VISIBILITY_TIMEOUT_SECONDS, DeliverySettings

DELIVER_TASK = "notifications.deliver"

# One quick retry covers a pooled connection that went stale when Redis restarted.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}


def celery_config(settings: Settings, delivery: DeliverySettings) -> dict[str, Any]:
    return {
        "broker_url": settings.redis_url,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 2.0,
        "broker_transport_options": {
            "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,
            "global_keyprefix": delivery.key_prefix,
            "socket_connect_timeout": 2,
            "socket_timeout": 10,
            "socket_keepalive": True,
        },
        "broker_pool_limit": 10,
        "task_default_queue": delivery.queue,
        "task_routes": {DELIVER_TASK: {"queue": delivery.queue}},
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # A task that raised or hit the time limit is acknowledged, not requeued: the outbox
        # still says queued or sending, and the relay hands it over again after the lease.
        "task_acks_on_failure": True,
        "task_acks_on_timeout": True,
        "task_time_limit": delivery.lease_seconds,
        "task_publish_retry": True,
        "task_publish_retry_policy": PUBLISH_RETRY_POLICY,
        "worker_prefetch_multiplier": 1,
        # A send under way when the broker connection drops is let finish: it records the
        # truth in the outbox, and the unacknowledged message, redelivered later, is a no-op.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "worker_send_task_events": False,
        "worker_hijack_root_logger": False,
        # Opening the store in a new pool process may take longer than the 4 s default.
        "worker_proc_alive_timeout": 30.0,
        "enable_utc": True,
    }


def make_celery(settings: Settings, delivery: DeliverySettings, *, main: str = "khaibao") -> Celery:
    app = Celery(main, set_as_current=False)
    app.conf.update(celery_config(settings, delivery))
    return app
