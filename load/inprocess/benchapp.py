"""The application as served, plus two bench-only routes: `POST /bench/noop` and
`POST /bench/noop-resolved`.

The first measures the ceiling of this stack on this machine — uvicorn, the edge
middleware, FastAPI's routing, JSON parsing and pydantic validation of a body shaped like a
declaration, a small JSON answer — with no authentication, storage or signing. Every real
endpoint is then reported as a share of it. The second is the same no-op served the way
declaration submit and checkpoint scan are served (a handler derived from the endpoint,
`web.lean`), so their share can also be read against a ceiling that skips what they skip.

They are mounted by this factory only (`uvicorn load.inprocess.benchapp:bench_app --factory`), which
`khaibao bench` starts; `khaibao serve` and `api.app` never import this module, so the routes
cannot reach production by a forgotten variable.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from api.app import app_from_environment
from core.clock import new_id, utcnow
from load.naive import Answer as NoopAnswer
from load.naive import DeclarationBody as NoopBody
from web.lean import LeanRoute

# The body model is the naive peer's (load/naive.py), so Khaibao's no-op and the bare
# FastAPI no-op validate the very same model and differ only by what serves them.


router = APIRouter(prefix="/bench", include_in_schema=False)
# The same no-op served the way submit and scan are: by a handler derived from the endpoint.
lean_router = APIRouter(prefix="/bench", include_in_schema=False, route_class=LeanRoute)


@router.post("/noop", status_code=201, response_model=NoopAnswer)
async def noop(body: NoopBody) -> NoopAnswer:
    return NoopAnswer(id=new_id("noop"), status="green", created_at=utcnow().isoformat())


@lean_router.post("/noop-resolved", status_code=201, response_model=NoopAnswer)
async def noop_resolved(body: NoopBody) -> NoopAnswer:
    """The same no-op, its body read the way submit's and scan's are (web.lean): the
    ceiling for those two routes without FastAPI's generic handling."""
    return await noop(body)


def bench_app() -> FastAPI:
    # Routes are matched in order. Mounted last, the no-ops would pay for trying every other
    # route first and understate the ceiling; right after the hot routes (submit, scan) they
    # are found about as early as those are.
    return app_from_environment(extra_routers=(router, lean_router))
