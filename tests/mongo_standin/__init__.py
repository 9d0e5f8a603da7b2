"""MongoDB wire-protocol stand-in for tests (see :mod:`tests.mongo_standin.server`).

Tests that need MongoDB should call :func:`mongodb_test_url`: it yields
``KHAIBAO_TEST_MONGODB_URL`` when that is set (a real server, which must be a replica set for
transactions) and otherwise starts a :class:`MongoStandin` for the duration of the block.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from tests.mongo_standin.backend import Backend
from tests.mongo_standin.server import MongoStandin

ENV_VAR = "KHAIBAO_TEST_MONGODB_URL"

__all__ = ["ENV_VAR", "Backend", "MongoStandin", "mongodb_test_url"]


@contextmanager
def mongodb_test_url() -> Iterator[str]:
    """Yield a MongoDB URL: the real server from the environment, or a fresh stand-in."""
    url = os.environ.get(ENV_VAR)
    if url:
        yield url
        return
    with MongoStandin() as standin:
        yield standin.url
