"""Requests reach the same route through the flat table (`api.routing`) as through
FastAPI's router tree: every operation of the OpenAPI document, FastAPI's own pages, and the
requests that match nothing (404, 405, a trailing slash). Each request is sent both ways to
one app; each way counts its calls, so a switch that did not take fails the test."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import fastapi
import httpx
import pytest
from fastapi import APIRouter, FastAPI
from starlette.types import Receive, Scope, Send

from accounts.tokens import ROLES, Role
from api.app import create_app
from api.routing import FlatDispatch, install
from core.settings import Settings
from tests.conftest import sign_in_citizen, sign_in_staff

Answer = tuple[int, str | None, str, bytes]


@pytest.fixture
async def both_ways(
    settings: Settings,
) -> AsyncIterator[tuple[Any, httpx.AsyncClient, Callable[..., Any]]]:
    app = create_app(settings)
    dispatch = app.router.middleware_stack
    assert isinstance(dispatch, FlatDispatch)
    calls = {"tree": 0}
    tree = dispatch.tree

    async def counted_tree(scope: Scope, receive: Receive, send: Send) -> None:
        calls["tree"] += 1
        await tree(scope, receive, send)

    dispatch.tree = counted_tree
    routes: list[str | None] = []

    async def recorded(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope, receive, send)
        if scope["type"] == "http":
            routes.append(getattr(scope.get("route"), "path", None))

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=recorded)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:

            async def send(method: str, url: str, **kwargs: Any) -> tuple[Answer, Answer, int]:
                answers = []
                before = calls["tree"]
                for enabled in (True, False):
                    dispatch.enabled = enabled
                    response = await client.request(method, url, **kwargs)
                    # A problem's text, not a success's body: metrics and tokens differ by call.
                    problem = response.content if response.status_code >= 400 else b""
                    body = re.sub(rb'"request_id":"[^"]*"', b"", problem)
                    answers.append(
                        (
                            response.status_code,
                            routes[-1],
                            response.headers.get("content-type", ""),
                            body,
                        )
                    )
                return answers[0], answers[1], calls["tree"] - before

            yield app, client, send


def _operations(app: Any) -> list[tuple[str, str]]:
    """Every path of the OpenAPI document with every method any path has: the declared
    operations, and the requests that only partly match one (a 405) or match a neighbour
    (GET /v1/declarations/batch is the GET of /v1/declarations/{declaration_id})."""
    paths = app.openapi()["paths"]
    methods = {method.upper() for operations in paths.values() for method in operations}
    return [
        (method, re.sub(r"\{[^}]+\}", "x1", path))
        for path in paths
        for method in sorted(methods)
        if method != "HEAD"
    ]


def _scope(method: str, path: str) -> Scope:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


class TestEveryRouteIsReachedAsFastAPIReachesIt:
    async def test_every_operation_without_credentials(self, both_ways: Any) -> None:
        app, _, send = both_ways
        operations = _operations(app)
        assert len(operations) > 20
        for method, url in operations:
            flat, tree, tree_calls = await send(method, url, json={})
            assert flat == tree, (method, url)
            if flat[0] != 405:
                assert flat[1] is not None, (method, url)  # it reached a route
                assert tree_calls == 1, (method, url)  # only with the table switched off

    @pytest.mark.parametrize("role", ROLES)
    async def test_every_operation_signed_in(self, both_ways: Any, role: Role) -> None:
        # Past authentication, so each request reaches its route's own checks.
        app, client, send = both_ways
        if role == "citizen":
            headers = await sign_in_citizen(client)
        else:
            headers = await sign_in_staff(app.state.context, client, role, checkpoints=("x1",))
        for method, url in _operations(app):
            flat, tree, _ = await send(method, url, json={}, headers=headers)
            assert flat == tree, (method, url)

    async def test_fastapis_own_pages(self, both_ways: Any) -> None:
        _, _, send = both_ways
        for url in ("/openapi.json", "/docs"):
            flat, tree, tree_calls = await send("GET", url)
            assert flat == tree, url
            assert flat[0] == 200, url
            assert tree_calls == 1, url

    @pytest.mark.parametrize(
        ("method", "url", "status"),
        [
            ("GET", "/v1/no-such-thing", 404),
            ("DELETE", "/v1/declarations", 405),
            ("PUT", "/v1/checkpoints/x1/scans", 405),
        ],
    )
    async def test_what_matches_no_route_is_left_to_fastapi(
        self, both_ways: Any, method: str, url: str, status: int
    ) -> None:
        _, _, send = both_ways
        flat, tree, tree_calls = await send(method, url)
        assert flat == tree
        assert flat[0] == status
        assert tree_calls == 2  # the table found nothing and handed the request on


@asynccontextmanager
async def _flat_client(app: FastAPI) -> AsyncIterator[tuple[FlatDispatch, httpx.AsyncClient]]:
    """The flat table installed on `app`, and a client that sends requests through it."""
    dispatch = install(app)
    assert dispatch is not None
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield dispatch, client


class TestOrder:
    async def test_the_first_route_in_fastapis_order_wins(self) -> None:
        # Two routers that both match /items/special: FastAPI takes the one included first,
        # and so must the table. (The service's own routes never overlap like this.)
        first, second = APIRouter(), APIRouter()

        @first.get("/items/{item_id}")
        async def by_id(item_id: str) -> dict[str, str]:
            return {"by": "id"}

        @second.get("/items/special")
        async def special() -> dict[str, str]:
            return {"by": "literal"}

        @second.post("/items/{item_id}")
        async def change(item_id: str) -> dict[str, str]:
            return {"by": "change"}

        app = FastAPI()
        app.include_router(first)
        app.include_router(second)
        async with _flat_client(app) as (dispatch, client):
            assert (await client.get("/items/special")).json() == {"by": "id"}
            assert (await client.post("/items/special")).json() == {"by": "change"}
            assert (await client.put("/items/special")).status_code == 405
            assert dispatch.find(_scope("GET", "/items/special")) is not None

    async def test_a_route_added_after_the_first_request_is_found(self) -> None:
        # The table is built on the first request; a route added later, even to a router
        # included earlier, must take its place in FastAPI's order from the next request on.
        first, second = APIRouter(), APIRouter()

        @second.get("/items/{item_id}")
        async def by_id(item_id: str) -> dict[str, str]:
            return {"by": "id"}

        app = FastAPI()
        app.include_router(first, prefix="/items")
        app.include_router(second)
        async with _flat_client(app) as (dispatch, client):
            assert (await client.get("/items/special")).json() == {"by": "id"}

            @first.get("/special")
            async def special() -> dict[str, str]:
                return {"by": "literal"}

            assert (await client.get("/items/special")).json() == {"by": "literal"}
            found = dispatch.find(_scope("GET", "/items/special"))
            assert found is not None
            assert getattr(found[0].route, "path", None) == "/special"


class TestOtherFastAPIVersions:
    def test_a_version_not_checked_keeps_fastapis_routing(
        self, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Upgrading FastAPI must not let the table misroute on changed internals: it is only
        # switched on for the version this file's tests were run with.
        monkeypatch.setattr(fastapi, "__version__", "0.166.0")
        app = create_app(settings)
        assert not isinstance(app.router.middleware_stack, FlatDispatch)
        assert app.router.middleware_stack == app.router.app
