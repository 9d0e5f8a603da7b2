"""What every request passes through: health, readiness, metrics, request ids, problem+json,
body limits, compression and load shedding."""

from __future__ import annotations

import asyncio
import gc
import gzip
import time
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from api.app import create_app
from api.middleware import LoadShedding
from api.overload import WINDOW_SECONDS, LoopLag
from core.settings import Settings
from tests.conftest import make_settings, sign_in_citizen
from tests.declarations.conftest import declaration

PROBLEM = "application/problem+json"


class TestHealth:
    async def test_healthz_and_readyz_answer(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["database"] == "ok"

    async def test_readyz_reports_an_unreachable_redis(self, database_url: str) -> None:
        app = create_app(make_settings(database_url, redis_url="redis://127.0.0.1:1/0"))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.headers["content-type"] == PROBLEM
        assert ready.json()["code"] == "broker_unavailable"

    async def test_metrics_count_requests_by_route_template(
        self, client: httpx.AsyncClient
    ) -> None:
        await client.get("/healthz")
        text = (await client.get("/metrics")).text
        assert 'khaibao_requests_total{method="GET",route="/healthz",status="200"}' in text
        assert "khaibao_request_seconds_bucket" in text

    async def test_the_hot_routes_are_counted_by_their_template(
        self, client: httpx.AsyncClient
    ) -> None:
        # The declaration and the scan are served by direct routes (web/lean.py): they were
        # counted as "unmatched", so a dashboard showed no traffic on the two busiest routes.
        await client.post("/v1/declarations", json={})
        await client.post("/v1/checkpoints/cp_x/scans", json={})
        text = (await client.get("/metrics")).text
        assert 'route="/v1/declarations",status="401"' in text
        assert 'route="/v1/checkpoints/{checkpoint_id}/scans",status="401"' in text

    async def test_a_route_is_counted_by_its_documented_template(
        self, client: httpx.AsyncClient
    ) -> None:
        # The declaration id's segment has a convertor (it never matches `batch`); the
        # dashboard still sees the template the API document names.
        await client.get("/v1/declarations/dec_x")
        text = (await client.get("/metrics")).text
        assert 'route="/v1/declarations/{declaration_id}",status="401"' in text


class TestCollectorPauses:
    async def test_what_start_up_built_is_not_walked_by_full_collections(
        self, database_url: str
    ) -> None:
        # A full collection that walked start-up's objects stalled every request for ≈ 90 ms.
        app = create_app(make_settings(database_url, freeze_at_start=True))
        async with app.router.lifespan_context(app):
            context = app.state.context
            walked = gc.get_objects()  # what collections walk; frozen objects are not in it
            assert not any(thing is context for thing in walked)
            assert not any(thing is app.router for thing in walked)
            del walked
        # Stopped, nothing stays frozen: apps started and stopped in one process (tests)
        # would otherwise keep every one of them.
        assert gc.get_freeze_count() == 0


class TestProblems:
    async def test_unknown_path_is_problem_json_in_vietnamese(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/v1/nothing-here", headers={"Accept-Language": "vi-VN"})
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM
        body = response.json()
        assert body["code"] == "not_found"
        assert body["title"] == "Không tìm thấy"
        assert {"type", "title", "status", "detail", "code"} <= body.keys()

    @pytest.mark.parametrize(
        ("accept_language", "title"),
        [
            ("vi_VN", "Không tìm thấy"),  # the POSIX spelling some HTTP stacks send
            ("vi-VN,vi;q=0.9,en;q=0.8", "Không tìm thấy"),
            ("en;q=0.5, vi", "Không tìm thấy"),
            ("de-DE, vi;q=0.1", "Không tìm thấy"),  # of the two, vi is the one we speak
            ("fr_FR", "Introuvable"),
            ("de, nl", "Not found"),
            ("vi;q=0, en", "Not found"),
            (";;;,q=,-", "Not found"),
        ],
    )
    async def test_the_answer_speaks_the_best_language_the_caller_accepts(
        self, client: httpx.AsyncClient, accept_language: str, title: str
    ) -> None:
        response = await client.get(
            "/v1/nothing-here", headers={"Accept-Language": accept_language}
        )
        assert response.json()["title"] == title

    async def test_wrong_method_is_problem_json(self, client: httpx.AsyncClient) -> None:
        response = await client.delete("/healthz")
        assert response.status_code == 405
        assert response.json()["code"] == "http_405"
        assert response.json()["detail"] == "This address takes GET or HEAD."

    async def test_a_wrong_method_says_which_ones_the_address_takes(
        self, client: httpx.AsyncClient
    ) -> None:
        en = await client.delete("/v1/questions")
        vi = await client.delete("/v1/questions", headers={"Accept-Language": "vi"})
        assert en.status_code == vi.status_code == 405
        assert en.headers["allow"] == vi.headers["allow"] == "GET, HEAD, POST"
        assert en.json()["detail"] == "This address takes GET, HEAD or POST."
        assert vi.json()["detail"] == "Địa chỉ này chỉ nhận GET, HEAD hoặc POST."
        assert en.json()["title"] == "Request not accepted"
        post_only = await client.get("/v1/declarations/batch")
        assert post_only.status_code == 405
        assert post_only.json()["detail"] == "This address takes POST."

    async def test_validation_names_fields_without_echoing_input(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post("/v1/auth/otp", json={"phone": "<script>x</script>", "x": 1})
        assert response.status_code == 422
        fields = {e["field"] for e in response.json()["errors"]}
        assert fields == {"phone", "x"}
        assert "<script>" not in response.text

    async def test_field_errors_say_what_to_send_instead(self, client: httpx.AsyncClient) -> None:
        citizen = await sign_in_citizen(client)
        listed = await client.get("/v1/declarations", params={"limit": 100000}, headers=citizen)
        assert listed.status_code == 422
        [error] = listed.json()["errors"]
        assert (error["field"], error["message"]) == ("query.limit", "must be at most 100")
        body = declaration()
        body["person"]["birth_year"] = "1990"
        body["person"]["relation"] = "cousin"
        body["address"]["province"] = 0
        sent = await client.post(
            "/v1/declarations",
            json=body,
            headers={**citizen, "Idempotency-Key": "fields-1", "Accept-Language": "vi"},
        )
        messages = {e["field"]: e["message"] for e in sent.json()["errors"]}
        assert messages["person.birth_year"] == "phải là số nguyên"
        assert messages["person.relation"] == "không thuộc các giá trị cho phép"
        assert messages["address.province"] == "phải lớn hơn hoặc bằng 1"
        not_text = await client.post("/v1/auth/otp", json={"phone": 84912345678})
        [error] = not_text.json()["errors"]
        assert error["message"] == "must be text"

    async def test_every_response_carries_a_request_id(self, client: httpx.AsyncClient) -> None:
        mine = await client.get("/healthz", headers={"X-Request-ID": "phone-retry-0001"})
        assert mine.headers["x-request-id"] == "phone-retry-0001"
        hostile = await client.get("/healthz", headers={"X-Request-ID": "a\tb<script>"})
        assert hostile.headers["x-request-id"] != "a\tb<script>"
        assert len(hostile.headers["x-request-id"]) == 16


class TestBodies:
    async def test_declared_oversized_body_is_413(self, client: httpx.AsyncClient) -> None:
        big = b'{"phone": "' + b"9" * (2 * 1024 * 1024) + b'"}'
        response = await client.post(
            "/v1/auth/otp", content=big, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413
        assert response.headers["content-type"] == PROBLEM

    async def test_streamed_oversized_body_is_413(self, client: httpx.AsyncClient) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(200):
                yield b" " * 1024

        response = await client.post(
            "/v1/auth/otp", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413
        assert response.headers["content-type"] == PROBLEM

    async def test_json_sent_as_another_type_is_415_in_the_callers_language(
        self, client: httpx.AsyncClient
    ) -> None:
        body = b'{"phone": "+84900000001"}'
        for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
            headers = {"Accept-Language": "vi"}
            if content_type is not None:
                headers["Content-Type"] = content_type
            response = await client.post("/v1/auth/otp", content=body, headers=headers)
            assert response.status_code == 415, content_type
            assert response.headers["content-type"] == PROBLEM
            assert response.json()["code"] == "unsupported_media_type"
            assert response.json()["title"] == "Hãy gửi JSON"

    async def test_a_gzipped_upload_is_415_naming_the_encoding_to_use(
        self, client: httpx.AsyncClient
    ) -> None:
        citizen = await sign_in_citizen(client)
        for path, body in (
            ("/v1/auth/otp", {"phone": "+84900000001"}),  # a route FastAPI serves
            ("/v1/declarations", declaration()),  # the lean route
        ):
            response = await client.post(
                path,
                content=gzip.compress(orjson.dumps(body)),
                headers={
                    **citizen,
                    "Content-Type": "application/json",
                    "Content-Encoding": "gzip",
                    "Idempotency-Key": "gz-1",
                },
            )
            assert response.status_code == 415, path
            assert response.json()["code"] == "unsupported_content_encoding"
            assert response.headers["accept-encoding"] == "identity"
        # Nothing was stored: the same declaration sent plain is the first one.
        plain = await client.post(
            "/v1/declarations",
            json=declaration(),
            headers={**citizen, "Idempotency-Key": "gz-1"},
        )
        assert plain.status_code == 201
        assert "idempotent-replayed" not in plain.headers

    async def test_large_responses_are_gzipped(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
        assert response.headers["content-encoding"] == "gzip"
        assert response.json()["info"]["title"] == "Khaibao"


class TestLoadShedding:
    async def test_requests_beyond_capacity_get_503_with_retry_after(self) -> None:
        release, both_inside = asyncio.Event(), asyncio.Event()
        inside = 0

        async def slow_app(scope: Scope, receive: Receive, send: Send) -> None:
            nonlocal inside
            inside += 1
            if inside == 2:
                both_inside.set()
            await release.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        edge = LoadShedding(slow_app, max_in_flight=2)
        transport = httpx.ASGITransport(app=edge)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            admitted = [asyncio.create_task(client.get("/work")) for _ in range(2)]
            await both_inside.wait()
            refused = await client.get("/work")
            release.set()
            done = await asyncio.gather(*admitted)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["code"] == "overloaded"
        assert [r.status_code for r in done] == [200, 200]

    async def test_an_answered_request_frees_its_slot_before_its_cleanup_ends(self) -> None:
        # A phone on keep-alive sends its next request as soon as it has the answer, while
        # the server may still be closing the previous request's dependencies.
        cleanup_may_end, answered = asyncio.Event(), asyncio.Event()

        async def app_with_cleanup(scope: Scope, receive: Receive, send: Send) -> None:
            await _ok_app(scope, receive, send)
            if scope["path"] == "/first":
                answered.set()
                await cleanup_may_end.wait()

        edge = LoadShedding(app_with_cleanup, max_in_flight=1)
        transport = httpx.ASGITransport(app=edge)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            first = asyncio.create_task(client.get("/first"))
            await answered.wait()
            second = await client.get("/second")
            cleanup_may_end.set()
            await first
        assert second.status_code == 200


async def _ok_app(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _make_overloaded(lag: LoopLag) -> None:
    """Timers late by 0.1 s, every 0.1 s, for a whole window: a standing queue."""
    for step in range(1, 20):
        lag.record(now=10.0 + step * 0.1, lateness=0.1)
    assert lag.overloaded


def _overloaded_lag() -> LoopLag:
    lag = LoopLag(target_seconds=0.05)
    _make_overloaded(lag)
    return lag


class TestSheddingOnLoopLag:
    """A standing queue in front of the app shows as every loop timer running late."""

    def test_a_burst_is_not_a_queue_but_lateness_for_a_whole_window_is(self) -> None:
        lag = LoopLag(target_seconds=0.05)
        lag.record(now=10.0, lateness=0.1)  # one late timer: the loop is busy since 9.9
        assert not lag.overloaded
        lag.record(now=9.9 + WINDOW_SECONDS / 2, lateness=0.08)
        assert not lag.overloaded
        lag.record(now=9.9 + WINDOW_SECONDS, lateness=0.06)  # every timer late since 9.9
        assert lag.overloaded

    def test_one_long_stall_is_not_a_queue(self) -> None:
        lag = LoopLag(target_seconds=0.05)
        lag.record(now=10.0, lateness=WINDOW_SECONDS * 4)  # one big report, say
        assert not lag.overloaded

    def test_one_timer_on_time_ends_the_overload(self) -> None:
        lag = _overloaded_lag()
        lag.record(now=11.0, lateness=0.001)
        assert not lag.overloaded
        lag.record(now=11.1, lateness=0.07)  # a new run of lateness starts from zero
        assert not lag.overloaded

    async def test_the_probe_notices_a_busy_loop_and_then_its_recovery(self) -> None:
        lag = LoopLag(target_seconds=0.05)
        probe = asyncio.create_task(lag.probe_forever())
        seen_overloaded = False

        async def hog_the_loop() -> None:
            # Work arriving faster than it is done: every callback runs 60 ms of CPU.
            nonlocal seen_overloaded
            for _ in range(10):
                time.sleep(0.06)  # noqa: ASYNC251 (blocking the loop is the point)
                await asyncio.sleep(0)
                seen_overloaded = seen_overloaded or lag.overloaded

        try:
            await asyncio.sleep(0.05)
            assert not lag.overloaded
            await hog_the_loop()
            assert seen_overloaded
            await asyncio.sleep(0.1)  # the loop is free again, timers run on time
            assert not lag.overloaded
        finally:
            probe.cancel()

    async def test_while_overloaded_new_requests_get_503_and_probes_still_answer(self) -> None:
        lag = LoopLag(target_seconds=0.05)
        edge = LoadShedding(_ok_app, max_in_flight=64, loop_lag=lag)
        transport = httpx.ASGITransport(app=edge)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.post("/v1/declarations")).status_code == 200
            _make_overloaded(lag)
            refused = await client.post("/v1/declarations")
            probe = await client.get("/healthz")
            lag.record(now=11.0, lateness=0.0)
            admitted_again = await client.post("/v1/declarations")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["code"] == "overloaded"
        assert probe.status_code == 200
        assert admitted_again.status_code == 200


class TestProductionSettings:
    def test_default_secrets_stop_production_start_up(self) -> None:
        with pytest.raises(ValidationError) as refused:
            Settings(env="production", test_otp="")
        assert "KHAIBAO_SECRET_KEY is the development default" in str(refused.value)

    def test_test_otp_numbers_are_refused_in_production(self) -> None:
        with pytest.raises(ValidationError) as refused:
            Settings(
                env="production",
                secret_key="x" * 40,
                data_key="c2VjcmV0LWRhdGEta2V5LWZvci10ZXN0cy0zMmJ5dGU=",
                test_otp="+84900000001:123456",
            )
        assert "KHAIBAO_TEST_OTP must not be set in production" in str(refused.value)

    def test_production_without_redis_is_refused_in_one_line(self) -> None:
        # Issue 26, finding 9: without Redis every request's rate limit is a durable upsert
        # and a read in the database.
        def production(redis_url: str | None) -> Settings:
            return Settings(
                env="production",
                secret_key="x" * 40,
                data_key="c2VjcmV0LWRhdGEta2V5LWZvci10ZXN0cy0zMmJ5dGU=",
                test_otp="",
                redis_url=redis_url,
            )

        with pytest.raises(ValidationError) as refused:
            production(None)
        assert "KHAIBAO_REDIS_URL must be set in production" in str(refused.value)
        assert production("redis://127.0.0.1:6379/0").redis_url

    def test_the_webhook_is_signed_with_a_secret_of_32_characters_or_more(self) -> None:
        def production(secret: str) -> Settings:
            return Settings(
                env="production",
                secret_key="x" * 40,
                data_key="c2VjcmV0LWRhdGEta2V5LWZvci10ZXN0cy0zMmJ5dGU=",
                redis_url="redis://127.0.0.1:6379/0",
                notify_provider="webhook",
                notify_webhook_url="https://sms.example.vn/send",
                notify_webhook_secret=secret,
            )

        for short in ("", "x", "y" * 31):
            with pytest.raises(ValidationError, match="KHAIBAO_NOTIFY_WEBHOOK_SECRET must be"):
                production(short)
        assert production("y" * 32).notify_provider == "webhook"


class TestFloods:
    async def test_one_address_flooding_gets_429_with_retry_after(
        self, database_url: str, fresh_minute: None
    ) -> None:
        app = create_app(make_settings(database_url, requests_per_address_per_minute=20))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                codes = [(await client.get("/v1/status-page")).status_code for _ in range(25)]
                refused = await client.get("/v1/status-page")
                health = await client.get("/healthz")
            other = httpx.ASGITransport(app=app, client=("203.0.113.8", 5000))
            async with httpx.AsyncClient(transport=other, base_url="http://t") as client:
                neighbour = await client.get("/v1/status-page")
        assert codes[:20] == [404] * 20  # an unknown path: still counted
        assert set(codes[20:]) == {429}
        assert refused.json()["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        assert health.status_code == 200  # probes are never limited
        assert neighbour.status_code == 404

    async def test_a_refusal_carries_a_request_id_and_is_counted(
        self, database_url: str, fresh_minute: None
    ) -> None:
        # The request id and the metrics wrap the refusing middlewares: a phone told 429
        # can still quote its request id, and the operators see the refusals.
        app = create_app(make_settings(database_url, requests_per_address_per_minute=1))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 5000))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                await client.get("/v1/status-page")
                refused = await client.get(
                    "/v1/status-page", headers={"X-Request-ID": "phone-retry-0002"}
                )
                metrics = (await client.get("/metrics")).text
        assert refused.status_code == 429
        assert refused.headers["x-request-id"] == "phone-retry-0002"
        assert 'khaibao_requests_total{method="GET",route="unmatched",status="429"}' in metrics
