"""Routes are found by FastAPI's own router, with the hot routes (declaring, scanning)
included first (api/domains.py, HOT_ROUTERS). Moving them to the front must not change
which endpoint answers any request, and must spare them trying the other domains' routes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from api.app import create_app
from api.domains import HOT_ROUTERS
from core.settings import Settings
from web.lean import DirectRoute
from web.openapi import operation_id


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


def _operations(app: FastAPI) -> list[tuple[str, str, str]]:
    """(method, path template, operationId) of every operation in the OpenAPI document."""
    return [
        (method.upper(), path, operation["operationId"])
        for path, operations in app.openapi()["paths"].items()
        for method, operation in operations.items()
    ]


def _endpoints(app: FastAPI) -> dict[str, str]:
    """operationId → the name of the endpoint that serves it, from the routes themselves."""
    return {
        operation_id(route): route.endpoint.__name__
        for context in iter_route_contexts(app.routes)
        if isinstance(route := context.original_route, APIRoute)
    }


def _record_tries(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """The names of the routes a request is tried against, in order: the direct routes
    (`web.lean.DirectRoute`) and FastAPI's."""
    tried: dict[str, list[str]] = {"direct": [], "fastapi": []}
    for kind, cls in (("direct", DirectRoute), ("fastapi", APIRoute)):
        matches = cls.matches

        def counted(
            route: Route, scope: Scope, kind: str = kind, matches: Any = matches
        ) -> tuple[Match, Scope]:
            tried[kind].append(route.name)
            result: tuple[Match, Scope] = matches(route, scope)
            return result

        monkeypatch.setattr(cls, "matches", counted)
    return tried


class TestEveryOperationReachesItsOwnEndpoint:
    async def test_no_route_shadows_another(self, app: FastAPI) -> None:
        reached: list[str] = []

        async def recorded(scope: Scope, receive: Receive, send: Send) -> None:
            await app(scope, receive, send)
            if scope["type"] == "http":
                endpoint = scope.get("endpoint")
                reached.append(getattr(endpoint, "__name__", ""))

        transport = httpx.ASGITransport(app=recorded)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            operations = _operations(app)
            endpoints = _endpoints(app)
            assert len(operations) > 20
            for method, path, operation_id in operations:
                url = re.sub(r"\{[^}]+\}", "x1", path)
                await client.request(method, url, json={})
                assert reached[-1] == endpoints[operation_id], (method, path)


class TestHotRoutesAreTriedFirst:
    @pytest.mark.parametrize(
        ("url", "endpoint"),
        [("/v1/declarations", "declare"), ("/v1/checkpoints/x1/scans", "scan")],
    )
    async def test_a_hot_request_tries_no_other_domains_route(
        self, app: FastAPI, monkeypatch: pytest.MonkeyPatch, url: str, endpoint: str
    ) -> None:
        tried = _record_tries(monkeypatch)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post(url, json={})
        assert response.status_code == 401  # reached the endpoint's own sign-in check
        # Served by the direct route `web.lean.serve_directly` put first in the app's list:
        # no FastAPI route is tried at all.
        assert tried["direct"] <= ["declare", "scan"]
        assert tried["direct"][-1] == endpoint
        assert tried["fastapi"] == []

    def test_every_route_of_a_hot_router_is_a_hot_route(self) -> None:
        # Another route added to a hot router would be tried before every other domain's.
        hot = {
            (method, route.path)
            for router in HOT_ROUTERS
            for route in router.routes
            if isinstance(route, APIRoute)
            for method in route.methods or ()
        }
        assert hot == {
            ("POST", "/v1/declarations"),
            ("POST", "/v1/checkpoints/{checkpoint_id}/scans"),
            ("GET", "/v1/public/regions"),  # the public map, opened by a whole country
        }

    async def test_the_public_map_tries_only_hot_routes(
        self, app: FastAPI, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        tried = _record_tries(monkeypatch)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/v1/public/regions")
        assert response.status_code == 200
        assert set(tried["direct"] + tried["fastapi"]) <= {"declare", "scan", "regions"}


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class TestNoPathTemplateCatchesAnotherRoutesPath:
    async def test_a_method_a_path_does_not_serve_is_405_allowing_all_it_does(
        self, app: FastAPI
    ) -> None:
        # `GET /v1/declarations/{declaration_id}` used to serve GET on
        # `/v1/declarations/batch` (401, or 404 signed in), which serves only POST. Any
        # literal segment caught by another route's `{id}` the same way is found here.
        served: dict[str, set[str]] = {}
        for context in iter_route_contexts(app.routes):
            if isinstance(route := context.original_route, Route) and context.path_format:
                served.setdefault(context.path_format, set()).update(route.methods or ())
        assert "/v1/declarations/batch" in served
        assert served["/v1/questions"] == {"GET", "POST"}  # `OPTIONS` was `Allow: POST`
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for path, methods in served.items():
                url = re.sub(r"\{[^}]+\}", "x1", path)
                if "GET" in methods:
                    methods.add("HEAD")  # api.middleware.HeadAsGet answers it as the GET
                for method in set(METHODS) - methods:
                    response = await client.request(method, url, json={})
                    assert response.status_code == 405, (method, path, response.status_code)
                    # Every method served there, not only the first route's that fit.
                    allowed = set(response.headers["allow"].split(", "))
                    assert allowed == methods, (method, path, allowed)
