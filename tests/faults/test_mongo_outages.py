"""MongoDB failing under the API (issue 26): a timeout or a stepped-down primary answers 503
with Retry-After, never 500; a retry of an acknowledged declaration is replayed, not stored
twice; and expiry is left to the TTL indexes.

These run on MongoDB whatever KHAIBAO_TEST_BACKEND says: the stand-in, or the real server
named by KHAIBAO_TEST_MONGODB_URL (failpoints need a server with test commands enabled).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from core.context import Context
from tests.conftest import _mongo_database_url, make_settings, sign_in_citizen
from tests.declarations.conftest import declaration
from tests.mongo_standin import MongoStandin


@pytest.fixture
async def mongo_app(mongo_url: str) -> AsyncIterator[FastAPI]:
    # Short, so a commit whose outcome is unknown gives up soon; not so short that the stand-in,
    # a Python process on a loaded CI machine, misses it on an ordinary write (600 ms did once).
    settings = make_settings(_mongo_database_url(mongo_url), mongodb_timeout_ms=3000)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(mongo_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=mongo_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def _failpoint(ctx: Context, mode: Any, **data: Any) -> None:
    client = ctx.store.database.client  # type: ignore[attr-defined]
    await client.admin.command("configureFailPoint", "failCommand", mode=mode, data=data)


class TestTimeoutsAnswer503:
    """Finding 3: write-concern and execution timeouts surfaced as 500s that skipped the
    idempotent replay."""

    async def test_a_timed_out_write_is_503_with_retry_after_and_the_retry_is_stored(
        self, mongo_app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        ctx: Context = mongo_app.state.context
        headers = {**await sign_in_citizen(client), "Idempotency-Key": "k-timeout"}
        await _failpoint(ctx, "alwaysOn", failCommands=["bulkWrite", "insert"], errorCode=50)
        try:
            refused = await client.post("/v1/declarations", json=declaration(), headers=headers)
        finally:
            await _failpoint(ctx, "off")
        assert refused.status_code == 503, refused.text
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert await ctx.store.count("declarations", {}) == 0
        stored = await client.post("/v1/declarations", json=declaration(), headers=headers)
        assert stored.status_code == 201, stored.text

    async def test_a_commit_with_an_unknown_outcome_is_replayed_not_stored_twice(
        self, mongo_app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        # The commit took effect but no majority confirmed it in time: the answer must not
        # be a 500, and the retry gets the stored declaration back.
        ctx: Context = mongo_app.state.context
        headers = {**await sign_in_citizen(client), "Idempotency-Key": "k-unknown"}
        wce = {"code": 64, "errmsg": "waiting for replication timed out"}
        await _failpoint(ctx, "alwaysOn", failCommands=["commitTransaction"], writeConcernError=wce)
        try:
            first = await client.post("/v1/declarations", json=declaration(), headers=headers)
        finally:
            await _failpoint(ctx, "off")
        assert first.status_code in (201, 503), first.text
        again = await client.post("/v1/declarations", json=declaration(), headers=headers)
        assert again.status_code == 201, again.text
        if first.status_code == 201:
            assert again.json()["id"] == first.json()["id"]
        assert await ctx.store.count("declarations", {}) == 1


class TestExpiry:
    """Finding 7: the purge loop ran unbounded delete_many on MongoDB beside the TTL
    indexes."""

    async def test_no_process_deletes_expired_documents_itself_on_mongodb(
        self, mongo_url: str, mongo_standin: MongoStandin | None
    ) -> None:
        if mongo_standin is None:
            pytest.skip("reads the stand-in's command log")
        settings = make_settings(_mongo_database_url(mongo_url))
        mongo_standin.backend.clear_log()
        application = create_app(settings)
        async with application.router.lifespan_context(application):
            await asyncio.sleep(0.3)  # the purge loop's first round ran at once
            ctx: Context = application.state.context
            assert ctx.store.expires_by_itself
            name = ctx.store.database.name  # type: ignore[attr-defined]
        sent = list(mongo_standin.backend.log)
        deletes = [command for command in sent if "delete" in command and command["$db"] == name]
        assert deletes == []
