"""Delivering one notification: claim it, render it, send it, record what happened.

The same code runs in a Celery worker and, without Redis, in the API process. It is safe
to run twice for one notification, in one process or two, at the same time: the claim is a
compare-and-set, so one run sends and the other finds it taken and does nothing.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag

from core.clock import utcnow
from core.context import Context
from notifications import repository
from notifications.config import DeliverySettings
from notifications.outbox import PARAMS_CONTEXT, RECIPIENT_CONTEXT
from notifications.providers import Message, Provider, SendResult, make_provider
from notifications.render import UnrenderableNotification, render

log = logging.getLogger(__name__)


def backoff_seconds(attempt: int, delivery: DeliverySettings) -> float:
    """Exponential, capped, with jitter (half to full), so retries from one outage spread."""
    ceiling = min(delivery.backoff_max_seconds, delivery.backoff_seconds * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def _claimable(document: dict[str, Any], now: datetime) -> bool:
    state = document["state"]
    if state == "queued":
        return True
    if state == "pending":
        return bool(document["next_attempt_at"] <= now)
    if state == "sending":  # its process died mid-send: take over once the lease is over
        until = document.get("claimed_until")
        return until is not None and until <= now
    return False


class Courier:
    """Delivers one notification by id. Safe to run twice, or in two processes, at once."""

    def __init__(self, ctx: Context, delivery: DeliverySettings) -> None:
        self._ctx = ctx
        self._delivery = delivery
        self._provider: Provider = make_provider(ctx.settings, delivery)

    async def aclose(self) -> None:
        await self._provider.aclose()

    def _message(self, document: dict[str, Any], now: datetime) -> Message:
        cipher = self._ctx.cipher
        params = orjson.loads(cipher.decrypt(document["params_enc"], context=PARAMS_CONTEXT))
        if document["kind"] == "otp":
            minutes = params.get("minutes")
            if isinstance(minutes, int) and (now - document["created_at"]).total_seconds() > (
                60 * minutes
            ):
                # A code that can no longer be used is not worth an SMS.
                raise UnrenderableNotification("code expired before delivery")
        return Message(
            id=str(document["_id"]),
            kind=str(document["kind"]),
            to=cipher.decrypt(document["to_enc"], context=RECIPIENT_CONTEXT),
            text=render(document["kind"], document["locale"], params),
            locale=str(document["locale"]),
        )

    async def _send(self, document: dict[str, Any], now: datetime) -> SendResult:
        try:
            message = self._message(document, now)
        except (UnrenderableNotification, InvalidTag, ValueError, KeyError) as exc:
            # Not retried: the same document cannot render better next time.
            error = str(exc) if isinstance(exc, UnrenderableNotification) else "unreadable"
            return SendResult(ok=False, retry=False, error=error)
        try:
            return await self._provider.send(message)
        except Exception as exc:
            log.exception("provider raised", extra={"fields": {"notification_id": document["_id"]}})
            return SendResult(ok=False, retry=True, error=f"provider error: {type(exc).__name__}")

    async def deliver(self, notification_id: str) -> str:
        """Returns what happened, for logs: delivered, retry, failed or skipped."""
        store = self._ctx.store
        document = await repository.get(store, notification_id)
        now = utcnow()
        if document is None or not _claimable(document, now):
            return "skipped"  # delivered, failed, not yet due, or another process has it
        version = int(document["version"])
        attempt = int(document["attempts"]) + 1
        max_attempts = 1 + self._ctx.settings.notify_max_retries
        if attempt > max_attempts:  # earlier attempts died with their process
            error = f"gave up after {max_attempts} attempts"
            await repository.mark_failed(
                store, notification_id, version=version, now=now, error=error
            )
            return self._log(notification_id, document, "failed", attempt - 1, error)
        # Claimed (and the attempt counted) before anything that may raise: a notification
        # whose delivery raises every time still runs out of attempts and ends `failed`,
        # instead of going back to the broker forever with none counted.
        until = repository.later(now, self._delivery.lease_seconds)
        if not await repository.claim_for_sending(store, document, now=now, until=until):
            return "skipped"
        version += 1
        try:
            result = await self._send(document, now)
        except Exception as exc:  # a bug must not leave it `sending` until the lease
            log.exception("delivery raised", extra={"fields": {"notification_id": notification_id}})
            result = SendResult(ok=False, retry=True, error=f"delivery error: {type(exc).__name__}")
        now = utcnow()
        error = result.error or "failed"
        if result.ok:
            outcome = "delivered"
            recorded = await repository.mark_delivered(
                store, notification_id, version=version, now=now
            )
        elif result.retry and attempt < max_attempts:
            outcome = "retry"
            at = repository.later(now, backoff_seconds(attempt, self._delivery))
            recorded = await repository.schedule_retry(
                store, notification_id, version=version, now=now, at=at, error=error
            )
        else:
            outcome = "failed"
            recorded = await repository.mark_failed(
                store, notification_id, version=version, now=now, error=error
            )
        if not recorded:  # the lease ran out mid-send and another process took over
            log.warning(
                "notification outcome not recorded",
                extra={"fields": {"notification_id": notification_id, "outcome": outcome}},
            )
        return self._log(notification_id, document, outcome, attempt, None if result.ok else error)

    def _log(
        self,
        notification_id: str,
        document: dict[str, Any],
        outcome: str,
        attempts: int,
        error: str | None,
    ) -> str:
        level = logging.WARNING if outcome == "failed" else logging.INFO
        fields = {
            "notification_id": notification_id,
            "kind": document["kind"],
            "outcome": outcome,
            "attempts": attempts,
            "provider": self._provider.name,
            "error": error,
        }
        log.log(level, "notification " + outcome, extra={"fields": fields})
        return outcome
