"""The optional scheduled refresh of the trust list, from a real HTTP server on 127.0.0.1
serving a trust bundle (the border the refresh crosses): it adds, replaces and removes only
its own entries, moves the version only on a change, and survives a bad URL or entry."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from certificates import repository
from certificates.refresh import celery_enqueue, refresh_trust
from certificates.scanning import trust_list
from core.context import Context
from core.storage import Delete, Document, Store
from tests.certificates.dcc_revocations import (
    ALLOWED_VECTORS,
    checked_at_clock,
    others,
    spec_hashes,
    vector,
)
from tests.certificates.issuers import VECTORS, EuSigner, example_crl, example_jwks
from tests.checkpoints.helpers import staff_headers
from tests.conftest import make_settings
from tests.notifications.conftest import (
    SHARED_REDIS,
    WorkerFactory,
    eventually,
    namespace,  # noqa: F401 (the fixture: a Redis key prefix of this test alone)
    running_app,
    worker_env,
)
from tests.notifications.gateway import FakeSmsGateway

AUSTRIA = json.loads((VECTORS / "eu-dcc/AT/2DCode/raw/1.json").read_text())
SHC_ISSUER = "https://spec.smarthealth.cards/examples/issuer"


class BundleServer:
    """Serves whatever `bundle` holds at /trust.json; anything else is 404."""

    def __init__(self) -> None:
        self.bundle: dict[str, Any] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/trust.json":
                    self.send_error(404)
                    return
                body = json.dumps(owner.bundle).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/trust.json"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served() -> Iterator[BundleServer]:
    server = BundleServer()
    server.bundle = {
        "dcc_signers": [{"certificate": AUSTRIA["TESTCTX"]["CERTIFICATE"], "country": "AT"}],
        "shc_issuers": [
            {"iss": SHC_ISSUER, "jwks": example_jwks(), "crl": example_crl(), "country": "US"}
        ],
    }
    yield server
    server.close()


async def running(database_url: str, **overrides: Any) -> Any:
    app = create_app(make_settings(database_url, **overrides))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def refreshing(database_url: str) -> Any:
    """The app without a schedule of its own: each test refreshes when it says so."""
    async for app in running(database_url):
        yield app


@pytest.fixture
async def scheduled(database_url: str, served: BundleServer) -> Any:
    """The app with KHAIBAO_TRUST_REFRESH_URLS set: its lifespan refreshes on schedule."""
    async for app in running(database_url, trust_refresh_urls=served.url):
        yield app


def urls(served: BundleServer) -> list[str]:
    return [served.url, "http://127.0.0.1:9/none"]  # nothing listens on the second


def ctx_of(app: FastAPI) -> Context:
    context: Context = app.state.context
    return context


class TestRefresh:
    async def test_a_refresh_loads_the_bundle_and_a_second_changes_nothing(
        self, refreshing: FastAPI, served: BundleServer
    ) -> None:
        ctx = ctx_of(refreshing)
        first = await refresh_trust(ctx, urls=urls(served))
        trusted = await trust_list(ctx)
        assert [s.country for s in trusted.dcc_signers.values()] == ["AT"]
        assert list(trusted.shc_issuers) == [SHC_ISSUER]
        assert first.failed_urls == ["http://127.0.0.1:9/none"]  # nothing listens there
        again = await refresh_trust(ctx, urls=urls(served))
        assert (again.changed, again.version) == (0, first.version)

    async def test_what_the_bundle_drops_is_removed_but_admin_entries_stay(
        self, refreshing: FastAPI, served: BundleServer
    ) -> None:
        ctx = ctx_of(refreshing)
        await refresh_trust(ctx, urls=urls(served))
        own = EuSigner("VN")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=refreshing), base_url="http://testserver"
        ) as client:
            added = await client.post(
                "/v1/trust/dcc-signers",
                json={"certificate": own.certificate_b64, "country": "VN"},
                headers=await staff_headers(ctx, "admin"),
            )
            assert added.status_code == 201
        served.bundle = {"dcc_signers": [], "shc_issuers": []}
        outcome = await refresh_trust(ctx, urls=urls(served))
        assert outcome.changed == 2
        trusted = await trust_list(ctx)
        assert [s.country for s in trusted.dcc_signers.values()] == ["VN"]
        assert trusted.shc_issuers == {}
        audit = await ctx.store.find("audit_log", {})
        assert any(entry.get("action") == "trust.refresh" for entry in audit)

    async def test_an_entry_that_does_not_check_out_is_skipped(
        self, refreshing: FastAPI, served: BundleServer
    ) -> None:
        served.bundle["dcc_signers"].append({"certificate": "bm9wZQ==", "country": "XX"})
        served.bundle["shc_issuers"].append({"iss": "not a url", "jwks": {}})
        outcome = await refresh_trust(ctx_of(refreshing), urls=urls(served))
        assert outcome.skipped == 2
        assert outcome.changed == 2

    async def test_the_schedule_runs_in_process_without_a_broker(self, scheduled: FastAPI) -> None:
        ctx = ctx_of(scheduled)
        for _ in range(200):  # the first scheduled refresh starts with the app
            if await repository.trust_version(ctx.store) > 0:
                break
            await asyncio.sleep(0.05)
        assert len((await trust_list(ctx)).dcc_signers) == 1


@pytest.mark.usefixtures("namespace")
class TestCeleryRefresh:
    async def test_with_a_broker_the_worker_refreshes_and_the_api_reads_it(
        self,
        database_url: str,
        served: BundleServer,
        gateway: FakeSmsGateway,
        workers: WorkerFactory,
    ) -> None:
        """The API publishes the task; a real `khaibao worker` fetches the bundle from the
        local server into the shared store; the API's next scan-side read sees it."""
        urls = {"KHAIBAO_TRUST_REFRESH_URLS": served.url}
        workers.start(worker_env(database_url, SHARED_REDIS, gateway, **urls), wait=False)
        async with running_app(
            database_url, redis_url=SHARED_REDIS, trust_refresh_urls=served.url
        ) as running:
            enqueue = celery_enqueue(running.ctx)
            assert enqueue is not None
            assert await enqueue()

            async def loaded() -> bool:
                return len((await trust_list(running.ctx)).dcc_signers) == 1

            await eventually(loaded, what="the worker's refresh", context=workers.logs)
            audit = await running.ctx.store.find("audit_log", {})
            assert [e["user"] for e in audit if e.get("action") == "trust.refresh"] == [
                "system:trust-refresh"
            ]


