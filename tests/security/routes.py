"""Every route the application serves, read from `app.routes` itself, so a test built on
this list cannot silently miss a route another domain adds later."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI

# HEAD is served by every GET route; its answer is the GET's without a body.
IMPLIED_METHODS = frozenset({"HEAD"})


def _flatten(routes: Iterable[Any]) -> Iterator[Any]:
    try:  # FastAPI ≥ 0.160 keeps included routers as one entry each
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI lists every route flat
        yield from routes
        return
    yield from iter_route_contexts(list(routes))


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of everything the app answers. A mount or a websocket (no
    methods) is listed as `("*", path)`, so it too must be named in the tables."""
    found: set[tuple[str, str]] = set()
    for route in _flatten(app.routes):
        path = getattr(route, "path", None)
        if path is None:
            continue
        methods = getattr(route, "methods", None) or {"*"}
        found.update((m, str(path)) for m in set(methods) - IMPLIED_METHODS)
    return found
