"""The application as served, plus two bench-only routes: `POST /bench/noop` and
`POST /bench/noop-resolved`.

The first measures the ceiling of this stack on this machine — uvicorn, the edge
middleware, FastAPI's routing, JSON parsing and pydantic validation of a body shaped like a
declaration, a small JSON answer — with no authentication, storage or signing. Every real
endpoint is then reported as a share of it. The second is the same no-op served the way
declaration submit and checkpoint scan are served (a handler derived from the endpoint,
`web.lean`), so their share can also be read against a ceiling that skips what they skip.

They are mounted by this factory only (`uvicorn load.benchapp:bench_app --factory`), which
`khaibao bench` starts; `khaibao serve` and `api.app` never import this module, so the routes
cannot reach production by a forgotten variable.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.app import app_from_environment
from core.clock import new_id, utcnow
from web.lean import LeanRoute

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class _Person(BaseModel):
    model_config = ConfigDict(extra="forbid")
    full_name: Name
    relation: Literal["self", "child", "parent", "other"] = "self"
    id_number: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{6,12}$")]
    birth_year: int = Field(ge=1900, le=2100)
    gender: Literal["male", "female", "other"]
    nationality: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    phone: Annotated[str, StringConstraints(max_length=32)] | None = None


class _Address(BaseModel):
    model_config = ConfigDict(extra="forbid")
    province: int = Field(ge=1, le=99)
    ward: int = Field(ge=1, le=99999)
    street: Name


class _Exposure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confirmed_case: bool
    suspected_case: bool
    from_affected_area: bool
    symptomatic_contact: bool


class _Trip(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vehicle: Annotated[str, StringConstraints(max_length=20)]
    from_province: int = Field(ge=1, le=99)
    to_province: int = Field(ge=1, le=99)
    date: date


class _Travel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    countries: list[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]] = []
    domestic: list[_Trip] = []


class NoopBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    person: _Person
    address: _Address
    symptoms: list[Annotated[str, StringConstraints(max_length=40)]] = []
    exposure: _Exposure
    chronic_conditions: list[Annotated[str, StringConstraints(max_length=40)]] = []
    pregnant: bool = False
    travel: _Travel = _Travel()


class NoopAnswer(BaseModel):
    id: str
    status: Literal["green", "yellow", "red"]
    created_at: str


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