def kid_of(certificate_b64: str) -> str:
    """The EU kid, computed here: the first 8 bytes of the SHA-256 of the certificate's DER."""
    return base64.b64encode(hashlib.sha256(base64.b64decode(certificate_b64)).digest()[:8]).decode()


class TestRevocationListsInTheBundle:
    """A bundle may carry revocation lists, the admin endpoint's shape, for its signers or
    ones already trusted; they are loaded, replaced and dropped like the bundle's signers."""

    @pytest.fixture
    def austria(self) -> dict[str, Any]:
        return vector(ALLOWED_VECTORS[0][0])

    def bundle(self, case: dict[str, Any], *lists: dict[str, Any]) -> dict[str, Any]:
        signer = {"certificate": case["TESTCTX"]["CERTIFICATE"], "country": "AT"}
        return {"dcc_signers": [signer], "dcc_revocations": list(lists)}

    async def test_a_list_revokes_until_the_bundle_drops_it(
        self, refreshing: FastAPI, served: BundleServer, austria: dict[str, Any]
    ) -> None:
        ctx = ctx_of(refreshing)
        kid = kid_of(austria["TESTCTX"]["CERTIFICATE"])
        revoked = spec_hashes(austria["PREFIX"])["UCI"]
        uci = {"kid": kid, "hash_type": "UCI", "hashes": [*others(), revoked]}
        served.bundle = self.bundle(austria, uci)
        loaded = await refresh_trust(ctx, urls=[served.url])
        assert (loaded.changed, loaded.skipped, loaded.failed_urls) == (2, 0, [])
        assert (await checked_at_clock(ctx, austria))["revocation"] == "failed:revoked"
        again = await refresh_trust(ctx, urls=[served.url])
        assert (again.changed, again.version) == (0, loaded.version)

        served.bundle = self.bundle(austria, {**uci, "hashes": others()})
        assert (await refresh_trust(ctx, urls=[served.url])).changed == 1
        assert (await checked_at_clock(ctx, austria))["revocation"] == "ok:ok"

        served.bundle = self.bundle(austria)
        assert (await refresh_trust(ctx, urls=[served.url])).changed == 1
        result = await checked_at_clock(ctx, austria)
        assert (result["revocation"], result["decision"]) == ("skipped:no_revocation_list", "allow")

    async def test_a_list_for_no_trusted_signer_is_skipped_and_an_admins_list_stays(
        self, refreshing: FastAPI, served: BundleServer, austria: dict[str, Any]
    ) -> None:
        ctx = ctx_of(refreshing)
        admin = await staff_headers(ctx, "admin")
        own = EuSigner("VN")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=refreshing), base_url="http://testserver"
        ) as client:
            added = await client.post(
                "/v1/trust/dcc-signers",
                json={"certificate": own.certificate_b64, "country": "VN"},
                headers=admin,
            )
            own_kid = added.json()["kid"]
            body = {"kid": own_kid, "hash_type": "UCI", "hashes": others(2)}
            posted = await client.post("/v1/trust/dcc-revocations", json=body, headers=admin)
            assert posted.status_code == 201, posted.text
            stranger = kid_of(EuSigner("FR").certificate_b64)
            served.bundle = self.bundle(
                austria,
                {"kid": stranger, "hash_type": "UCI", "hashes": others()},  # nobody trusts it
                {"kid": own_kid, "hash_type": "UCI", "hashes": others(5)},  # the admin's
                {"kid": own_kid, "hash_type": "SIGNATURE", "hashes": others(1)},
            )
            outcome = await refresh_trust(ctx, urls=[served.url])
            assert (outcome.changed, outcome.skipped) == (2, 1)
            lists = (await client.get("/v1/trust/dcc-revocations", headers=admin)).json()
        counts = {(item["kid"], item["hash_type"]): item["count"] for item in lists["lists"]}
        assert counts == {(own_kid, "UCI"): 2, (own_kid, "SIGNATURE"): 1}

    async def test_a_signer_the_bundle_drops_takes_its_lists(
        self, refreshing: FastAPI, served: BundleServer, austria: dict[str, Any]
    ) -> None:
        ctx = ctx_of(refreshing)
        kid = kid_of(austria["TESTCTX"]["CERTIFICATE"])
        served.bundle = self.bundle(austria, {"kid": kid, "hash_type": "UCI", "hashes": others()})
        await refresh_trust(ctx, urls=[served.url])
        served.bundle = {"dcc_signers": [], "dcc_revocations": []}
        assert (await refresh_trust(ctx, urls=[served.url])).changed == 2  # signer and list
        assert await repository.dcc_revocations(ctx.store) == []

    async def test_an_admin_untrusting_the_signer_meanwhile_leaves_no_orphan_list(
        self,
        refreshing: FastAPI,
        served: BundleServer,
        austria: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        ctx = ctx_of(refreshing)
        served.bundle = self.bundle(austria)
        await refresh_trust(ctx, urls=[served.url])  # the signer, trusted already
        kid = kid_of(austria["TESTCTX"]["CERTIFICATE"])
        served.bundle = self.bundle(austria, {"kid": kid, "hash_type": "UCI", "hashes": others()})
        read_lists = repository.dcc_revocations

        async def untrusted_after_the_signers_were_read(store: Store) -> list[Document]:
            await store.write([Delete("trust_dcc_signers", {"_id": kid})])
            return await read_lists(store)

        monkeypatch.setattr(repository, "dcc_revocations", untrusted_after_the_signers_were_read)
        outcome = await refresh_trust(ctx, urls=[served.url])
        monkeypatch.undo()
        assert (outcome.changed, outcome.failed_urls) == (0, [served.url])
        assert await repository.dcc_revocations(ctx.store) == []
