"""Fixtures shared by the notification tests and the broker-outage fault test: the fake SMS
gateway (the one part that crosses the border, so the one part faked) and real Celery
worker processes, stopped after the test. Registered for all tests by `tests/conftest.py`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.notifications.conftest import SECRET, WorkerFactory
from tests.notifications.gateway import FakeSmsGateway


@pytest.fixture
def gateway() -> Iterator[FakeSmsGateway]:
    with FakeSmsGateway(SECRET) as fake:
        yield fake


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[WorkerFactory]:
    factory = WorkerFactory(tmp_path)
    yield factory
    for worker in factory.started:
        worker.stop()
