"""The routes served by handlers derived from their endpoints (`web.lean`) answer every bad
request exactly as FastAPI's own request handling answers it: same status, same problem,
same field errors, same order of checks. Each request is sent twice to one app, once through
the lean handler and once with the route switched back to FastAPI's handler. A parameter
added to an endpoint is read by its lean handler too, or the route is left to FastAPI."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from api.app import create_app
from api.domains import HOT_ROUTERS, ROUTERS
from checkpoints.schemas import ScanRequest
from core.context import Context
from core.settings import Settings
from qr.schemas import ResourceId
from tests.conftest import sign_in_citizen, sign_in_staff
from tests.declarations.conftest import declaration
from web.deps import CheckpointStaff, ContextDep
from web.lean import DirectRoute, LeanRoute, check_inclusions

JSON = {"Content-Type": "application/json"}

# Endpoints as a developer might extend `scan`: one more header, or a query parameter.
probes = APIRouter(prefix="/probe", route_class=LeanRoute)


class Echo(BaseModel):
    checkpoint_id: str
    trace: str | None


@probes.post("/{checkpoint_id}/header", response_model=Echo)
async def with_a_header(
    checkpoint_id: ResourceId,
    body: ScanRequest,
    ctx: ContextDep,
    staff: CheckpointStaff,
    request: Request,
    trace: Annotated[str, Header(alias="X-Trace", pattern="^[a-z]{3}$")],
    hint: Annotated[str | None, Header(max_length=4)] = None,
) -> Echo:
    return Echo(checkpoint_id=checkpoint_id, trace=f"{trace}/{hint}")


@probes.post("/{checkpoint_id}/query", response_model=Echo)
async def with_a_query(
    checkpoint_id: ResourceId, body: ScanRequest, staff: CheckpointStaff, page: int = 1
) -> Echo:
    return Echo(checkpoint_id=checkpoint_id, trace=str(page))


def _lean_routes() -> list[LeanRoute]:
    routes = [route for router in (*HOT_ROUTERS, *ROUTERS) for route in router.routes]
    return [r for r in routes if isinstance(r, LeanRoute) and r.lean]


def _comparable(response: httpx.Response) -> tuple[int, str, dict[str, Any]]:
    body = response.json()
    body.pop("request_id", None)
    return response.status_code, response.headers["content-type"], body


@pytest.fixture
async def both_ways(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Context, httpx.AsyncClient, Callable[..., Any]]]:
    """An app whose resolved routes can be switched to FastAPI's own handler; `send` makes
    one request both ways and returns both answers. Each way counts its calls, so a switch
    that did not take fails the test instead of comparing FastAPI with itself."""
    way = {"now": "lean"}
    calls = {"lean": 0, "generic": 0}
    resolved = LeanRoute.get_route_handler

    def switchable(route: LeanRoute) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handlers = {"lean": resolved(route), "generic": APIRoute.get_route_handler(route)}
        derived = route.derived
        if derived is not None:  # what the app's direct route serves (`serve_directly`)

            async def counted(request: Request) -> Response:
                calls["lean"] += 1
                return await derived(request)

            route.derived = counted

        async def handle(request: Request) -> Response:
            calls[way["now"]] += 1
            return await handlers[way["now"]](request)

        return handle

    monkeypatch.setattr(LeanRoute, "get_route_handler", switchable)
    # After the patch: FastAPI builds handlers when it routes. The probes below ride along.
    app = create_app(settings, extra_routers=(probes,))
    # The lean way goes through the direct routes `serve_directly` put first; the generic
    # way through FastAPI's own routing, without them.
    routes = {
        "lean": list(app.router.routes),
        "generic": [r for r in app.router.routes if not isinstance(r, DirectRoute)],
    }
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:

            async def send(method: str, url: str, **kwargs: Any) -> tuple[Any, Any]:
                before = dict(calls)
                way["now"] = "lean"
                app.router.routes[:] = routes["lean"]
                first = await client.request(method, url, **kwargs)
                way["now"] = "generic"
                app.router.routes[:] = routes["generic"]
                second = await client.request(method, url, **kwargs)
                assert calls == {w: n + 1 for w, n in before.items()}, "a way was not taken"
                return _comparable(first), _comparable(second)

            yield app.state.context, client, send


def test_every_lean_route_is_compared_below() -> None:
    # A parameter the lean handler cannot read leaves its route to FastAPI: the hot routes
    # would then be slower, and this test says so.
    served = {(method, r.path) for r in _lean_routes() for method in r.methods or ()}
    assert served == {
        ("POST", "/v1/declarations"),
        ("POST", "/v1/checkpoints/{checkpoint_id}/scans"),
    }


def _bodies() -> dict[str, tuple[bytes, dict[str, str]]]:
    valid = httpx.Request("POST", "/", json=declaration()).content
    bad_fields = declaration()
    bad_fields["person"]["id_number"] = "ABC!"
    bad_fields["address"]["province"] = 0
    bad_fields["unknown"] = 1
    missing = declaration()
    del missing["person"]
    return {
        "valid": (valid, JSON),
        "not json": (b'{"person": ', JSON),
        "not utf-8": (b'{"a": "\xff\xfe"}', JSON),
        "empty": (b"", JSON),
        "an array": (b"[1, 2]", JSON),
        "a string": (b'"declaration"', JSON),
        "a list for a section": (b'{"person": [1], "address": null}', JSON),
        "bad fields": (httpx.Request("POST", "/", json=bad_fields).content, JSON),
        "missing section": (httpx.Request("POST", "/", json=missing).content, JSON),
        "text/plain": (valid, {"Content-Type": "text/plain"}),
        "no content type": (valid, {}),
        "json with charset": (
            httpx.Request("POST", "/", json=bad_fields).content,
            {"Content-Type": "application/json; charset=utf-8"},
        ),
    }


@pytest.mark.parametrize("body_name", list(_bodies()))
@pytest.mark.parametrize("who", ["nobody", "bad scheme", "citizen", "clerk"])
async def test_declaring_answers_as_fastapi_would(
    both_ways: tuple[Context, httpx.AsyncClient, Callable[..., Any]], who: str, body_name: str
) -> None:
    ctx, client, send = both_ways
    content, headers = _bodies()[body_name]
    auth = await _auth(ctx, client, who)
    # No Idempotency-Key: a valid form then fails on it too, without storing anything.
    lean, generic = await send(
        "POST", "/v1/declarations", content=content, headers={**headers, **auth}
    )
    assert lean == generic
    assert 400 <= lean[0] < 500


@pytest.mark.parametrize(
    ("checkpoint", "content"),
    [
        ("cp_unknown", b'{"token": "not.a.token"}'),
        ("not%20an%20id!", b'{"token": "x"}'),
        ("not%20an%20id!", b'{"token": 5, "extra": 1}'),
        ("cp_unknown", b'{"token": '),
        ("cp_unknown", b""),
    ],
)
@pytest.mark.parametrize("who", ["nobody", "citizen", "clerk"])
async def test_scanning_answers_as_fastapi_would(
    both_ways: tuple[Context, httpx.AsyncClient, Callable[..., Any]],
    who: str,
    checkpoint: str,
    content: bytes,
) -> None:
    ctx, client, send = both_ways
    auth = await _auth(ctx, client, who)
    lean, generic = await send(
        "POST", f"/v1/checkpoints/{checkpoint}/scans", content=content, headers={**JSON, **auth}
    )
    assert lean == generic
    assert 400 <= lean[0] < 500


async def _auth(ctx: Context, client: httpx.AsyncClient, who: str) -> dict[str, str]:
    if who == "citizen":
        return await sign_in_citizen(client)
    if who == "clerk":
        return await sign_in_staff(ctx, client, "checkpoint_staff", checkpoints=("cp_unknown",))
    if who == "bad scheme":
        return {"Authorization": "Basic dXNlcjpwYXNz"}
    return {}


def _mutations(count: int) -> list[bytes]:
    """The valid form with one field replaced by a value of another kind, seeded."""
    rng = random.Random(2021)
    odd_values: list[Any] = [None, True, 0, -1, 10**20, 1.5, "", "x" * 300, [], [1], {}, {"a": 1}]
    bodies = []
    for _ in range(count):
        body = declaration()
        node: Any = body
        key: Any = rng.choice(list(node))
        while isinstance(node[key], dict | list) and node[key] and rng.random() < 0.7:
            node = node[key]
            key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        node[key] = rng.choice(odd_values)
        bodies.append(httpx.Request("POST", "/", json=body).content)
    return bodies


async def test_forms_with_one_odd_field_answer_as_fastapi_would(
    both_ways: tuple[Context, httpx.AsyncClient, Callable[..., Any]],
) -> None:
    _, client, send = both_ways
    citizen = await sign_in_citizen(client)
    for content in _mutations(150):
        lean, generic = await send(
            "POST", "/v1/declarations", content=content, headers={**JSON, **citizen}
        )
        assert lean == generic, content


class TestAnEndpointIsTheOnlyEntryPoint:
    async def test_a_header_added_to_an_endpoint_is_read_and_checked_the_same_way(
        self, both_ways: tuple[Context, httpx.AsyncClient, Callable[..., Any]]
    ) -> None:
        route = next(r for r in probes.routes if getattr(r, "name", "") == "with_a_header")
        assert isinstance(route, LeanRoute)
        assert route.lean
        ctx, client, send = both_ways
        clerk = await _auth(ctx, client, "clerk")
        for headers in (
            {},  # the required header missing
            {"X-Trace": "TOO LONG"},
            {"X-Trace": "abc", "Hint": "longer"},
            {"X-Trace": "abc", "Hint": "ok"},
            {"X-Trace": "abc"},
        ):
            for checkpoint in ("cp_unknown", "not%20an%20id!"):
                lean, generic = await send(
                    "POST",
                    f"/probe/{checkpoint}/header",
                    content=b'{"token": 5}' if checkpoint == "cp_unknown" else b'{"token": "x"}',
                    headers={**JSON, **clerk, **headers},
                )
                assert lean == generic, (headers, checkpoint)
            lean, generic = await send(
                "POST",
                "/probe/cp_unknown/header",
                content=b'{"token": "x"}',
                headers={**JSON, **clerk, **headers},
            )
            assert lean == generic, headers
        assert lean == (
            200,
            "application/json",
            {"checkpoint_id": "cp_unknown", "trace": "abc/None"},
        )

    async def test_a_parameter_kind_it_does_not_read_leaves_the_route_to_fastapi(
        self, both_ways: tuple[Context, httpx.AsyncClient, Callable[..., Any]]
    ) -> None:
        route = next(r for r in probes.routes if getattr(r, "name", "") == "with_a_query")
        assert isinstance(route, LeanRoute)
        assert not route.lean
        assert "`page`" in route.not_lean
        ctx, client, _ = both_ways
        clerk = await _auth(ctx, client, "clerk")
        answer = await client.post(
            "/probe/cp_unknown/query?page=3", content=b'{"token": "x"}', headers={**JSON, **clerk}
        )
        assert answer.json() == {"checkpoint_id": "cp_unknown", "trace": "3"}

    def test_every_lean_route_of_the_app_is_checked_and_served_directly(
        self, settings: Settings
    ) -> None:
        """Start-up walks only what the hot routers' inclusions added (api/app.py): a lean
        route included anywhere else would escape the inclusion check."""
        app = create_app(settings)
        everywhere = [
            context.original_route
            for context in iter_route_contexts(app.routes)
            if isinstance(context.original_route, LeanRoute) and context.original_route.lean
        ]
        direct = [route for route in app.routes if isinstance(route, DirectRoute)]
        assert len(everywhere) >= 2  # the declaration and the scan
        assert sorted(r.path for r in direct) == sorted(r.path for r in everywhere)

    def test_a_lean_route_included_with_dependencies_stops_start_up(
        self, settings: Settings
    ) -> None:
        # Its handler is derived from the route alone and would not run them.
        async def audit() -> None:
            return None

        app = create_app(settings)
        app.include_router(probes, dependencies=[Depends(audit)])
        with pytest.raises(RuntimeError, match="included with dependencies"):
            check_inclusions(app.routes)
