"""EU DCC revocation lists, the admin side: an admin loads, per trusted signer, hashes of
revoked certificates; each change is audited, and a list the service cannot use is
refused with the field and a message in the caller's language."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from certificates import repository
from core.context import Context
from core.storage import Delete, Document, Store
from tests.certificates.dcc_revocations import PROBLEM, entry, others, revoke, trust
from tests.certificates.issuers import EuSigner
from tests.checkpoints.helpers import staff_headers


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
CHOICE = "không thuộc các giá trị cho phép"
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
    ({"hashes": "not a list"}, "validation_failed", "hashes", "phải là danh sách"),
    ({"hashes": [SIXTEEN] * 10_001}, "validation_failed", "hashes", "không quá 10000 mục"),
    ({"hash_type": "CERTIFICATE"}, "validation_failed", "hash_type", CHOICE),
    ({"hash_type": "uci"}, "validation_failed", "hash_type", CHOICE),
    (
        {"kid": "AAAAAAAAAAA="},
        "invalid_trust_entry",
        "kid",
        "không có người ký EU tin cậy nào có kid này",
    ),
    ({"kid": "AAAA"}, "validation_failed", "kid", "không đúng định dạng"),
    ({"kid": "\u0661" * 11 + "="}, "validation_failed", "kid", "không đúng định dạng"),
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
