"""CSCAs in a trust bundle (served by a real HTTP server on 127.0.0.1): the bundle's
signers are checked against the CSCAs trusted once the refresh commits, a signer none of
them issued is skipped, and a CSCA the bundle drops takes the signers it vouched for."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from certificates import repository, scanning
from certificates.refresh import refresh_trust
from certificates.trust import kid_text
from core.context import Context
from core.storage import Delete, Document, Store
from tests.certificates.issuers import EuCsca, EuSigner
from tests.certificates.test_refresh import BundleServer, ctx_of, running
from tests.checkpoints.helpers import staff_headers


@pytest.fixture
def served() -> Iterator[BundleServer]:
    server = BundleServer()
    yield server
    server.close()


@pytest.fixture
async def refreshing(database_url: str) -> Any:
    async for app in running(database_url):
        yield app


def repository_kid(signer: EuSigner) -> str:
    return kid_text(signer.kid)


def entry(certificate: EuCsca | EuSigner) -> dict[str, str]:
    return {"certificate": certificate.certificate_b64, "country": certificate.country}


async def stored_signers(ctx: Context) -> dict[str, Any]:
    return {d["_id"]: d.get("csca") for d in await repository.dcc_signers(ctx.store)}


def admin_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


class TestCscasInTheBundle:
    async def test_the_bundles_signers_must_chain_to_the_bundles_csca(
        self, refreshing: FastAPI, served: BundleServer
    ) -> None:
        ctx = ctx_of(refreshing)
        csca = EuCsca("DE")
        vouched, forged, french = EuSigner("DE", issuer=csca), EuSigner("DE"), EuSigner("FR")
        served.bundle = {
            "dcc_cscas": [entry(csca)],
            "dcc_signers": [entry(vouched), entry(forged), entry(french)],
        }
        outcome = await refresh_trust(ctx, urls=[served.url])
        assert (outcome.changed, outcome.skipped, outcome.failed_urls) == (3, 1, [])
        signers = await stored_signers(ctx)
        assert signers == {
            repository_kid(vouched): csca.id,
            repository_kid(french): None,
        }
        (stored,) = await repository.dcc_cscas(ctx.store)
        assert (stored["_id"], stored["source"]) == (csca.id, served.url)
        again = await refresh_trust(ctx, urls=[served.url])
        assert (again.changed, again.version) == (0, outcome.version)

    async def test_a_bundles_csca_adopts_the_signers_it_issued_that_were_trusted_before(
        self, refreshing: FastAPI, served: BundleServer
    ) -> None:
        ctx = ctx_of(refreshing)
        csca = EuCsca("DE")
        issued, stranger = EuSigner("DE", issuer=csca), EuSigner("DE")
        async with admin_client(refreshing) as client:
            admin = await staff_headers(ctx, "admin")
            for signer in (issued, stranger):
                added = await client.post(
                    "/v1/trust/dcc-signers", json=entry(signer), headers=admin
                )
                assert added.status_code == 201, added.text
        served.bundle = {"dcc_cscas": [entry(csca)]}
        outcome = await refresh_trust(ctx, urls=[served.url])
        assert (outcome.changed, outcome.failed_urls) == (2, [])  # the CSCA, one adoption
        assert await stored_signers(ctx) == {
            repository_kid(issued): csca.id,
            repository_kid(stranger): None,  # listed, but unused while Germany has a CSCA
        }
        trusted = (await scanning.trust_list(ctx)).dcc_signers
        assert {kid_text(kid) for kid in trusted} == {repository_kid(issued)}
        assert (await refresh_trust(ctx, urls=[served.url])).changed == 0

    async def test_an_admins_csca_checks_the_bundles_signers_and_stays(
        self, refreshing: FastAPI, served: BundleServer
    ) -> None:
        ctx = ctx_of(refreshing)
        csca = EuCsca("DE")
        async with admin_client(refreshing) as client:
            body = entry(csca)
            admin = await staff_headers(ctx, "admin")
            assert (await client.post("/v1/trust/dcc-cscas", json=body, headers=admin)).is_success
        vouched = EuSigner("DE", issuer=csca)
        served.bundle = {"dcc_signers": [entry(vouched), entry(EuSigner("DE"))]}
        outcome = await refresh_trust(ctx, urls=[served.url])
        assert (outcome.changed, outcome.skipped) == (1, 1)
        assert await stored_signers(ctx) == {repository_kid(vouched): csca.id}
        served.bundle = {}
        await refresh_trust(ctx, urls=[served.url])
        assert [d["_id"] for d in await repository.dcc_cscas(ctx.store)] == [csca.id]

    async def test_a_csca_the_bundle_drops_takes_its_signers_and_their_lists(
        self, refreshing: FastAPI, served: BundleServer
    ) -> None:
        ctx = ctx_of(refreshing)
        csca = EuCsca("DE")
        vouched = EuSigner("DE", issuer=csca)
        kid = repository_kid(vouched)
        lists = [{"kid": kid, "hash_type": "UCI", "hashes": ["A" * 21 + "Q=="]}]
        served.bundle = {"dcc_cscas": [entry(csca)], "dcc_revocations": lists}
        by_admin = EuSigner("DE", issuer=csca)
        async with admin_client(refreshing) as client:
            await refresh_trust(ctx, urls=[served.url])
            admin = await staff_headers(ctx, "admin")
            added = await client.post("/v1/trust/dcc-signers", json=entry(by_admin), headers=admin)
            assert added.status_code == 201, added.text
        served.bundle = {"dcc_cscas": [entry(csca)], "dcc_signers": [entry(vouched)]}
        served.bundle["dcc_revocations"] = lists
        await refresh_trust(ctx, urls=[served.url])
        assert set(await stored_signers(ctx)) == {kid, repository_kid(by_admin)}
        assert len(await repository.dcc_revocations(ctx.store)) == 1

        served.bundle = {"dcc_signers": [entry(vouched)], "dcc_revocations": lists}
        outcome = await refresh_trust(ctx, urls=[served.url])
        assert await repository.dcc_cscas(ctx.store) == []
        # With no CSCA for DE left, the bundle's own signer stays, unchecked; the admin's,
        # vouched for by the CSCA that went, went with it.
        assert await stored_signers(ctx) == {kid: None}
        assert len(await repository.dcc_revocations(ctx.store)) == 1
        (audit,) = [
            e
            for e in await ctx.store.find("audit_log", {"action": "trust.refresh"})
            if f"-csca:{csca.id}" in e["params"]["changes"]
        ]
        assert f"-dcc:{repository_kid(by_admin)}" in audit["params"]["changes"]
        assert outcome.failed_urls == []

    async def test_an_admin_removing_the_csca_meanwhile_rolls_the_refresh_back(
        self, refreshing: FastAPI, served: BundleServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        ctx = ctx_of(refreshing)
        csca = EuCsca("DE")
        async with admin_client(refreshing) as client:
            admin = await staff_headers(ctx, "admin")
            posted = await client.post("/v1/trust/dcc-cscas", json=entry(csca), headers=admin)
            assert posted.status_code == 201
        served.bundle = {"dcc_signers": [entry(EuSigner("DE", issuer=csca))]}
        read_signers = repository.dcc_signers

        async def removed_after_the_cscas_were_read(store: Store) -> list[Document]:
            await store.write([Delete("trust_dcc_cscas", {"_id": csca.id})])
            return await read_signers(store)

        monkeypatch.setattr(repository, "dcc_signers", removed_after_the_cscas_were_read)
        outcome = await refresh_trust(ctx, urls=[served.url])
        monkeypatch.undo()
        assert (outcome.changed, outcome.failed_urls) == (0, [served.url])
        assert await repository.dcc_signers(ctx.store) == []
