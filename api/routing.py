"""Requests find their route in a flat table, by method, instead of FastAPI's router tree.

Since FastAPI 0.137, `include_router` keeps each router as a node matched on every request:
a request tries every route of every earlier router, setting and restoring scope keys for
each, then the chosen router is matched a second time to handle it. For a checkpoint scan,
near the end of the tree, that was ≈ 140 µs of CPU per request, against ≈ 40 µs for a route
near the start (BENCHMARKS.md, "Routing").

`install(app)` puts a dispatcher in place of the app router's own loop. On the first
request, and again whenever a route is added, it builds the list FastAPI walks — each route
with the settings its inclusion gave it (FastAPI's "effective route context"), in the same
order — and groups it by method. A
request goes to the first route of its method that matches fully, exactly where FastAPI
would send it. Everything else (no match, so a 404, 405 or trailing-slash redirect; a
lifespan event) goes to FastAPI's own loop unchanged. The tree itself is untouched, so the
OpenAPI document and `url_path_for` are FastAPI's.

This reads FastAPI internals (`fastapi.routing._IncludedRouter` and friends), so it is
switched on only for the FastAPI version it was checked against (`CHECKED_WITH`, the one
pinned in constraints.txt); with any other the app routes through FastAPI's tree as before.
What the dispatcher does not recognise it leaves to FastAPI: the table stops at the first
route it cannot reproduce, and the routes after it go through the tree.

Two things keep the table cheap per request. A route is only tried when the request's path
starts with the route's literal head (its path up to the first parameter): a path the route
cannot match is skipped with one string comparison instead of a regex match. And the table
notices added routes through a generation counter every router bumps when its routes change,
instead of FastAPI's recursive walk of every router on every request.
`tests/api/test_routing.py` sends a request to every route both ways and requires the
same route, status and body.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import fastapi
from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

# The FastAPI versions whose internals this was checked against (tests/api/test_routing.py).
# Any other version keeps FastAPI's own routing: slower, never wrong.
CHECKED_WITH = ("0.165.",)
if fastapi.__version__.startswith(CHECKED_WITH):
    from fastapi.telemetry._api import _route_selected

    _IncludedRouter = fastapi_routing._IncludedRouter


class _Generation:
    """Counts route changes on every APIRouter of the process: FastAPI bumps a router's own
    version whenever a route is added or included (`_mark_routes_changed`), and the table is
    rebuilt when this count has moved since it was built."""

    value = 0

    @classmethod
    def follow(cls, mark: Callable[[fastapi_routing.APIRouter], None]) -> Callable[..., None]:
        def mark_and_count(router: fastapi_routing.APIRouter) -> None:
            mark(router)
            cls.value += 1

        mark_and_count.__wrapped__ = mark  # type: ignore[attr-defined]
        return mark_and_count

    @classmethod
    def install(cls) -> None:
        mark = fastapi_routing.APIRouter._mark_routes_changed
        if not hasattr(mark, "__wrapped__"):
            fastapi_routing.APIRouter._mark_routes_changed = cls.follow(mark)  # type: ignore[method-assign]


@dataclass(frozen=True)
class _Entry:
    """One route as FastAPI would dispatch to it: `context` is set for a route reached
    through `include_router`, None for one added to the app itself."""

    route: BaseRoute
    context: Any
    methods: frozenset[str] | None  # None: any method
    path_format: str | None

    @property
    def head(self) -> str:
        """The path up to the first parameter: a request path that does not start with it
        cannot match."""
        return (self.path_format or "").partition("{")[0]

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self.context is None:
            return self.route.matches(scope)
        match, child_scope = self.context.matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self.route
        return match, child_scope


def _entries(routes: list[BaseRoute]) -> Iterator[_Entry | None]:
    """The routes FastAPI's loop tries, in its order; None where one cannot be reproduced."""
    for route in routes:
        if isinstance(route, _IncludedRouter):
            if route.include_context.form_limits:
                yield None  # form limits are applied while walking the tree
                return
            for context in route.effective_route_contexts():
                if not isinstance(context.original_route, fastapi_routing.APIRoute):
                    yield None  # a mount, host or frontend route: its own matching
                    return
                yield _Entry(
                    context.original_route,
                    context,
                    frozenset(context.methods) if context.methods else None,
                    context.path_format,
                )
        elif isinstance(route, Route):  # FastAPI's own pages (/docs) and app-level routes
            methods = route.methods
            yield _Entry(route, None, frozenset(methods) if methods else None, route.path_format)
        else:
            yield None
            return


class FlatDispatch:
    """Stands in for `app.router.app`; see the module docstring."""

    def __init__(self, router: fastapi_routing.APIRouter, tree: ASGIApp) -> None:
        self.router = router
        self.tree = tree
        self.enabled = True
        self._by_method: dict[str, list[tuple[str, _Entry]]] = {}
        self._any_method: list[tuple[str, _Entry]] = []
        self._generation: int | None = None

    def _build(self) -> dict[str, list[tuple[str, _Entry]]]:
        entries: list[_Entry] = []
        for entry in _entries(self.router.routes):
            if entry is None:
                break
            entries.append(entry)
        methods = {m for entry in entries for m in entry.methods or ()}
        self._any_method = [(e.head, e) for e in entries if e.methods is None]
        return {
            method: [(e.head, e) for e in entries if e.methods is None or method in e.methods]
            for method in methods
        }

    def find(self, scope: Scope) -> tuple[_Entry, Scope] | None:
        """The route FastAPI would handle this request with, when it is in the table."""
        if _Generation.value != self._generation:
            self._generation = _Generation.value
            self._by_method = self._build()
        path = get_route_path(scope)
        for head, entry in self._by_method.get(scope["method"], self._any_method):
            if not path.startswith(head):
                continue
            match, child_scope = entry.matches(scope)
            if match is Match.FULL:
                return entry, child_scope
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.find(scope) if self.enabled and scope["type"] == "http" else None
        if found is None:
            await self.tree(scope, receive, send)
            return
        entry, child_scope = found
        scope.setdefault("router", self.router)
        fastapi_routing._update_scope(scope, child_scope)
        _route_selected(scope=scope, path=entry.path_format)
        if entry.context is not None:
            key = fastapi_routing._FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY
            fastapi_routing._get_fastapi_scope(scope)[key] = entry.context
        await entry.route.handle(scope, receive, send)


def install(app: FastAPI) -> FlatDispatch | None:
    """Dispatch `app`'s requests through a flat table; None (and FastAPI's tree as before)
    where the app router has settings of its own that its loop applies, or FastAPI is not
    a version this was checked against."""
    if not fastapi.__version__.startswith(CHECKED_WITH):
        log.info("FastAPI %s: routing through its router tree", fastapi.__version__)
        return None
    router = app.router
    if router.middleware_stack != router.app or router.form_limits:
        return None
    _Generation.install()
    dispatch = FlatDispatch(router, router.app)
    router.middleware_stack = dispatch
    return dispatch
