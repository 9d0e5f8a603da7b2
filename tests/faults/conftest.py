"""Fixtures of the fault tests: every server a test starts is stopped afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.servers import ApiServer


@pytest.fixture
def servers() -> Iterator[list[ApiServer]]:
    """Servers a test starts go in this list; all are stopped (or killed) afterwards."""
    started: list[ApiServer] = []
    yield started
    for server in started:
        server.stop()
