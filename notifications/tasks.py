"""Celery tasks. They take a notification id, never its content: the message in Redis
holds nothing personal, and the outbox document is read fresh on every run."""

from __future__ import annotations

from notifications.broker import DELIVER_TASK
from notifications.celery_app import app, runtime


def _deliver(notification_id: str) -> str:
    return runtime.deliver(notification_id)


# Retries are not Celery's: the courier schedules them in the outbox (see broker.py).
deliver = app.task(name=DELIVER_TASK, ignore_result=True)(_deliver)
