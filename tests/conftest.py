"""Shared fixtures: a real SQLite file per test, the app with its lifespan, an async client,
and helpers to sign in as each role through the real HTTP endpoints.

`KHAIBAO_TEST_BACKEND=mongo` runs the same API tests on MongoDB: the server named by
`KHAIBAO_TEST_MONGODB_URL` when set, otherwise the wire-protocol stand-in. That pass runs only
the tests whose database the pass chooses (`on_mongodb`); the others would do there exactly
what they did in the SQLite pass.

Each test still gets a database of its own, laid out as `khaibao db migrate` lays it out: on
SQLite a copy of a file migrated once a session, on the stand-in a copy of a database migrated
once (a real MongoDB server migrates each; it has no command to copy one).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import time
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


async def room_in_window(window_seconds: int, room_seconds: float) -> None:
    """Wait, if need be, until the rate limiter's current fixed window (whole multiples of
    `window_seconds` since the epoch) has `room_seconds` left. A test that counts requests
    into one window and expects a refusal fails when the window ends mid-test: the count
    starts again (seen on a loaded CI machine crossing a minute)."""
    left = window_seconds - time.time() % window_seconds
    if left < room_seconds:
        await asyncio.sleep(left + 0.1)


@pytest.fixture
async def fresh_minute() -> None:
    """Start a test of the per-minute address limit with 40 s of its window to go."""
    await room_in_window(60, 40)


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


def _with_database(base: str, name: str) -> str:
    head, _, query = base.partition("?")
    head = head.rstrip("/")
    if head.count("/") > 2:
        head = head.rsplit("/", 1)[0]
    return f"{head}/{name}" + (f"?{query}" if query else "")


def _migrate(url: str) -> None:
    """Lay the database out as `khaibao db migrate` does in a deployment: the app itself only
    checks that collections and indexes exist. (On a thread of its own: callers may be inside
    an event loop.)"""
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, migrate(make_settings(url), COLLECTIONS)).result()


def _mongo_database_url(base: str) -> str:
    """A fresh migrated database, so tests never see each other's documents."""
    url = _with_database(base, "khaibao_test_" + uuid.uuid4().hex[:12])
    _migrate(url)
    return url


@pytest.fixture(scope="session")
def mongo_migrated_once(mongo_url: str) -> str:
    """The name of a database on the stand-in laid out by `khaibao db migrate`, to copy."""
    name = "khaibao_test_migrated_once"
    _migrate(_with_database(mongo_url, name))
    return name


def _fresh_mongo_database(request: pytest.FixtureRequest) -> str:
    """A fresh migrated database: on the stand-in a copy of one migrated once a session
    (0.15 s a test less), on a real server migrated afresh."""
    base: str = request.getfixturevalue("mongo_url")
    standin: MongoStandin | None = request.getfixturevalue("mongo_standin")
    if standin is None:
        return _mongo_database_url(base)
    name = "khaibao_test_" + uuid.uuid4().hex[:12]
    standin.backend.copy_database(request.getfixturevalue("mongo_migrated_once"), name)
    return _with_database(base, name)


@pytest.fixture(scope="session")
def sqlite_migrated_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file laid out by `khaibao db migrate`, for each test to copy: the service
    creates its tables at start-up, 0.07 s a test that a copy saves."""
    path = tmp_path_factory.mktemp("migrated-once") / "khaibao.sqlite3"
    _migrate(f"sqlite:///{path}")
    journal = [p.name for p in path.parent.iterdir() if p.name.endswith(("-wal", "-shm"))]
    assert not journal, "all of it is in the file"
    return path


def _fresh_sqlite_database(directory: Path, request: pytest.FixtureRequest) -> str:
    path = directory / "khaibao.sqlite3"
    shutil.copyfile(request.getfixturevalue("sqlite_migrated_once"), path)
    return f"sqlite:///{path}"


_CHOSEN_BY_PASS: set[str] = set()


def on_mongodb() -> bool:
    """Whether this pass runs the tests on MongoDB (`KHAIBAO_TEST_BACKEND=mongo`). What picks
    a test's database by the pass asks here, so the pass can tell which tests it changes: the
    MongoDB pass runs only tests that use `database_url`, or whose own code or fixtures' code
    calls `on_mongodb`, `module_app` or `module_database_url` (`pytest_collection_modifyitems`).
    A test that asks in another way is named at the end of the run, which then fails."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rpartition(" ")[0]
    if test:
        _CHOSEN_BY_PASS.add(test)
    return os.environ.get("KHAIBAO_TEST_BACKEND") == "mongo"


_ASKING = frozenset({"on_mongodb", "module_app", "module_database_url"})


def _names_in(function: Any) -> set[str]:
    """The global and attribute names a function's code uses, nested code included, and the
    code of the test helpers it calls, theirs too."""
    names: set[str] = set()
    helpers, seen = [function], set()
    while helpers:
        helper = inspect.unwrap(helpers.pop())
        if id(helper) in seen or not hasattr(helper, "__code__"):
            continue
        seen.add(id(helper))
        codes, own = [helper.__code__], set()
        while codes:
            code = codes.pop()
            own.update(code.co_names)
            codes.extend(c for c in code.co_consts if hasattr(c, "co_names"))
        names |= own
        called = (getattr(helper, "__globals__", {}).get(name) for name in own)
        helpers.extend(
            f for f in called if callable(f) and getattr(f, "__module__", "").startswith("tests.")
        )
    return names


def _pass_chooses_database(item: pytest.Item) -> bool:
    if "database_url" in getattr(item, "fixturenames", ()):
        return True
    functions = [getattr(item, "function", None)]
    info = getattr(item, "_fixtureinfo", None)
    if info is not None:
        for name in getattr(item, "fixturenames", ()):
            functions.extend(d.func for d in info.name2fixturedefs.get(name, ()))
    return any(_ASKING & _names_in(function) for function in functions)


_KEPT: set[str] = set()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept = [item for item in items if _pass_chooses_database(item)]
    _KEPT.update(item.nodeid for item in kept)
    if on_mongodb():
        left = [item for item in items if item.nodeid not in _KEPT]
        config.hook.pytest_deselected(items=left)
        items[:] = kept


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    unseen = sorted(_CHOSEN_BY_PASS - _KEPT)
    if unseen:
        print("\nThese tests choose their database by the pass, but the MongoDB pass would")
        print("leave them out (see tests/conftest.py, on_mongodb):")
        print("\n".join(f"  {test}" for test in unseen))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def database_url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if on_mongodb():
        return _fresh_mongo_database(request)
    return _fresh_sqlite_database(tmp_path, request)


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
    if on_mongodb():
        return _fresh_mongo_database(request)
    return _fresh_sqlite_database(tmp_path_factory.mktemp(name), request)


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
