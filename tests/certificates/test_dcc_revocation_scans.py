"""EU DCC revocation lists at a scan: a code on a trusted signer's list is denied with
`revoked`, every other check still reported, for the public test vectors and at the
checkpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from core.context import Context
from tests.certificates.dcc_revocations import (
    ALLOWED_VECTORS,
    HASH_TYPES,
    RSA_VECTOR,
    checked_at_clock,
    others,
    outcomes,
    revoke,
    spec_hashes,
    trust,
    vector,
)
from tests.certificates.issuers import EuSigner


class TestPublicVectors:
    @pytest.mark.parametrize("hash_type", HASH_TYPES)
    @pytest.mark.parametrize(("name", "country"), ALLOWED_VECTORS)
    async def test_a_certificate_on_its_signers_list_is_denied_as_revoked(
        self,
        ctx: Context,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        name: str,
        country: str,
        hash_type: str,
    ) -> None:
        case = vector(name)
        kid = await trust(client, admin, case["TESTCTX"]["CERTIFICATE"], country)
        revoked = spec_hashes(case["PREFIX"])[hash_type]
        await revoke(client, admin, kid, hash_type, [*others(), revoked])
        result = await checked_at_clock(ctx, case)
        assert result["revocation"] == "failed:revoked"
        assert (result["decision"], result["reason"]) == ("deny", "revoked")
        # The other checks still ran and passed.
        assert {result[n] for n in ("decode", "signature", "issuer", "validity", "policy")} == {
            "ok:ok"
        }

    @pytest.mark.parametrize(("name", "country"), ALLOWED_VECTORS)
    async def test_lists_that_do_not_name_it_are_ok_and_it_is_allowed(
        self,
        ctx: Context,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        name: str,
        country: str,
    ) -> None:
        case = vector(name)
        kid = await trust(client, admin, case["TESTCTX"]["CERTIFICATE"], country)
        for hash_type in HASH_TYPES:
            await revoke(client, admin, kid, hash_type, others())
        result = await checked_at_clock(ctx, case)
        assert result["revocation"] == "ok:ok"
        assert result["decision"] == "allow"

    async def test_without_a_list_for_its_signer_revocation_is_skipped(
        self, ctx: Context, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        austria, germany = (vector(name) for name, _ in ALLOWED_VECTORS)
        await trust(client, admin, austria["TESTCTX"]["CERTIFICATE"], "AT")
        german_kid = await trust(client, admin, germany["TESTCTX"]["CERTIFICATE"], "DE")
        # Germany's list, naming the Austrian certificate's UCI: not Austria's signer's list.
        await revoke(client, admin, german_kid, "UCI", [spec_hashes(austria["PREFIX"])["UCI"]])
        result = await checked_at_clock(ctx, austria)
        assert result["revocation"] == "skipped:no_revocation_list"
        assert result["decision"] == "allow"

    async def test_an_rsa_signature_is_hashed_whole(
        self, ctx: Context, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        name, country = RSA_VECTOR
        case = vector(name)
        kid = await trust(client, admin, case["TESTCTX"]["CERTIFICATE"], country)
        await revoke(client, admin, kid, "SIGNATURE", [spec_hashes(case["PREFIX"])["SIGNATURE"]])
        result = await checked_at_clock(ctx, case)
        assert result["signature"] == "ok:ok"
        assert result["revocation"] == "failed:revoked"

    async def test_an_ecdsa_entry_over_r_and_s_is_not_the_specifications(
        self, ctx: Context, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        """ES256 entries hash `r` alone, so a holder who flips `s` (still a valid signature)
        is still caught; an entry over the whole signature names nothing."""
        name, country = ALLOWED_VECTORS[0]
        case = vector(name)
        kid = await trust(client, admin, case["TESTCTX"]["CERTIFICATE"], country)
        whole = spec_hashes(case["PREFIX"], ecdsa_whole=True)["SIGNATURE"]
        await revoke(client, admin, kid, "SIGNATURE", [whole])
        result = await checked_at_clock(ctx, case)
        assert result["revocation"] == "ok:ok"


class TestScans:
    async def test_a_revoked_code_is_denied_at_the_checkpoint_in_the_callers_language(
        self,
        ctx: Context,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        staff: dict[str, str],
        checkpoint: str,
    ) -> None:
        signer = EuSigner("VN")
        kid = await trust(client, admin, signer.certificate_b64, "VN")
        code = signer.vaccination(issued=datetime.now(UTC) - timedelta(hours=1))
        url = f"/v1/checkpoints/{checkpoint}/certificates"
        before = (await client.post(url, json={"qr": code}, headers=staff)).json()
        assert (before["decision"], before["checks"]["revocation"]["code"]) == (
            "allow",
            "no_revocation_list",
        )
        await revoke(client, admin, kid, "COUNTRYCODEUCI", [spec_hashes(code)["COUNTRYCODEUCI"]])
        answer = (
            await client.post(url, json={"qr": code}, headers={**staff, "Accept-Language": "vi"})
        ).json()
        assert outcomes(answer) == {
            "decode": "ok:ok",
            "signature": "ok:ok",
            "issuer": "ok:ok",
            "validity": "ok:ok",
            "revocation": "failed:revoked",
            "policy": "ok:ok",
        }
        assert (answer["decision"], answer["reason_code"]) == ("deny", "revoked")
        assert answer["reason"] == "Đã bị nơi cấp thu hồi"
        logged = await ctx.store.find("certificate_scans", {"checkpoint_id": checkpoint})
        assert sorted((s["decision"], s["reason_code"]) for s in logged) == [
            ("allow", "ok"),
            ("deny", "revoked"),
        ]

    async def test_dropping_the_list_or_the_signer_takes_the_revocation_away(
        self,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        staff: dict[str, str],
        checkpoint: str,
    ) -> None:
        signer = EuSigner("VN")
        kid = await trust(client, admin, signer.certificate_b64, "VN")
        code = signer.vaccination(issued=datetime.now(UTC) - timedelta(hours=1))
        url = f"/v1/checkpoints/{checkpoint}/certificates"
        await revoke(client, admin, kid, "UCI", [spec_hashes(code)["UCI"]])
        await revoke(client, admin, kid, "SIGNATURE", others())
        assert (await client.post(url, json={"qr": code}, headers=staff)).json()[
            "reason_code"
        ] == "revoked"
        dropped = await client.delete(
            "/v1/trust/dcc-revocations", params={"kid": kid, "hash_type": "UCI"}, headers=admin
        )
        assert dropped.status_code == 204
        answer = (await client.post(url, json={"qr": code}, headers=staff)).json()
        assert (answer["decision"], outcomes(answer)["revocation"]) == ("allow", "ok:ok")
        # Untrusting the signer takes its lists with it.
        removed = await client.delete(
            "/v1/trust/dcc-signers/" + kid.replace("/", "%2F"), headers=admin
        )
        assert removed.status_code == 204
        listed = (await client.get("/v1/trust/dcc-revocations", headers=admin)).json()
        assert listed["lists"] == []
