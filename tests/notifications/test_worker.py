"""End to end with real Celery worker processes and a real Redis: a request writes a
notification, a `khaibao worker` delivers it to the fake SMS gateway (the only mock: it
stands in for the carrier), and the outbox records it.

Every test uses its own Redis key prefix (`KHAIBAO_NOTIFY_NAMESPACE`) and its own SQLite
file, shared by the test's app and the worker it starts.
"""

from __future__ import annotations

import subprocess

import pytest

from notifications.outbox import PARAMS_CONTEXT, new_notification
from tests.notifications.conftest import (
    ROOT,
    SHARED_REDIS,
    RedisServer,
    WorkerFactory,
    eventually,
    khaibao_command,
    outbox,
    random_phone,
    running_app,
    webhook_settings,
    worker_env,
)
from tests.notifications.gateway import FakeSmsGateway

pytestmark = pytest.mark.usefixtures("namespace")


class TestWorkerDelivers:
    async def test_one_time_code_reaches_the_sms_gateway_signed_and_is_marked_delivered(
        self, database_url: str, gateway: FakeSmsGateway, workers: WorkerFactory
    ) -> None:
        phone = random_phone()
        workers.start(worker_env(database_url, SHARED_REDIS, gateway), wait=False)
        settings = webhook_settings(gateway, redis_url=SHARED_REDIS)
        async with running_app(database_url, **settings) as running:
            sent = await running.client.post(
                "/v1/auth/otp", json={"phone": phone}, headers={"Accept-Language": "vi"}
            )
            assert sent.status_code == 202, sent.text

            async def delivered() -> bool:
                return [d["state"] for d in await outbox(running.ctx)] == ["delivered"]

            await eventually(delivered, what="delivery", context=workers.logs)
            [notification] = await outbox(running.ctx)

        [request] = gateway.received
        assert request.signature_valid
        assert request.key == notification["_id"]
        assert request.body["id"] == notification["_id"]
        assert request.body["kind"] == "otp"
        assert request.body["to"] == phone
        assert request.body["locale"] == "vi"
        assert request.body["text"].startswith("Khaibao: ma xac thuc cua ban la ")
        assert gateway.sent == {notification["_id"]: 1}
        assert notification["attempts"] == 1


class TestBrokerOutage:
    async def test_requests_succeed_while_redis_is_down_and_each_message_goes_out_once_after(
        self,
        database_url: str,
        gateway: FakeSmsGateway,
        workers: WorkerFactory,
        redis_server: RedisServer,
    ) -> None:
        workers.start(worker_env(database_url, redis_server.url, gateway))
        settings = webhook_settings(gateway, redis_url=redis_server.url)
        async with running_app(database_url, **settings) as running:
            redis_server.stop()
            for phone in (random_phone(), random_phone(), random_phone()):
                sent = await running.client.post("/v1/auth/otp", json={"phone": phone})
                assert sent.status_code == 202, sent.text
            waiting = await outbox(running.ctx)
            # Waiting in the outbox: pending, or claimed by a relay that is trying the broker.
            assert {d["state"] for d in waiting} <= {"pending", "queued"}
            assert gateway.received == []

            redis_server.start()  # same port, empty: whatever was published before is gone

            async def all_delivered() -> bool:
                return {d["state"] for d in await outbox(running.ctx)} == {"delivered"}

            await eventually(all_delivered, what="all three deliveries", context=workers.logs)

        ids = {d["_id"] for d in waiting}
        assert gateway.sent == dict.fromkeys(ids, 1)
        assert sorted(r.key for r in gateway.received) == sorted(ids)  # one request each


class TestWorkerKilledMidSend:
    async def test_sigkill_while_the_gateway_holds_the_request_still_sends_one_sms(
        self, database_url: str, gateway: FakeSmsGateway, workers: WorkerFactory
    ) -> None:
        """What is guaranteed, precisely: the notification ends `delivered`, and the person
        gets one SMS. The gateway takes the message and then holds its answer; the worker is
        killed (SIGKILL, parent and pool process) before it hears back, so the outbox still
        says `sending`. When the lease runs out, the relay of another worker hands it over
        again and the send is repeated with the same `Idempotency-Key`: the gateway sees the
        notification twice and sends it once, because it deduplicates on that key. Against a
        gateway without deduplication this scenario would send two SMS (at least once)."""
        phone = random_phone()
        gateway.mode = "slow_first"
        # A send times out after 4 s, longer than the test needs to notice it and kill.
        timings = {
            "KHAIBAO_NOTIFY_WEBHOOK_TIMEOUT_SECONDS": "4",
            "KHAIBAO_NOTIFY_LEASE_SECONDS": "6",
        }
        env = worker_env(database_url, SHARED_REDIS, gateway, **timings)
        first = workers.start(env)
        settings = webhook_settings(gateway, redis_url=SHARED_REDIS)
        async with running_app(database_url, **settings) as running:
            sent = await running.client.post("/v1/auth/otp", json={"phone": phone})
            assert sent.status_code == 202, sent.text

            async def gateway_holds_it() -> bool:
                return len(gateway.received) == 1

            await eventually(gateway_holds_it, what="the first send", context=workers.logs)
            first.kill()
            second = workers.start(env, wait=False)
            [notification] = await outbox(running.ctx)
            assert notification["state"] == "sending"  # killed mid-send, before the answer
            gateway.release()
            second.wait_ready()

            async def delivered() -> bool:
                return [d["state"] for d in await outbox(running.ctx)] == ["delivered"]

            await eventually(delivered, what="the takeover", context=workers.logs)
            [notification] = await outbox(running.ctx)

        assert gateway.requests_for(notification["_id"]) == 2
        assert gateway.sent == {notification["_id"]: 1}
        assert notification["attempts"] == 2


