"""Delivery tuning, read from `KHAIBAO_NOTIFY_*` next to the core settings.

The core `Settings` carries what operators must set (provider, webhook URL and secret,
`KHAIBAO_NOTIFY_MAX_RETRIES`, `KHAIBAO_REDIS_URL`); these are the timings behind the
delivery guarantees, with defaults that hold together:

* a send never outlives its lease: the webhook timeout (5 s) is far below the lease (60 s),
  and the Celery hard time limit equals the lease, so a claimed notification is finished or
  its process killed before another process may take it over;
* the Redis visibility timeout (1 h) is longer than the lease and than any backoff (capped
  at 5 min), so Redis never hands a message to a second worker while the first still works;
* a message that sat in the broker for `requeue_seconds` without being picked up is assumed
  lost (Redis restarted without persistence) and published again; duplicates are no-ops.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

VISIBILITY_TIMEOUT_SECONDS = 3600


class DeliverySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KHAIBAO_NOTIFY_", extra="ignore")

    # Every Redis key Celery uses starts with "<namespace>:", so several deployments (or
    # test runs) can share one Redis without seeing each other's queues.
    namespace: str = Field(default="khaibao", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    queue: str = Field(default="notifications", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    relay_seconds: float = Field(default=5.0, gt=0, le=300)
    lease_seconds: float = Field(default=60.0, gt=0, le=VISIBILITY_TIMEOUT_SECONDS / 2)
    requeue_seconds: float = Field(default=60.0, gt=0, le=VISIBILITY_TIMEOUT_SECONDS)
    backoff_seconds: float = Field(default=2.0, gt=0)
    backoff_max_seconds: float = Field(default=300.0, gt=0, le=VISIBILITY_TIMEOUT_SECONDS / 2)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # How many sends one API process runs at once when there is no Celery worker.
    in_process_concurrency: int = Field(default=8, ge=1, le=256)

    @model_validator(mode="after")
    def _lease_covers_a_send(self) -> Self:
        if self.lease_seconds <= self.webhook_timeout_seconds + 1:
            raise ValueError(
                "KHAIBAO_NOTIFY_LEASE_SECONDS must exceed KHAIBAO_NOTIFY_WEBHOOK_TIMEOUT_SECONDS"
                " by more than a second, or a slow send could be taken over while it runs"
            )
        return self

    @property
    def key_prefix(self) -> str:
        return f"{self.namespace}:"
