"""The outbox's claims: each notification is sent by one process at a time, handed over
once by competing relays, taken over when its sender dies, and retried with a capped,
jittered backoff."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from core.clock import utcnow
from core.context import Context
from core.storage import Update
from notifications import repository
from notifications.config import DeliverySettings
from notifications.courier import Courier, backoff_seconds
from notifications.delivery import CeleryDispatcher, InProcessDispatcher, relay_once
from notifications.outbox import new_notification
from tests.notifications.conftest import Running, eventually, running_app, webhook_settings
from tests.notifications.gateway import FakeSmsGateway

PHONE = "+84912345670"

pytestmark = pytest.mark.usefixtures("namespace")


@pytest.fixture
async def running(
    database_url: str, gateway: FakeSmsGateway, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Running]:
    """The app with its own relay idle, so each test decides who relays and delivers."""
    monkeypatch.setenv("KHAIBAO_NOTIFY_RELAY_SECONDS", "300")
    async with running_app(database_url, **webhook_settings(gateway)) as app:
        yield app


async def _write(ctx: Context, n: int = 1) -> list[str]:
    ids = []
    for _ in range(n):
        notification_id, insert = new_notification(
            ctx.cipher,
            kind="otp",
            phone=PHONE,
            locale="en",
            params={"code": "123456", "minutes": 5},
        )
        await ctx.store.write([insert])
        ids.append(notification_id)
    return ids


class TestOneSenderAtATime:
    async def test_two_workers_delivering_the_same_notification_at_once_send_it_once(
        self, running: Running, gateway: FakeSmsGateway
    ) -> None:
        ctx = running.ctx
        [notification_id] = await _write(ctx)
        couriers = [Courier(ctx, DeliverySettings()) for _ in range(2)]
        outcomes = await asyncio.gather(*(c.deliver(notification_id) for c in couriers))
        for courier in couriers:
            await courier.aclose()

        assert sorted(outcomes) == ["delivered", "skipped"]
        assert gateway.requests_for(notification_id) == 1

    async def test_a_repeated_message_for_a_delivered_notification_does_nothing(
        self, running: Running, gateway: FakeSmsGateway
    ) -> None:
        ctx = running.ctx
        [notification_id] = await _write(ctx)
        courier = Courier(ctx, DeliverySettings())
        assert await courier.deliver(notification_id) == "delivered"
        assert await courier.deliver(notification_id) == "skipped"
        await courier.aclose()

        assert gateway.requests_for(notification_id) == 1


class TestRelay:
    async def test_relays_of_two_processes_claim_each_due_notification_once(
        self, running: Running
    ) -> None:
        ctx = running.ctx
        ids = await _write(ctx, 5)
        now = utcnow()
        seen_by_each = [await repository.due(ctx.store, now=now, limit=50) for _ in range(2)]
        until = repository.later(now, 30)
        claims = await asyncio.gather(
            *(
                repository.claim_for_relay(ctx.store, seen, now=now, until=until)
                for seen in seen_by_each
            )
        )

        assert sorted(claims[0] + claims[1]) == sorted(ids)

    async def test_a_send_whose_process_died_is_taken_over_when_its_lease_ends(
        self, running: Running, gateway: FakeSmsGateway
    ) -> None:
        ctx = running.ctx
        [notification_id] = await _write(ctx)
        lease_ended = utcnow() - timedelta(seconds=1)
        await ctx.store.write(
            [
                Update(
                    "notifications",
                    notification_id,
                    set={"state": "sending", "claimed_until": lease_ended},
                    inc={"attempts": 1, "version": 1},
                )
            ]
        )
        assert isinstance(ctx.dispatcher, InProcessDispatcher)
        assert await relay_once(ctx.dispatcher) == 1

        async def delivered() -> bool:
            document = await repository.get(ctx.store, notification_id)
            return document is not None and document["state"] == "delivered"

        await eventually(delivered, what="the takeover")
        document = await repository.get(ctx.store, notification_id)
        assert document is not None
        assert document["attempts"] == 2
        assert gateway.sent == {notification_id: 1}

    async def test_a_live_send_is_left_alone(self, running: Running) -> None:
        ctx = running.ctx
        [notification_id] = await _write(ctx)
        lease = repository.later(utcnow(), 30)
        await ctx.store.write(
            [
                Update(
                    "notifications",
                    notification_id,
                    set={"state": "sending", "claimed_until": lease},
                )
            ]
        )
        assert isinstance(ctx.dispatcher, InProcessDispatcher)
        assert await relay_once(ctx.dispatcher) == 0
        assert await Courier(ctx, DeliverySettings()).deliver(notification_id) == "skipped"


class TestExpiredCodes:
    async def test_a_code_that_expired_before_it_could_be_sent_is_not_sent(
        self, running: Running, gateway: FakeSmsGateway
    ) -> None:
        ctx = running.ctx
        [notification_id] = await _write(ctx)
        long_ago = utcnow() - timedelta(minutes=6)
        await ctx.store.write(
            [Update("notifications", notification_id, set={"created_at": long_ago})]
        )
        assert await Courier(ctx, DeliverySettings()).deliver(notification_id) == "failed"
        document = await repository.get(ctx.store, notification_id)
        assert document is not None
        assert document["last_error"] == "code expired before delivery"
        assert gateway.received == []


class TestBackoff:
    def test_grows_exponentially_with_jitter_and_stops_at_the_cap(self) -> None:
        delivery = DeliverySettings(backoff_seconds=2, backoff_max_seconds=300)
        for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (8, 256), (9, 300), (20, 300)]:
            waits = [backoff_seconds(attempt, delivery) for _ in range(200)]
            assert all(ceiling / 2 <= w <= ceiling for w in waits)
            assert len(set(waits)) > 1

    def test_a_lease_shorter_than_a_send_is_refused(self) -> None:
        with pytest.raises(ValueError, match="LEASE"):
            DeliverySettings(lease_seconds=5, webhook_timeout_seconds=5)


class TestRelayDuringABrokerOutage:
    async def test_the_log_says_the_notification_waits_not_that_it_was_handed_over(
        self,
        database_url: str,
        gateway: FakeSmsGateway,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        monkeypatch.setenv("KHAIBAO_NOTIFY_RELAY_SECONDS", "300")  # this test relays
        nobody_listens = "redis://127.0.0.1:1/0"
        settings = webhook_settings(gateway, redis_url=nobody_listens)
        async with running_app(database_url, **settings) as running:
            ctx = running.ctx
            [notification_id] = await _write(ctx)
            assert isinstance(ctx.dispatcher, CeleryDispatcher)
            with caplog.at_level(logging.INFO, logger="notifications.delivery"):
                assert await relay_once(ctx.dispatcher) == 0
            document = await repository.get(ctx.store, notification_id)
        said = [r.getMessage() for r in caplog.records if r.name == "notifications.delivery"]
        assert said == [
            "broker unavailable; notifications wait in the outbox",
            "relay put notifications back in the outbox",
        ]
        assert document is not None
        assert (document["state"], document["attempts"]) == ("pending", 0)


class TestConfiguration:
    async def test_the_webhook_provider_without_a_url_stops_start_up(
        self, database_url: str
    ) -> None:
        with pytest.raises(ValueError, match="KHAIBAO_NOTIFY_WEBHOOK_URL"):
            async with running_app(database_url, notify_provider="webhook"):
                pass