class TestADeliveryThatRaises:
    async def test_counts_its_attempts_and_ends_failed_and_listed(
        self, database_url: str, gateway: FakeSmsGateway, workers: WorkerFactory
    ) -> None:
        """A notification whose delivery raises in the worker every time (here: parameters
        that decrypt to a list, as a bug or an older version might have stored) used to go
        back to the broker every minute forever, `queued` with no attempt counted."""
        env = worker_env(database_url, SHARED_REDIS, gateway, KHAIBAO_NOTIFY_MAX_RETRIES="1")
        workers.start(env, wait=False)
        settings = webhook_settings(gateway, redis_url=SHARED_REDIS)
        async with running_app(database_url, **settings) as running:
            ctx = running.ctx
            notification_id, insert = new_notification(
                ctx.cipher, kind="otp", phone=random_phone(), locale="en", params={}
            )
            insert.document["params_enc"] = ctx.cipher.encrypt("[]", context=PARAMS_CONTEXT)
            await ctx.store.write([insert])  # pending: the app's relay hands it over

            async def failed() -> bool:
                return [d["state"] for d in await outbox(ctx)] == ["failed"]

            await eventually(failed, what="the notification to fail", context=workers.logs)
            [notification] = await outbox(ctx)

        assert notification["attempts"] == 2  # the first try and one retry
        assert notification["last_error"] == "delivery error: AttributeError"
        assert gateway.received == []
        listed = _cli(env, "failed")
        assert listed.returncode == 0, listed.stderr
        [_, row] = listed.stdout.strip().splitlines()
        assert row.split("\t")[:4] == [
            notification_id,
            "otp",
            "2",
            "delivery error: AttributeError",
        ]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*khaibao_command(), "notifications", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class TestFailingGateway:
    async def test_retries_are_capped_then_failed_listed_and_an_operator_retry_delivers(
        self, database_url: str, gateway: FakeSmsGateway, workers: WorkerFactory
    ) -> None:
        phone = random_phone()
        gateway.mode = "fail"
        env = worker_env(database_url, SHARED_REDIS, gateway, KHAIBAO_NOTIFY_MAX_RETRIES="2")
        workers.start(env, wait=False)
        settings = webhook_settings(gateway, redis_url=SHARED_REDIS)
        async with running_app(database_url, **settings) as running:
            sent = await running.client.post("/v1/auth/otp", json={"phone": phone})
            assert sent.status_code == 202, sent.text

            async def failed() -> bool:
                return [d["state"] for d in await outbox(running.ctx)] == ["failed"]

            await eventually(failed, what="the notification to fail", context=workers.logs)
            [notification] = await outbox(running.ctx)
            assert notification["attempts"] == 3  # the first try and two retries
            assert notification["last_error"] == "gateway answered HTTP 500"
            assert gateway.requests_for(notification["_id"]) == 3

            listed = _cli(env, "failed")
            assert listed.returncode == 0, listed.stderr
            [header, row] = listed.stdout.strip().splitlines()
            assert header.split("\t") == ["id", "kind", "attempts", "last_error", "created_at"]
            assert row.split("\t")[:4] == [
                notification["_id"],
                "otp",
                "3",
                "gateway answered HTTP 500",
            ]
            assert phone not in listed.stdout + listed.stderr

            gateway.mode = "ok"
            retried = _cli(env, "retry", notification["_id"])
            assert retried.returncode == 0, retried.stderr
            assert retried.stdout.split() == [notification["_id"]]

            async def delivered() -> bool:
                return [d["state"] for d in await outbox(running.ctx)] == ["delivered"]

            await eventually(delivered, what="the retried delivery", context=workers.logs)

        assert gateway.sent == {notification["_id"]: 1}
