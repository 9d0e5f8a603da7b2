"""Certificates over HTTP, as a new user would try them: an admin loads the Austrian signer
and the SMART example issuer, staff scan an Austrian HC1 code and the three-part SMART
card and get every check; forgeries say which check failed and why; hostile input is a
4xx problem+json in the caller's language, never a 500."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from core.context import Context
from tests.certificates.issuers import (
    VECTORS,
    EuSigner,
    SmartIssuer,
    example_card_chunks,
    example_crl,
    example_jwks,
    hc1,
    numeric,
    unwrap,
)
from tests.checkpoints.helpers import staff_headers

AUSTRIA = json.loads((VECTORS / "eu-dcc/AT/2DCode/raw/1.json").read_text())
SHC_ISSUER = "https://spec.smarthealth.cards/examples/issuer"
PROBLEM = "application/problem+json"


async def trust_austria(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    body = {"certificate": AUSTRIA["TESTCTX"]["CERTIFICATE"], "country": "AT"}
    response = await client.post("/v1/trust/dcc-signers", json=body, headers=admin)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def trust_smart_example(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    body = {"iss": SHC_ISSUER, "jwks": example_jwks(), "crl": example_crl(), "country": "US"}
    response = await client.post("/v1/trust/shc-issuers", json=body, headers=admin)
    assert response.status_code == 201, response.text


async def scan(
    client: httpx.AsyncClient,
    staff: dict[str, str],
    checkpoint_id: str,
    body: dict[str, Any],
    lang: str = "en",
) -> httpx.Response:
    return await client.post(
        f"/v1/checkpoints/{checkpoint_id}/certificates",
        json=body,
        headers={**staff, "Accept-Language": lang},
    )


def results(answer: dict[str, Any]) -> dict[str, str]:
    return {name: f"{c['result']}:{c['code']}" for name, c in answer["checks"].items()}


class TestTrustList:
    async def test_loading_the_austrian_signer_gives_its_kid(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        created = await trust_austria(client, admin)
        der = base64.b64decode(AUSTRIA["TESTCTX"]["CERTIFICATE"])
        assert created["kid"] == base64.b64encode(hashlib.sha256(der).digest()[:8]).decode()
        listed = (await client.get("/v1/trust/dcc-signers", headers=admin)).json()
        assert listed["version"] == created["version"] >= 1
        (signer,) = listed["signers"]
        assert (signer["kid"], signer["country"]) == (created["kid"], "AT")

    async def test_every_change_increases_the_version_and_is_audited(
        self, ctx: Context, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        first = (await trust_austria(client, admin))["version"]
        await trust_smart_example(client, admin)
        second = (await client.get("/v1/trust/shc-issuers", headers=admin)).json()
        assert second["version"] == first + 1
        (issuer,) = second["issuers"]
        assert issuer["iss"] == SHC_ISSUER
        assert issuer["revocation_lists"] == {example_crl()["kid"]: 1}
        kid = (await client.get("/v1/trust/dcc-signers", headers=admin)).json()["signers"][0]
        removed = await client.delete(
            "/v1/trust/dcc-signers/" + kid["kid"].replace("/", "%2F"), headers=admin
        )
        assert removed.status_code == 204
        gone = await client.delete(
            "/v1/trust/shc-issuers", params={"iss": SHC_ISSUER}, headers=admin
        )
        assert gone.status_code == 204
        listed = (await client.get("/v1/trust/dcc-signers", headers=admin)).json()
        assert listed == {"version": first + 3, "signers": []}
        audit = await ctx.store.find("audit_log", {})
        actions = sorted(entry["action"] for entry in audit if entry.get("action"))
        assert actions == [
            "trust.dcc_signer.delete",
            "trust.dcc_signer.put",
            "trust.shc_issuer.delete",
            "trust.shc_issuer.put",
        ]

    async def test_removing_what_is_not_there_is_404(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        missing = await client.delete("/v1/trust/dcc-signers/AAAAAAAAAAA=", headers=admin)
        assert missing.status_code == 404
        missing = await client.delete(
            "/v1/trust/shc-issuers", params={"iss": "https://nobody.example"}, headers=admin
        )
        assert missing.status_code == 404

    async def test_only_admins_keep_the_trust_list(
        self, client: httpx.AsyncClient, staff: dict[str, str]
    ) -> None:
        body = {"certificate": AUSTRIA["TESTCTX"]["CERTIFICATE"], "country": "AT"}
        refused = await client.post("/v1/trust/dcc-signers", json=body, headers=staff)
        assert refused.status_code == 403
        assert (await client.get("/v1/trust/shc-issuers")).status_code == 401

    @pytest.mark.parametrize(
        ("path", "body", "field"),
        [
            (
                "dcc-signers",
                {"certificate": "bm90IGEgY2VydGlmaWNhdGU=", "country": "AT"},
                "certificate",
            ),
            ("dcc-signers", {"certificate": "%%%%not-base64%%%%", "country": "AT"}, "certificate"),
            (
                "shc-issuers",
                {"iss": SHC_ISSUER, "jwks": {"keys": [{"kty": "EC", "kid": "k", "d": "x"}]}},
                "jwks",
            ),
            (
                "shc-issuers",
                {"iss": SHC_ISSUER, "jwks": example_jwks(), "crl": {"kid": "nope"}},
                "crl",
            ),
        ],
    )
    async def test_an_unusable_entry_is_refused_naming_the_field(
        self,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        path: str,
        body: dict[str, Any],
        field: str,
    ) -> None:
        refused = await client.post(
            f"/v1/trust/{path}", json=body, headers={**admin, "Accept-Language": "vi"}
        )
        assert refused.status_code == 422
        assert refused.headers["content-type"].startswith(PROBLEM)
        problem = refused.json()
        assert problem["code"] == "invalid_trust_entry"
        assert problem["errors"][0]["field"] == field
        assert problem["title"] == "Không thể tin cậy mục này"


class TestASignersCountry:
    """A reviewer posted the Austrian signer (subject C=AT) as "XX", and reposted it under
    another country, which relabelled it silently: CSCAs were checked, signers were not."""

    async def test_a_country_other_than_the_subjects_is_refused_naming_country(
        self, ctx: Context, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        body = {"certificate": AUSTRIA["TESTCTX"]["CERTIFICATE"], "country": "XX"}
        refused = await client.post("/v1/trust/dcc-signers", json=body, headers=admin)
        assert refused.status_code == 422
        assert refused.json()["code"] == "invalid_trust_entry"
        assert refused.json()["errors"][0]["field"] == "country"
        assert await ctx.store.find("trust_dcc_signers", {}) == []

    async def test_reposting_under_another_country_does_not_relabel_it(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        created = await trust_austria(client, admin)
        body = {"certificate": AUSTRIA["TESTCTX"]["CERTIFICATE"], "country": "DE"}
        refused = await client.post("/v1/trust/dcc-signers", json=body, headers=admin)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "country"
        listed = (await client.get("/v1/trust/dcc-signers", headers=admin)).json()
        assert [(s["kid"], s["country"]) for s in listed["signers"]] == [(created["kid"], "AT")]
        assert listed["version"] == created["version"]
        # The same country again is a harmless retry.
        assert (await trust_austria(client, admin))["kid"] == created["kid"]


class TestScans:
    async def test_an_austrian_code_gets_the_full_check_table(
        self,
        ctx: Context,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        staff: dict[str, str],
        checkpoint: str,
    ) -> None:
        await trust_austria(client, admin)
        response = await scan(client, staff, checkpoint, {"qr": AUSTRIA["PREFIX"]})
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["format"] == "eu_dcc"
        assert results(answer) == {
            "decode": "ok:ok",
            "signature": "ok:ok",
            "issuer": "ok:ok",
            "validity": "failed:expired",  # a 2021 sample, checked today
            "revocation": "skipped:no_revocation_list",
            "policy": "failed:too_few_doses",  # dose 1 of 2
        }
        assert answer["decision"] == "deny"
        assert answer["reason_code"] == "expired"
        assert answer["holder"] == {
            "name": "Gabriele Musterfrau-Gößinger",
            "birth_date": "1998-02-26",
        }
        # Minimum disclosure: who (to match an ID), what kind, from where; no doses or dates.
        assert answer["certificate"] == {"type": "vaccination", "issuer_country": "AT"}
        # The log keeps format, country and decision, nothing about the holder.
        (record,) = await ctx.store.find("certificate_scans", {"checkpoint_id": checkpoint})
        assert (record["format"], record["country"], record["decision"]) == ("eu_dcc", "AT", "deny")
        stored = json.dumps(record, default=str, ensure_ascii=False).casefold()
        # The holder as the code spells them (name in print and in the MRZ's letters; the
        # birth date as the code has it and compact). A birth year alone is no test: a
        # stored time can hold "1998" ("…:41.199812+00:00").
        for personal in ("Gabriele", "Musterfrau", "Gößinger", "GOESSINGER"):
            assert personal.casefold() not in stored
        for birth_date in ("1998-02-26", "19980226", "26.02.1998", "26/02/1998"):
            assert birth_date not in stored

    async def test_the_three_part_smart_card_gets_the_full_check_table(
        self,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        staff: dict[str, str],
        checkpoint: str,
    ) -> None:
        await trust_smart_example(client, admin)
        chunks = example_card_chunks()
        response = await scan(
            client, staff, checkpoint, {"chunks": [chunks[2], chunks[0], chunks[1]]}
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["format"] == "smart_health_card"
        assert set(answer["checks"]) == {
            "decode",
            "signature",
            "issuer",
            "validity",
            "revocation",
            "policy",
        }
        assert results(answer)["decode"] == "ok:ok"
        assert results(answer)["signature"] == "ok:ok"
        assert results(answer)["issuer"] == "ok:ok"
        assert results(answer)["revocation"] == "ok:ok"
        assert answer["certificate"]["type"] == "test"
        assert answer["certificate"]["issuer_country"] == "US"

    async def test_a_code_signed_today_by_a_trusted_signer_is_allowed(
        self,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        staff: dict[str, str],
        checkpoint: str,
    ) -> None:
        signer = EuSigner("VN")
        body = {"certificate": signer.certificate_b64, "country": "VN"}
        assert (
            await client.post("/v1/trust/dcc-signers", json=body, headers=admin)
        ).status_code == 201
        code = signer.vaccination(issued=datetime.now(UTC) - timedelta(hours=1))
        answer = (await scan(client, staff, checkpoint, {"qr": code}, lang="vi")).json()
        assert answer["decision"] == "allow", answer
        assert answer["reason"] == "Đạt"
        assert answer["holder"]["name"] == "Thị Lan Nguyễn"

    async def test_a_tampered_code_says_the_signature_failed_and_why(
        self,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        staff: dict[str, str],
        checkpoint: str,
    ) -> None:
        import cbor2

        await trust_austria(client, admin)
        message = cbor2.loads(unwrap(AUSTRIA["PREFIX"]))
        claims = cbor2.loads(message.value[2])
        claims[-260][1]["v"][0]["dn"] = 2  # a second dose nobody gave
        message.value[2] = cbor2.dumps(claims)
        response = await scan(client, staff, checkpoint, {"qr": hc1(cbor2.dumps(message))})
        answer = response.json()
        assert answer["checks"]["signature"] == {
            "result": "failed",
            "code": "bad_signature",
            "detail": "The signature does not match: forged or altered",
        }
        assert answer["decision"] == "deny"
        vi = (await scan(client, staff, checkpoint, {"qr": hc1(cbor2.dumps(message))}, "vi")).json()
        assert vi["checks"]["signature"]["detail"] == "Chữ ký không khớp: giả hoặc bị sửa"

    async def test_a_card_from_an_issuer_nobody_trusts_is_denied(
        self, client: httpx.AsyncClient, staff: dict[str, str], checkpoint: str
    ) -> None:
        card = SmartIssuer().card()
        answer = (await scan(client, staff, checkpoint, {"qr": numeric(card)})).json()
        assert results(answer)["issuer"] == "failed:unknown_issuer"
        assert results(answer)["validity"] == "ok:ok"
        assert answer["decision"] == "deny"

    async def test_staff_of_another_checkpoint_are_refused(
        self, ctx: Context, client: httpx.AsyncClient, checkpoint: str
    ) -> None:
        elsewhere = await staff_headers(ctx, "checkpoint_staff", "cp_somewhere_else")
        response = await scan(client, elsewhere, checkpoint, {"qr": AUSTRIA["PREFIX"]}, "vi")
        assert response.status_code == 403
        assert response.headers["content-type"].startswith(PROBLEM)
        assert response.json()["title"] == "Không được phép"

    async def test_an_unknown_checkpoint_is_404(
        self, ctx: Context, client: httpx.AsyncClient
    ) -> None:
        staff = await staff_headers(ctx, "checkpoint_staff", "cp_nowhere")
        response = await scan(client, staff, "cp_nowhere", {"qr": AUSTRIA["PREFIX"]})
        assert response.status_code == 404


MALFORMED_BODIES: list[Any] = [
    {},
    {"qr": 12345},
    {"qr": "HC1:X", "chunks": ["shc:/1"]},
    {"qr": "HC1:X", "extra": True},
    {"chunks": []},
    {"chunks": ["shc:/56"] * 11},
    {"qr": "HC1:" + "A" * 9000},
    {"qr": ""},
    {"chunks": "shc:/56"},
    [],
    "HC1:",
]
GARBLED_CODES = [
    "HC1:",
    "HC1:%%%%",
    "HC1:" + "0" * 4000,
    "shc:/",
    "shc:/1/2/00",
    "SHC:/" + "9" * 100,
    "hello",
    "HC1:6BF\u0000",
    "\u202eHC1:ABC",
]


class TestHostileInput:
    @pytest.mark.parametrize("lang", ["en", "vi"])
    async def test_a_malformed_body_is_a_problem_in_the_callers_language(
        self, client: httpx.AsyncClient, staff: dict[str, str], checkpoint: str, lang: str
    ) -> None:
        title = "Một số trường không hợp lệ" if lang == "vi" else "Some fields are invalid"
        for body in MALFORMED_BODIES:
            response = await scan(client, staff, checkpoint, body, lang)
            assert response.status_code == 422, (body, response.text)
            assert response.headers["content-type"].startswith(PROBLEM)
            problem = response.json()
            assert (problem["code"], problem["title"]) == ("validation_failed", title)

    async def test_not_json_is_400(
        self, client: httpx.AsyncClient, staff: dict[str, str], checkpoint: str
    ) -> None:
        response = await client.post(
            f"/v1/checkpoints/{checkpoint}/certificates",
            content=b"\xff{not json",
            headers={**staff, "Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert response.headers["content-type"].startswith(PROBLEM)

    async def test_garbled_codes_are_a_deny_saying_decode_failed(
        self, client: httpx.AsyncClient, staff: dict[str, str], checkpoint: str
    ) -> None:
        for qr in GARBLED_CODES:
            response = await scan(client, staff, checkpoint, {"qr": qr})
            assert response.status_code == 200, (qr, response.text)
            answer = response.json()
            assert answer["decision"] == "deny"
            assert answer["checks"]["decode"]["result"] == "failed"
            assert answer["checks"]["signature"] == {
                "result": "skipped",
                "code": "not_run",
                "detail": "Not checked: the code could not be read",
            }
            assert answer["holder"] is None
