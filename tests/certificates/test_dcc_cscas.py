"""Country Signing CAs: once an admin trusts a country's CSCA, an EU signer of that country
is trusted only when that CSCA issued it (real X.509 chains made with `cryptography`);
untrusting the CSCA untrusts its signers and their revocation lists, even one added in
the same instant."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from certificates import repository, scanning
from certificates.trust import kid_text
from core.context import Context
from core.storage import Delete, Document, Store
from tests.certificates.dcc_revocations import revoke
from tests.certificates.issuers import EuCsca, EuSigner
from tests.checkpoints.helpers import staff_headers

PROBLEM = "application/problem+json"
CSCAS = "/v1/trust/dcc-cscas"
SIGNERS = "/v1/trust/dcc-signers"
NOT_ISSUED_VI = "không do CSCA tin cậy nào của DE cấp"


async def add_csca(client: httpx.AsyncClient, admin: dict[str, str], csca: EuCsca) -> Any:
    body = {"certificate": csca.certificate_b64, "country": csca.country}
    response = await client.post(CSCAS, json=body, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


async def add_signer(
    client: httpx.AsyncClient, admin: dict[str, str], signer: EuSigner, **headers: str
) -> httpx.Response:
    body = {"certificate": signer.certificate_b64, "country": signer.country}
    return await client.post(SIGNERS, json=body, headers={**admin, **headers})


async def signers_by_kid(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    listed = (await client.get(SIGNERS, headers=admin)).json()
    return {signer["kid"]: signer for signer in listed["signers"]}


class TestTheChainRule:
    async def test_a_signer_its_countrys_csca_issued_is_trusted_and_names_it(
        self, ctx: Context, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        csca = EuCsca("DE")
        created = await add_csca(client, admin, csca)
        assert created["id"] == hashlib.sha256(csca.der).hexdigest()
        assert created["country"] == "DE"
        listed = (await client.get(CSCAS, headers=admin)).json()
        assert listed["version"] == created["version"]
        (stored,) = listed["cscas"]
        assert (stored["id"], stored["country"], stored["source"]) == (csca.id, "DE", None)
        assert stored["subject"] == csca.certificate.subject.rfc4514_string()
        assert stored["subject"].startswith("CN=CSCA DE test")

        added = await add_signer(client, admin, EuSigner("DE", issuer=csca))
        assert added.status_code == 201, added.text
        assert added.json()["version"] == created["version"] + 1
        assert (await signers_by_kid(client, admin))[added.json()["kid"]]["csca"] == csca.id
        audit = {e["action"]: e["params"] for e in await ctx.store.find("audit_log", {})}
        assert audit["trust.dcc_csca.put"]["id"] == csca.id
        assert audit["trust.dcc_signer.put"]["csca"] == csca.id

    async def test_a_signer_of_that_country_it_did_not_issue_is_refused_in_vietnamese(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        await add_csca(client, admin, EuCsca("DE"))
        for stranger in (EuSigner("DE"), EuSigner("DE", issuer=EuCsca("DE"))):
            refused = await add_signer(client, admin, stranger, **{"Accept-Language": "vi"})
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"].startswith(PROBLEM)
            problem = refused.json()
            assert problem["code"] == "invalid_trust_entry"
            assert problem["errors"][0]["field"] == "certificate"
            assert problem["errors"][0]["message"] == NOT_ISSUED_VI
        english = await add_signer(client, admin, EuSigner("DE"), **{"Accept-Language": "en"})
        assert english.json()["errors"][0]["message"] == "not issued by a trusted CSCA of DE"
        assert await signers_by_kid(client, admin) == {}

    async def test_a_signer_valid_before_its_csca_is_refused(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        csca = EuCsca("DE")
        await add_csca(client, admin, csca)
        early = EuSigner("DE", issuer=csca, valid_from=csca.not_before - timedelta(days=1))
        refused = await add_signer(client, admin, early)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "certificate"

    async def test_a_signer_of_a_country_without_a_csca_is_trusted_unchecked(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        await add_csca(client, admin, EuCsca("DE"))
        added = await add_signer(client, admin, EuSigner("FR"))
        assert added.status_code == 201, added.text
        assert (await signers_by_kid(client, admin))[added.json()["kid"]]["csca"] is None


class TestSignersTrustedBeforeTheirCountrysCsca:
    async def test_the_ones_it_issued_are_adopted_and_the_others_set_aside_until_it_goes(
        self, ctx: Context, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        csca = EuCsca("DE")
        kids = {}
        for name, signer in (
            ("issued", EuSigner("DE", issuer=csca)),
            ("stranger", EuSigner("DE")),
            ("french", EuSigner("FR")),
        ):
            added = await add_signer(client, admin, signer)
            assert added.status_code == 201, added.text
            kids[name] = added.json()["kid"]

        await add_csca(client, admin, csca)
        listed = await signers_by_kid(client, admin)
        assert {kid: signer["csca"] for kid, signer in listed.items()} == {
            kids["issued"]: csca.id,
            kids["stranger"]: None,
            kids["french"]: None,
        }
        assert await trusted_kids(ctx) == {kids["issued"], kids["french"]}
        audit = {e["action"]: e["params"] for e in await ctx.store.find("audit_log", {})}
        assert audit["trust.dcc_csca.put"]["adopted_signers"] == [kids["issued"]]
        assert audit["trust.dcc_csca.put"]["unchained_signers"] == [kids["stranger"]]

        # Germany without a CSCA again: its signers are trusted as given, as before.
        removed = await client.delete(f"{CSCAS}/{csca.id}", headers=admin)
        assert removed.status_code == 204
        assert await trusted_kids(ctx) == {kids["stranger"], kids["french"]}


async def trusted_kids(ctx: Context) -> set[str]:
    """The kids verification uses now."""
    return {kid_text(kid) for kid in (await scanning.trust_list(ctx)).dcc_signers}


class TestRemovingACsca:
    async def test_its_signers_and_their_lists_go_and_their_codes_are_not_trusted(
        self,
        ctx: Context,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        staff: dict[str, str],
        checkpoint: str,
    ) -> None:
        csca = EuCsca("DE")
        await add_csca(client, admin, csca)
        vouched = EuSigner("DE", issuer=csca)
        kid = (await add_signer(client, admin, vouched)).json()["kid"]
        other = (await add_signer(client, admin, EuSigner("FR"))).json()["kid"]
        for signer_kid in (kid, other):
            await revoke(client, admin, signer_kid, "UCI", ["A" * 21 + "Q=="])
        code = vouched.vaccination(issued=datetime.now(UTC) - timedelta(hours=1))
        url = f"/v1/checkpoints/{checkpoint}/certificates"
        before = (await client.post(url, json={"qr": code}, headers=staff)).json()
        assert before["checks"]["signature"]["result"] == "ok"

        removed = await client.delete(f"{CSCAS}/{csca.id}", headers=admin)
        assert removed.status_code == 204
        assert list(await signers_by_kid(client, admin)) == [other]
        lists = (await client.get("/v1/trust/dcc-revocations", headers=admin)).json()["lists"]
        assert [item["kid"] for item in lists] == [other]
        assert (await client.get(CSCAS, headers=admin)).json()["cscas"] == []
        after = (await client.post(url, json={"qr": code}, headers=staff)).json()
        assert after["decision"] == "deny"
        assert after["checks"]["signature"]["result"] == "failed"
        (entry,) = await ctx.store.find("audit_log", {"action": "trust.dcc_csca.delete"})
        assert entry["params"] == {"id": csca.id, "country": "DE", "removed_signers": [kid]}

    async def test_an_unknown_csca_is_404_and_a_malformed_id_422(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        missing = await client.delete(f"{CSCAS}/{'0' * 64}", headers=admin)
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith(PROBLEM)
        malformed = await client.delete(f"{CSCAS}/{'Z' * 64}", headers=admin)
        assert malformed.status_code == 422

    async def test_a_signer_added_as_its_csca_is_removed_is_not_stored(
        self, client: httpx.AsyncClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        csca = EuCsca("DE")
        await add_csca(client, admin, csca)
        read_cscas = repository.dcc_cscas

        async def removed_just_after_the_read(store: Store) -> list[Document]:
            found = await read_cscas(store)
            await store.write([Delete("trust_dcc_cscas", {"_id": csca.id})])
            return found

        monkeypatch.setattr(repository, "dcc_cscas", removed_just_after_the_read)
        refused = await add_signer(client, admin, EuSigner("DE", issuer=csca))
        monkeypatch.undo()
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "certificate"
        assert await signers_by_kid(client, admin) == {}


# CSCAs the trust list refuses: (the CSCA, posted as country, field, Vietnamese message).
UNUSABLE: list[tuple[EuCsca | str, str, str, str]] = [
    ("bm90IGEgY2VydGlmaWNhdGU=", "DE", "certificate", "không phải chứng thư X.509 dạng DER"),
    ("%%%%%%%%%%%%%%%%", "DE", "certificate", "không đọc được"),
    (EuCsca("DE", ca=None), "DE", "certificate", "không phải chứng thư CA"),
    (EuCsca("DE", ca=False), "DE", "certificate", "không phải chứng thư CA"),
    (EuCsca("DE", key_cert_sign=False), "DE", "certificate", "mục đích dùng khóa"),
    (EuCsca("DE"), "FR", "country", "không khớp với quốc gia (C=)"),
]


class TestValidation:
    @pytest.mark.parametrize(("csca", "country", "field", "message"), UNUSABLE)
    async def test_an_unusable_csca_is_refused_naming_the_field_in_vietnamese(
        self,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        csca: EuCsca | str,
        country: str,
        field: str,
        message: str,
    ) -> None:
        certificate = csca if isinstance(csca, str) else csca.certificate_b64
        refused = await client.post(
            CSCAS,
            json={"certificate": certificate, "country": country},
            headers={**admin, "Accept-Language": "vi"},
        )
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith(PROBLEM)
        problem = refused.json()
        assert (problem["code"], problem["errors"][0]["field"]) == ("invalid_trust_entry", field)
        assert problem["errors"][0]["message"].startswith(message)
        assert (await client.get(CSCAS, headers=admin)).json()["cscas"] == []

    async def test_without_a_subject_country_or_key_usage_a_ca_is_trusted(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        await add_csca(client, admin, EuCsca("DE", subject_country=None, key_cert_sign=None))

    async def test_a_malformed_country_is_a_validation_failure(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        body = {"certificate": EuCsca("DE").certificate_b64, "country": "de"}
        refused = await client.post(CSCAS, json=body, headers=admin)
        assert refused.status_code == 422
        assert (refused.json()["code"], refused.json()["errors"][0]["field"]) == (
            "validation_failed",
            "country",
        )

    async def test_a_csca_cannot_move_to_another_country(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        csca = EuCsca("DE", subject_country=None)
        await add_csca(client, admin, csca)
        moved = {"certificate": csca.certificate_b64, "country": "FR"}
        refused = await client.post(CSCAS, json=moved, headers=admin)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "country"


class TestOnlyAdmins:
    async def test_others_get_403_and_nobody_401(
        self, ctx: Context, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        csca = EuCsca("DE")
        await add_csca(client, admin, csca)
        staff = await staff_headers(ctx, "checkpoint_staff", "cp_somewhere")
        body = {"certificate": EuCsca("FR").certificate_b64, "country": "FR"}
        for headers, status in ((staff, 403), ({}, 401)):
            assert (await client.post(CSCAS, json=body, headers=headers)).status_code == status
            assert (await client.get(CSCAS, headers=headers)).status_code == status
            deleted = await client.delete(f"{CSCAS}/{csca.id}", headers=headers)
            assert deleted.status_code == status
        assert [c["id"] for c in (await client.get(CSCAS, headers=admin)).json()["cscas"]] == [
            csca.id
        ]
