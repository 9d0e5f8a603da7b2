"""Shared fixtures: a real SQLite file per test, the app with its lifespan, an async client,
and helpers to sign in as each role through the real HTTP endpoints.

`KHAIBAO_TEST_BACKEND=mongo` runs the same API tests on MongoDB: the server named by
`KHAIBAO_TEST_MONGODB_URL` when set, otherwise the wire-protocol stand-in.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from accounts.service import create_staff
from api.app import create_app
from core.context import Context
from core.principals import Area, Principal, Role
from core.settings import Settings
from core.storage.factory import migrate
from runtime.collections import COLLECTIONS
from tests.mongo_standin import MongoStandin

# The SMS gateway fake and real Celery workers, shared by notification and fault tests.
pytest_plugins = ["tests.notifications.fixtures"]

TEST_PHONES = {
    "+84900000001": "123456",
    "+84900000002": "654321",
    "+84900000003": "111111",
    "+84900000004": "222222",
    "+84900000005": "333333",
}
STAFF_PASSWORD = "correct horse battery staple"
# An organisation id of the right shape, for organisation accounts in tests that need one.
TEST_ORGANISATION = "org_00000000000000000000000000"
# Who the audit log names for staff accounts a test creates or changes directly.
TEST_ADMIN = Principal("usr_test_admin", "admin")


@pytest.fixture(scope="session")
def mongo_standin() -> Iterator[MongoStandin | None]:
    """The stand-in for this session, or None when a real server is configured."""
    if os.environ.get("KHAIBAO_TEST_MONGODB_URL"):
        yield None
        return
    with MongoStandin() as standin:
        yield standin


@pytest.fixture(scope="session")
def mongo_url(mongo_standin: MongoStandin | None) -> str:
    """A MongoDB URL: the real server when configured, else the stand-in for this session."""
    return os.environ.get("KHAIBAO_TEST_MONGODB_URL") or str(mongo_standin and mongo_standin.url)


def _mongo_database_url(base: str) -> str:
    """A fresh database per test, so tests never see each other's documents, migrated as
    `khaibao db migrate` does in a deployment: the app itself only checks that collections
    and indexes exist. (On a thread of its own: callers may be inside an event loop.)"""
    name = "khaibao_test_" + uuid.uuid4().hex[:12]
    head, _, query = base.partition("?")
    head = head.rstrip("/")
    if head.count("/") > 2:
        head = head.rsplit("/", 1)[0]
    url = f"{head}/{name}" + (f"?{query}" if query else "")
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, migrate(make_settings(url), COLLECTIONS)).result()
    return url


@pytest.fixture
def database_url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if os.environ.get("KHAIBAO_TEST_BACKEND") == "mongo":
        return _mongo_database_url(request.getfixturevalue("mongo_url"))
    return f"sqlite:///{tmp_path}/khaibao.sqlite3"


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "redis_url": None,
        "test_otp": ",".join(f"{p}:{c}" for p, c in TEST_PHONES.items()),
        # Tests share the event loop with the app, and a slow CI machine stalls it: shedding
        # on loop lag would refuse test requests at random. tests/api/test_edge.py tests it.
        "shed_loop_lag_ms": 0,
        # A full collection per app, walking what every earlier test left: 0.13 s a test.
        # tests/api/test_edge.py tests the freeze.
        "freeze_at_start": False,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def ctx(app: FastAPI) -> Context:
    context: Context = app.state.context
    return context


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def module_database_url(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, name: str
) -> str:
    """A database for a module-scoped fixture: on SQLite a file in a directory of its own,
    or a fresh migrated MongoDB database under KHAIBAO_TEST_BACKEND=mongo."""
    if os.environ.get("KHAIBAO_TEST_BACKEND") == "mongo":
        return _mongo_database_url(request.getfixturevalue("mongo_url"))
    directory: Path = tmp_path_factory.mktemp(name)
    return f"sqlite:///{directory}/khaibao.sqlite3"


@asynccontextmanager
async def module_app(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, name: str
) -> AsyncIterator[tuple[Context, httpx.AsyncClient]]:
    """A running app and a client on it, for a module-scoped fixture that seeds once what its
    module's read-only tests share: on SQLite in a directory of its own, or on a fresh MongoDB
    database under KHAIBAO_TEST_BACKEND=mongo."""
    app = create_app(make_settings(module_database_url(tmp_path_factory, request, name)))
    async with app.router.lifespan_context(app):
        ctx: Context = app.state.context
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield ctx, client


async def sign_in_citizen(client: httpx.AsyncClient, phone: str = "+84900000001") -> dict[str, str]:
    """Request a code and sign in with the fixed test code; returns auth headers."""
    sent = await client.post("/v1/auth/otp", json={"phone": phone})
    assert sent.status_code == 202, sent.text
    token = await client.post("/v1/auth/token", json={"phone": phone, "otp": TEST_PHONES[phone]})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def sign_in_staff(
    ctx: Context,
    client: httpx.AsyncClient,
    role: Role,
    *,
    checkpoints: tuple[str, ...] = (),
    username: str | None = None,
    area: Area | None = None,
    organisation: str | None = None,
) -> dict[str, str]:
    """Create a staff account as `khaibao users create` does, then sign in over HTTP."""
    username = username or f"{role}-{uuid.uuid4().hex[:8]}"
    if role == "organisation" and organisation is None:
        organisation = TEST_ORGANISATION
    await create_staff(
        ctx,
        username=username,
        password=STAFF_PASSWORD,
        role=role,
        checkpoints=checkpoints,
        area=area,
        organisation=organisation,
        by=TEST_ADMIN,
    )
    token = await client.post(
        "/v1/auth/token", json={"username": username, "password": STAFF_PASSWORD}
    )
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}
