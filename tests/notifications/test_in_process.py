"""Without `KHAIBAO_REDIS_URL` the API process delivers by itself, with the same code a
worker runs: the embedded default (SQLite, no Redis) still sends one-time codes."""

from __future__ import annotations

import logging

import pytest

from core.context import Context
from notifications.cli import list_failed, retry_failed
from notifications.outbox import Kind, new_notification
from tests.notifications.conftest import (
    SECRET,
    eventually,
    free_port,
    outbox,
    running_app,
    webhook_settings,
)
from tests.notifications.gateway import FakeSmsGateway

PHONE = "+84912345670"

pytestmark = pytest.mark.usefixtures("namespace")


async def _states(ctx: Context) -> list[str]:
    return [d["state"] for d in await outbox(ctx)]


def _fields(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Everything the log records say, messages and structured fields."""
    return [f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in caplog.records]


class TestConsoleProvider:
    async def test_a_code_is_delivered_without_a_worker_and_the_log_names_no_phone_or_code(
        self, database_url: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO)
        async with running_app(database_url) as running:
            sent = await running.client.post("/v1/auth/otp", json={"phone": PHONE})
            assert sent.status_code == 202

            async def delivered() -> bool:
                return await _states(running.ctx) == ["delivered"]

            await eventually(delivered, what="in-process delivery")
            [notification] = await outbox(running.ctx)

        console = [r for r in caplog.records if r.getMessage() == "notification sent to console"]
        assert [r.fields["notification_id"] for r in console] == [notification["_id"]]  # type: ignore[attr-defined]
        logged = " ".join(_fields(caplog))
        assert PHONE not in logged
        assert PHONE.removeprefix("+") not in logged
        assert "sign-in code is" not in logged

    async def test_in_development_the_console_shows_the_code_so_a_developer_can_sign_in(
        self, database_url: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO)
        async with running_app(database_url, env="dev") as running:
            sent = await running.client.post("/v1/auth/otp", json={"phone": PHONE})
            assert sent.status_code == 202

            async def delivered() -> bool:
                return await _states(running.ctx) == ["delivered"]

            await eventually(delivered, what="in-process delivery")

        [record] = [r for r in caplog.records if r.getMessage() == "notification sent to console"]
        assert "Khaibao: your sign-in code is " in record.fields["text"]  # type: ignore[attr-defined]
        assert PHONE not in " ".join(_fields(caplog))


class TestWebhookWithoutWorker:
    async def test_a_code_reaches_the_sms_gateway_from_the_api_process(
        self, database_url: str, gateway: FakeSmsGateway
    ) -> None:
        async with running_app(database_url, **webhook_settings(gateway)) as running:
            sent = await running.client.post(
                "/v1/auth/otp", json={"phone": PHONE}, headers={"Accept-Language": "vi"}
            )
            assert sent.status_code == 202

            async def delivered() -> bool:
                return await _states(running.ctx) == ["delivered"]

            await eventually(delivered, what="in-process delivery")
            [notification] = await outbox(running.ctx)

        [request] = gateway.received
        assert request.signature_valid
        assert request.key == notification["_id"]
        assert request.body["to"] == PHONE
        assert request.body["locale"] == "vi"
        assert gateway.sent == {notification["_id"]: 1}

    @pytest.mark.parametrize(
        ("kind", "params", "locale", "expected"),
        [
            ("status_change", {"status": "yellow", "reason_code": "symptoms"}, "vi", "sang VANG."),
            ("status_change", {"status": "red", "reason_code": "confirmed_case"}, "en", "now RED."),
            ("exposure", {"day": "2026-11-20"}, "vi", "ngay 20/11/2026."),
            ("exposure", {"day": "2026-11-20"}, "en", "on 20 Nov 2026."),
        ],
    )
    async def test_status_changes_and_exposure_alerts_written_by_other_domains_are_sent(
        self,
        database_url: str,
        gateway: FakeSmsGateway,
        kind: Kind,
        params: dict[str, str],
        locale: str,
        expected: str,
    ) -> None:
        async with running_app(database_url, **webhook_settings(gateway)) as running:
            ctx = running.ctx
            # What declarations and checkpoints do: the insert in the batch, dispatch after.
            notification_id, insert = new_notification(
                ctx.cipher,
                kind=kind,
                phone=PHONE,
                locale=locale,
                params=params,
            )
            await ctx.store.write([insert])
            await ctx.dispatcher.dispatch([notification_id])

            async def delivered() -> bool:
                return await _states(ctx) == ["delivered"]

            await eventually(delivered, what="delivery")

        [request] = gateway.received
        assert request.body["kind"] == kind
        assert expected in request.body["text"]
        if "reason_code" in params:  # reasons are the ministry's words, shown in the app
            assert params["reason_code"] not in request.body["text"]


class TestRetries:
    async def test_retries_are_capped_then_failed_and_an_operator_retry_delivers(
        self, database_url: str, gateway: FakeSmsGateway
    ) -> None:
        gateway.mode = "fail"
        settings = webhook_settings(gateway, notify_max_retries=2)
        async with running_app(database_url, **settings) as running:
            ctx = running.ctx
            assert (await running.client.post("/v1/auth/otp", json={"phone": PHONE})).is_success

            async def failed() -> bool:
                return await _states(ctx) == ["failed"]

            await eventually(failed, what="the notification to fail")
            [notification] = await outbox(ctx)
            assert gateway.requests_for(notification["_id"]) == 3

            [row] = await list_failed(ctx.store, limit=10)
            assert row["id"] == notification["_id"]
            assert (row["kind"], row["attempts"]) == ("otp", 3)
            assert row["last_error"] == "gateway answered HTTP 500"
            assert PHONE not in str(row)

            gateway.mode = "ok"
            assert await retry_failed(ctx.store, None) == [notification["_id"]]

            async def delivered() -> bool:
                return await _states(ctx) == ["delivered"]

            await eventually(delivered, what="the retried notification")

        assert gateway.sent == {notification["_id"]: 1}

    async def test_a_gateway_that_rejects_the_request_fails_it_at_once(
        self, database_url: str, gateway: FakeSmsGateway
    ) -> None:
        gateway.mode = "reject"
        async with running_app(database_url, **webhook_settings(gateway)) as running:
            assert (await running.client.post("/v1/auth/otp", json={"phone": PHONE})).is_success

            async def failed() -> bool:
                return await _states(running.ctx) == ["failed"]

            await eventually(failed, what="the notification to fail")
            [notification] = await outbox(running.ctx)

        assert notification["attempts"] == 1
        assert notification["last_error"] == "gateway answered HTTP 400"
        assert len(gateway.received) == 1

    async def test_a_timed_out_send_is_repeated_with_the_same_key_and_sent_once(
        self, database_url: str, gateway: FakeSmsGateway
    ) -> None:
        gateway.mode = "slow_first"  # takes the message, then answers too late
        async with running_app(database_url, **webhook_settings(gateway)) as running:
            assert (await running.client.post("/v1/auth/otp", json={"phone": PHONE})).is_success

            async def delivered() -> bool:
                return await _states(running.ctx) == ["delivered"]

            await eventually(delivered, what="the repeated send")
            [notification] = await outbox(running.ctx)
            gateway.release()

        assert notification["attempts"] == 2
        assert gateway.requests_for(notification["_id"]) == 2
        assert gateway.sent == {notification["_id"]: 1}

    async def test_a_wrong_shared_secret_is_refused_by_the_gateway_and_never_sent(
        self, database_url: str, gateway: FakeSmsGateway
    ) -> None:
        settings = webhook_settings(gateway, notify_webhook_secret=SECRET + "-wrong")
        async with running_app(database_url, **settings) as running:
            assert (await running.client.post("/v1/auth/otp", json={"phone": PHONE})).is_success

            async def failed() -> bool:
                return await _states(running.ctx) == ["failed"]

            await eventually(failed, what="the notification to fail")

        assert gateway.sent == {}
        assert [r.signature_valid for r in gateway.received] == [False]


class TestBrokerUnreachable:
    async def test_a_code_request_succeeds_and_the_code_waits_in_the_outbox(
        self, database_url: str
    ) -> None:
        nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
        async with running_app(database_url, redis_url=nowhere) as running:
            sent = await running.client.post("/v1/auth/otp", json={"phone": PHONE})
            assert sent.status_code == 202
            assert set(await _states(running.ctx)) <= {"pending", "queued"}
