"""The peer Khaibao is measured against: the declaration service a team would write first.

FastAPI, a pydantic model of the same declaration body, and one durable SQLite commit per
request (WAL, `synchronous=FULL`). No authentication, encryption, idempotency, rules,
limits or metrics: nothing Khaibao does beyond storing the body. Its `POST /bench/noop`
is the bare FastAPI no-op: the same body parsed and validated, a small answer, no
middleware. `khaibao bench` serves it with the same uvicorn settings as the service
(`api.serve`) and drives both in the same run, interleaved.

It imports nothing of Khaibao's, so what it measures is FastAPI, pydantic and SQLite on this
machine. The connection is used on the event loop, as the simplest version would: one
writer, no thread hop, no lock contention between threads, which is the faster of the two
obvious ways (a `def` endpoint in the thread pool is the other) and so the harder target.

    python -m api.serve --app load.naive:naive_app   (KHAIBAO_NAIVE_DATABASE: the file)
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

DATABASE_VARIABLE = "KHAIBAO_NAIVE_DATABASE"

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


class DeclarationBody(BaseModel):
    """The declaration body (API.md), as a pydantic model a team would write from it."""

    model_config = ConfigDict(extra="forbid")
    person: _Person
    address: _Address
    symptoms: list[Annotated[str, StringConstraints(max_length=40)]] = []
    exposure: _Exposure
    chronic_conditions: list[Annotated[str, StringConstraints(max_length=40)]] = []
    pregnant: bool = False
    travel: _Travel = _Travel()


class Answer(BaseModel):
    id: str
    status: Literal["green", "yellow", "red"]
    created_at: str


def open_database(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")  # every commit on disk before the answer
    conn.execute(
        "CREATE TABLE IF NOT EXISTS declarations "
        "(id TEXT PRIMARY KEY, created_at TEXT NOT NULL, body TEXT NOT NULL)"
    )
    return conn


def naive_app() -> FastAPI:
    path = os.environ.get(DATABASE_VARIABLE, "naive.sqlite3")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = open_database(path)
        yield
        app.state.db.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/bench/noop", status_code=201, response_model=Answer)
    async def noop(body: DeclarationBody) -> Answer:
        now = datetime.now(UTC).isoformat()
        return Answer(id=uuid.uuid4().hex, status="green", created_at=now)

    @app.post("/v1/declarations", status_code=201, response_model=Answer)
    async def declare(body: DeclarationBody, request: Request) -> Answer:
        answer = Answer(
            id=uuid.uuid4().hex, status="green", created_at=datetime.now(UTC).isoformat()
        )
        db: sqlite3.Connection = request.app.state.db
        db.execute(
            "INSERT INTO declarations (id, created_at, body) VALUES (?, ?, ?)",
            (answer.id, answer.created_at, json.dumps(body.model_dump(mode="json"))),
        )  # autocommit: one durable transaction per request
        return answer

    return app
