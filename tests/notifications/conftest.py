"""Fixtures for delivery tests: the fake SMS gateway, the app wired to it, real Celery
worker processes and Redis servers started and stopped by the test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI

from api.app import create_app
from core.context import Context
from core.storage import Document
from tests.conftest import make_settings
from tests.notifications.gateway import FakeSmsGateway

ROOT = Path(__file__).resolve().parents[2]
SECRET = "gateway-shared-secret-for-tests-0123456789"
SHARED_REDIS = "redis://127.0.0.1:6379/0"

# Fast timings for tests, each consistent with the rules in notifications/config.py.
FAST = {
    "KHAIBAO_NOTIFY_RELAY_SECONDS": "0.2",
    "KHAIBAO_NOTIFY_BACKOFF_SECONDS": "0.2",
    "KHAIBAO_NOTIFY_BACKOFF_MAX_SECONDS": "0.4",
    "KHAIBAO_NOTIFY_WEBHOOK_TIMEOUT_SECONDS": "2",
    "KHAIBAO_NOTIFY_LEASE_SECONDS": "4",
    "KHAIBAO_NOTIFY_REQUEUE_SECONDS": "30",
}


async def eventually(
    check: Callable[[], Awaitable[bool]],
    *,
    within: float = 30.0,
    what: str = "condition",
    context: Callable[[], str] = lambda: "",
) -> None:
    """Poll until `check()` holds; after `within` seconds fail, naming `what`."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{context()}")
        await asyncio.sleep(0.05)


def random_phone() -> str:
    """A phone of this test alone: rate limits in the shared Redis count per phone."""
    return "+849" + "".join(secrets.choice("0123456789") for _ in range(8))


async def outbox(ctx: Context) -> list[Document]:
    return await ctx.store.find("notifications", {}, sort=[("created_at", 1)])


@pytest.fixture
def namespace(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Redis key prefix of this test alone, removed afterwards; fast delivery timings."""
    name = f"khaibao-test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("KHAIBAO_NOTIFY_NAMESPACE", name)
    for key, value in FAST.items():
        monkeypatch.setenv(key, value)
    yield name
    with contextlib.suppress(redis.RedisError):
        client = redis.Redis.from_url(SHARED_REDIS, socket_timeout=2)
        keys = list(client.scan_iter(match=f"{name}:*", count=500))
        if keys:
            client.delete(*keys)
        client.close()


@dataclass
class Running:
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def ctx(self) -> Context:
        context: Context = self.app.state.context
        return context


@contextlib.asynccontextmanager
async def running_app(database_url: str, **overrides: Any) -> AsyncIterator[Running]:
    # Rate limits are not under test here, and with Redis they outlive the test.
    limits = {
        "otp_per_phone_per_hour": 1000,
        "otp_per_phone_per_address_per_hour": 1000,
        "otp_per_address_per_hour": 1_000_000,
    }
    application = create_app(make_settings(database_url, **{**limits, **overrides}))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield Running(application, c)


def webhook_settings(gateway: FakeSmsGateway, **overrides: Any) -> dict[str, Any]:
    return {
        "notify_provider": "webhook",
        "notify_webhook_url": gateway.url,
        "notify_webhook_secret": SECRET,
        **overrides,
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """A throwaway redis-server on its own port, which a test may stop and start again."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        client = redis.Redis(port=self.port, socket_timeout=1)
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole worker: its parent and its pool processes, as a lost machine."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while " ready." not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("worker did not start:\n" + self.output()[-3000:])
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()


def khaibao_command() -> list[str]:
    script = Path(sys.executable).parent / "khaibao"
    return [str(script)] if script.exists() else [sys.executable, "-m", "api.cli"]


def worker_env(
    database_url: str, redis_url: str, gateway: FakeSmsGateway, **extra: str
) -> dict[str, str]:
    """The test's environment (keys, the `namespace` fixture's timings) plus the worker's."""
    env = dict(os.environ)
    env.update(
        {
            "KHAIBAO_ENV": "test",
            "KHAIBAO_DATABASE_URL": database_url,
            "KHAIBAO_REDIS_URL": redis_url,
            "KHAIBAO_NOTIFY_PROVIDER": "webhook",
            "KHAIBAO_NOTIFY_WEBHOOK_URL": gateway.url,
            "KHAIBAO_NOTIFY_WEBHOOK_SECRET": SECRET,
            "KHAIBAO_LOG_LEVEL": "INFO",
            **extra,
        }
    )
    return env


@dataclass
class WorkerFactory:
    tmp_path: Path
    started: list[Worker] = field(default_factory=list)

    def logs(self) -> str:
        """The end of each worker's output, for a failing test's message."""
        return "\n".join(
            f"--- worker {i}:\n{w.output()[-2000:]}" for i, w in enumerate(self.started)
        )

    def start(self, env: dict[str, str], *, wait: bool = True) -> Worker:
        """`khaibao worker` in its own process group; by default returns once it is ready."""
        log = self.tmp_path / f"worker-{len(self.started)}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [*khaibao_command(), "worker", "--concurrency", "1"],
                cwd=ROOT,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(process, log)
        self.started.append(worker)
        if wait:
            worker.wait_ready()
        return worker
