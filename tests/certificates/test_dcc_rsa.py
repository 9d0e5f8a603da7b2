"""RSA in EU certificates, with real keys made by `cryptography`: several countries' CSCAs
sign their document signers with RSA-PSS (others with PKCS#1 v1.5), and their signers sign
codes with PS256. The chain rule holds for either padding at the trust routes, and a
PS256 code is judged at the checkpoint like an ES256 one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import cbor2
import httpx
import pytest

from tests.certificates.issuers import EuCsca, EuSigner, KeyKind, hc1, unwrap
from tests.certificates.test_dcc_cscas import add_csca, add_signer, signers_by_kid

PADDINGS = pytest.mark.parametrize("pss", [True, False], ids=["rsa-pss", "pkcs1v15"])


def rsa_csca(*, pss: bool) -> EuCsca:
    return EuCsca("DE", key="rsa", pss=pss)


class TestRsaCscaChains:
    @PADDINGS
    @pytest.mark.parametrize("signer_key", ["rsa", "ec"])
    async def test_a_signer_the_rsa_csca_issued_is_trusted_and_names_it(
        self, client: httpx.AsyncClient, admin: dict[str, str], pss: bool, signer_key: KeyKind
    ) -> None:
        csca = rsa_csca(pss=pss)
        await add_csca(client, admin, csca)
        added = await add_signer(client, admin, EuSigner("DE", key=signer_key, issuer=csca))
        assert added.status_code == 201, added.text
        assert (await signers_by_kid(client, admin))[added.json()["kid"]]["csca"] == csca.id

    @PADDINGS
    async def test_a_signer_another_key_issued_in_the_cscas_name_is_refused(
        self, client: httpx.AsyncClient, admin: dict[str, str], pss: bool
    ) -> None:
        csca = rsa_csca(pss=pss)
        await add_csca(client, admin, csca)
        impostor = EuCsca("DE", key="rsa", pss=pss, name=csca.name)
        for forged in (EuSigner("DE", key="rsa", issuer=impostor), EuSigner("DE", key="rsa")):
            refused = await add_signer(client, admin, forged)
            assert refused.status_code == 422, refused.text
            assert refused.json()["code"] == "invalid_trust_entry"
            assert refused.json()["errors"][0]["message"] == "not issued by a trusted CSCA of DE"
        assert await signers_by_kid(client, admin) == {}

    async def test_signers_trusted_before_an_rsa_pss_csca_are_adopted_only_if_it_issued_them(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        csca = rsa_csca(pss=True)
        impostor = EuCsca("DE", key="rsa", pss=True, name=csca.name)
        issued = await add_signer(client, admin, EuSigner("DE", key="rsa", issuer=csca))
        forged = await add_signer(client, admin, EuSigner("DE", key="rsa", issuer=impostor))
        await add_csca(client, admin, csca)
        listed = await signers_by_kid(client, admin)
        assert listed[issued.json()["kid"]]["csca"] == csca.id
        assert listed[forged.json()["kid"]]["csca"] is None


async def scan(client: httpx.AsyncClient, staff: dict[str, str], checkpoint: str, code: str) -> Any:
    url = f"/v1/checkpoints/{checkpoint}/certificates"
    response = await client.post(url, json={"qr": code}, headers=staff)
    assert response.status_code == 200, response.text
    return response.json()


def tampered(code: str) -> str:
    """The same signature over another birth date."""
    message = cbor2.loads(unwrap(code))
    claims = cbor2.loads(message.value[2])
    claims[-260][1]["dob"] = "1970-01-01"
    message.value[2] = cbor2.dumps(claims)
    return hc1(cbor2.dumps(message))


class TestPs256AtTheCheckpoint:
    @pytest.fixture
    async def signer(self, client: httpx.AsyncClient, admin: dict[str, str]) -> EuSigner:
        """An RSA signer issued with RSA-PSS by Germany's trusted CSCA, trusted in turn."""
        csca = rsa_csca(pss=True)
        await add_csca(client, admin, csca)
        signer = EuSigner("DE", key="rsa", issuer=csca)
        assert (await add_signer(client, admin, signer)).status_code == 201
        return signer

    async def test_a_ps256_code_is_allowed_with_its_signature_checked(
        self,
        client: httpx.AsyncClient,
        staff: dict[str, str],
        checkpoint: str,
        signer: EuSigner,
    ) -> None:
        code = signer.vaccination(issued=datetime.now(UTC) - timedelta(hours=1))
        assert cbor2.loads(cbor2.loads(unwrap(code)).value[0])[1] == -37  # PS256
        result = await scan(client, staff, checkpoint, code)
        assert result["decision"] == "allow", result
        assert result["checks"]["signature"]["result"] == "ok"
        assert result["certificate"]["issuer_country"] == "DE"

    async def test_a_tampered_ps256_code_is_denied_for_its_signature(
        self,
        client: httpx.AsyncClient,
        staff: dict[str, str],
        checkpoint: str,
        signer: EuSigner,
    ) -> None:
        code = tampered(signer.vaccination(issued=datetime.now(UTC) - timedelta(hours=1)))
        result = await scan(client, staff, checkpoint, code)
        assert result["decision"] == "deny"
        assert result["checks"]["decode"]["result"] == "ok"
        assert (result["checks"]["signature"]["result"], result["reason_code"]) == (
            "failed",
            "bad_signature",
        )

    async def test_another_rsa_key_signing_under_the_trusted_kid_is_denied(
        self,
        client: httpx.AsyncClient,
        staff: dict[str, str],
        checkpoint: str,
        signer: EuSigner,
    ) -> None:
        forger = EuSigner("DE", key="rsa")
        code = forger.vaccination(issued=datetime.now(UTC) - timedelta(hours=1), kid=signer.kid)
        result = await scan(client, staff, checkpoint, code)
        assert result["decision"] == "deny"
        assert result["reason_code"] == "bad_signature"
