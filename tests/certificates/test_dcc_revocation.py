"""EU DCC revocation lists: an admin loads, per trusted signer, hashes of revoked
certificates; a scan of one of them is denied with `revoked`, every other check still
reported. The hashes here are computed from the codes the way the EU specification says,
independently of the service's own code, so a mistake there cannot agree with itself."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import cbor2
import httpx
import pytest

from certificates import repository, service
from certificates.verifier import verify
from core.context import Context
from core.storage import Delete, Document, Store
from declarations.acceptance import AcceptancePolicy
from tests.certificates.issuers import VECTORS, EuSigner, unwrap
from tests.checkpoints.helpers import staff_headers

HASH_TYPES = ("SIGNATURE", "UCI", "COUNTRYCODEUCI")
PROBLEM = "application/problem+json"
# Allowed at their clocks without a list (see test_eu_dcc_vectors.py): ES256, Austria and
# Germany. CO1 is signed PS256 (its policy check fails; its revocation check is ours).
ALLOWED_VECTORS = [("AT/2DCode/raw/2.json", "AT"), ("DE/2DCode/raw/3.json", "DE")]
RSA_VECTOR = ("common/2DCode/raw/CO1.json", "AT")


def vector(name: str) -> dict[str, Any]:
    case: dict[str, Any] = json.loads((VECTORS / "eu-dcc" / name).read_text())
    return case


def entry(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()[:16]).decode()


def spec_hashes(code: str, *, ecdsa_whole: bool = False) -> dict[str, str]:
    """The three entries of a code: SHA-256 over the signature (ES256: `r`, its first half),
    the UCI, and the CWT issuer's country followed by the UCI, each cut to 16 bytes."""
    message = cbor2.loads(unwrap(code))
    while isinstance(message, cbor2.CBORTag):
        message = message.value
    protected_bytes, _, payload, signature = message
    alg = cbor2.loads(protected_bytes)[1]
    claims = cbor2.loads(payload)
    hcert = claims[-260][1]
    (event,) = hcert.get("v") or hcert.get("t") or hcert.get("r")
    signed = signature[: len(signature) // 2] if alg == -7 and not ecdsa_whole else signature
    return {
        "SIGNATURE": entry(signed),
        "UCI": entry(event["ci"].encode()),
        "COUNTRYCODEUCI": entry((claims[1] + event["ci"]).encode()),
    }


def others(count: int = 3) -> list[str]:
    return [entry(f"someone else {n}".encode()) for n in range(count)]


def outcomes(answer: dict[str, Any]) -> dict[str, str]:
    return {name: f"{c['result']}:{c['code']}" for name, c in answer["checks"].items()}


async def trust(
    client: httpx.AsyncClient, admin: dict[str, str], certificate: str, country: str
) -> str:
    body = {"certificate": certificate, "country": country}
    response = await client.post("/v1/trust/dcc-signers", json=body, headers=admin)
    assert response.status_code == 201, response.text
    return str(response.json()["kid"])


async def revoke(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    kid: str,
    hash_type: str,
    hashes: list[str],
) -> dict[str, Any]:
    body = {"kid": kid, "hash_type": hash_type, "hashes": hashes}
    response = await client.post("/v1/trust/dcc-revocations", json=body, headers=admin)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def checked_at_clock(ctx: Context, case: dict[str, Any]) -> dict[str, str]:
    """The vector checked at its own clock against the trust list as the store holds it."""
    clock = datetime.fromisoformat(case["TESTCTX"]["VALIDATIONCLOCK"])
    trusted = await service.trust_list(ctx)
    result = verify([case["PREFIX"]], trusted, AcceptancePolicy(), now=clock)
    return {
        **{name: f"{c.outcome}:{c.code}" for name, c in result.checks.items()},
        "decision": result.decision,
        "reason": result.reason,
    }


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


class TestAdmin:
    async def test_a_list_change_is_audited_and_bumps_the_trust_list_version(
        self, ctx: Context, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        signer = EuSigner("VN")
        kid = await trust(client, admin, signer.certificate_b64, "VN")
        first = (await client.get("/v1/trust/dcc-signers", headers=admin)).json()["version"]
        hashes = others(3)
        created = await revoke(client, admin, kid, "UCI", [*hashes, hashes[0]])
        assert created == {"kid": kid, "hash_type": "UCI", "count": 3, "version": first + 1}
        listed = (
            await client.get("/v1/trust/dcc-revocations", params={"kid": kid}, headers=admin)
        ).json()
        assert listed["version"] == first + 1
        (stored,) = listed["lists"]
        assert (stored["kid"], stored["hash_type"], stored["count"]) == (kid, "UCI", 3)
        assert stored["hashes"] == sorted(hashes)
        replaced = await revoke(client, admin, kid, "UCI", hashes[:1])
        assert (replaced["count"], replaced["version"]) == (1, first + 2)
        dropped = await client.delete(
            "/v1/trust/dcc-revocations", params={"kid": kid, "hash_type": "UCI"}, headers=admin
        )
        assert dropped.status_code == 204
        assert (await client.get("/v1/trust/dcc-revocations", headers=admin)).json() == {
            "version": first + 3,
            "lists": [],
        }
        audit = await ctx.store.find("audit_log", {})
        changes = sorted(
            (e["action"], e["params"].get("count"))
            for e in audit
            if str(e.get("action", "")).startswith("trust.dcc_revocations")
        )
        assert changes == [
            ("trust.dcc_revocations.delete", None),
            ("trust.dcc_revocations.put", 1),
            ("trust.dcc_revocations.put", 3),
        ]
        assert all(
            e["params"]["kid"] == kid and e["user"] for e in audit if "revocations" in e["action"]
        )

    async def test_a_list_of_the_largest_size_fits_in_a_request(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        kid = await trust(client, admin, EuSigner("VN").certificate_b64, "VN")
        created = await revoke(client, admin, kid, "SIGNATURE", others(10_000))
        assert created["count"] == 10_000

    async def test_only_admins_keep_revocation_lists(
        self, ctx: Context, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        kid = await trust(client, admin, EuSigner("VN").certificate_b64, "VN")
        staff = await staff_headers(ctx, "checkpoint_staff", "cp_somewhere")
        body = {"kid": kid, "hash_type": "UCI", "hashes": others()}
        query = {"kid": kid, "hash_type": "UCI"}
        url = "/v1/trust/dcc-revocations"
        for headers, status in ((staff, 403), ({}, 401)):
            assert (await client.post(url, json=body, headers=headers)).status_code == status
            assert (await client.get(url, headers=headers)).status_code == status
            assert (await client.delete(url, params=query, headers=headers)).status_code == status
        assert (await client.get(url, headers=admin)).json()["lists"] == []

    async def test_a_list_sent_as_its_signer_is_untrusted_does_not_outlive_it(
        self,
        ctx: Context,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        kid = await trust(client, admin, EuSigner("VN").certificate_b64, "VN")
        read_signer = repository.dcc_signer

        async def untrusted_just_after_the_read(store: Store, wanted: str) -> Document | None:
            found = await read_signer(store, wanted)
            await store.write([Delete("trust_dcc_signers", {"_id": wanted})])
            return found

        monkeypatch.setattr(repository, "dcc_signer", untrusted_just_after_the_read)
        body = {"kid": kid, "hash_type": "UCI", "hashes": others()}
        refused = await client.post("/v1/trust/dcc-revocations", json=body, headers=admin)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "kid"
        assert (await client.get("/v1/trust/dcc-revocations", headers=admin)).json()["lists"] == []

    async def test_dropping_a_list_that_is_not_there_is_404(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        kid = await trust(client, admin, EuSigner("VN").certificate_b64, "VN")
        missing = await client.delete(
            "/v1/trust/dcc-revocations", params={"kid": kid, "hash_type": "UCI"}, headers=admin
        )
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith(PROBLEM)


SIXTEEN = entry(b"x")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# The same 16 bytes with a padding bit set: another spelling the decoder would accept.
STRAY_BITS = SIXTEEN[:21] + _ALPHABET[_ALPHABET.index(SIXTEEN[21]) + 1] + "=="
NOT_BASE64 = "mỗi mã băm phải là base64 chuẩn của đúng 16 byte"
# Bodies with a field the service cannot use: (change, problem code, field, Vietnamese message).
UNUSABLE: list[tuple[dict[str, Any], str, str, str]] = [
    (
        {"hashes": ["%%%%%%%%%%%%%%%%%%%%%%=="]},
        "invalid_trust_entry",
        "hashes",
        NOT_BASE64,
    ),
    (  # 15 bytes
        {"hashes": [base64.b64encode(bytes(15)).decode()]},
        "invalid_trust_entry",
        "hashes",
        NOT_BASE64,
    ),
    (  # a whole SHA-256, not its first 16 bytes
        {"hashes": [base64.b64encode(bytes(32)).decode()]},
        "invalid_trust_entry",
        "hashes",
        NOT_BASE64,
    ),
    (  # the same 16 bytes, spelled with stray low bits
        {"hashes": [SIXTEEN, STRAY_BITS]},
        "invalid_trust_entry",
        "hashes",
        NOT_BASE64,
    ),
    (  # base64url, not the gateway's standard alphabet
        {"hashes": ["-_" + SIXTEEN[2:]]},
        "invalid_trust_entry",
        "hashes",
        NOT_BASE64,
    ),
    (  # Arabic-Indic digits: digits, but not base64's
        {"hashes": ["\u0661" * 22 + "=="]},
        "invalid_trust_entry",
        "hashes",
        NOT_BASE64,
    ),
    ({"hashes": [SIXTEEN + "\n"]}, "invalid_trust_entry", "hashes", NOT_BASE64),
    ({"hashes": "not a list"}, "validation_failed", "hashes", "có giá trị không hợp lệ"),
    ({"hashes": [SIXTEEN] * 10_001}, "validation_failed", "hashes", "quá dài"),
    ({"hash_type": "CERTIFICATE"}, "validation_failed", "hash_type", "có giá trị không hợp lệ"),
    ({"hash_type": "uci"}, "validation_failed", "hash_type", "có giá trị không hợp lệ"),
    (
        {"kid": "AAAAAAAAAAA="},
        "invalid_trust_entry",
        "kid",
        "không có người ký EU tin cậy nào có kid này",
    ),
    ({"kid": "AAAA"}, "validation_failed", "kid", "có giá trị không hợp lệ"),
    ({"kid": "\u0661" * 11 + "="}, "validation_failed", "kid", "có giá trị không hợp lệ"),
    ({"extra": 1}, "validation_failed", "extra", "không phải trường hợp lệ"),
]


class TestValidation:
    @pytest.mark.parametrize(("change", "code", "field", "message"), UNUSABLE)
    async def test_an_unusable_list_is_refused_naming_the_field_in_vietnamese(
        self,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        change: dict[str, Any],
        code: str,
        field: str,
        message: str,
    ) -> None:
        kid = await trust(client, admin, EuSigner("VN").certificate_b64, "VN")
        body = {"kid": kid, "hash_type": "UCI", "hashes": [SIXTEEN], **change}
        refused = await client.post(
            "/v1/trust/dcc-revocations", json=body, headers={**admin, "Accept-Language": "vi"}
        )
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith(PROBLEM)
        problem = refused.json()
        assert problem["code"] == code
        assert problem["errors"][0]["field"] == field
        assert problem["errors"][0]["message"] == message
        assert (await client.get("/v1/trust/dcc-revocations", headers=admin)).json()["lists"] == []

    async def test_an_english_caller_reads_english(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        kid = await trust(client, admin, EuSigner("VN").certificate_b64, "VN")
        body = {"kid": kid, "hash_type": "UCI", "hashes": ["%%%%%%%%%%%%%%%%%%%%%%=="]}
        refused = await client.post(
            "/v1/trust/dcc-revocations", json=body, headers={**admin, "Accept-Language": "en"}
        )
        problem = refused.json()
        assert problem["title"] == "Cannot trust this entry"
        assert problem["errors"][0]["message"] == "every hash must be standard base64 of 16 bytes"

    @pytest.mark.parametrize(
        "query",
        [
            {"kid": "AAAAAAAAAAA="},
            {"kid": "AAAAAAAAAAA=", "hash_type": "RID"},
            {"hash_type": "UCI"},
        ],
    )
    async def test_dropping_needs_a_kid_and_a_known_hash_type(
        self, client: httpx.AsyncClient, admin: dict[str, str], query: dict[str, str]
    ) -> None:
        refused = await client.delete("/v1/trust/dcc-revocations", params=query, headers=admin)
        assert refused.status_code == 422
        assert refused.json()["code"] == "validation_failed"
