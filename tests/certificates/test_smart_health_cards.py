"""SMART Health Cards: the public examples verify against their issuer's key set (the
three-part card in every order of its parts), and every way a card can be wrong is caught
by the check it belongs to."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from certificates.checks import Verification
from certificates.shc import jws_text
from certificates.trust import TrustList, shc_issuer
from certificates.verifier import verify
from declarations.acceptance import AcceptancePolicy
from tests.certificates.issuers import (
    SHC_ISSUER,
    SmartIssuer,
    example_card_chunks,
    example_crl,
    example_jwks,
    inflate_payload,
    numeric,
    shc_vector,
    with_payload,
)

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def trust_with(*issuers: tuple[str, dict[str, Any], list[Any]]) -> TrustList:
    return TrustList(
        version=1, shc_issuers={iss: shc_issuer(iss, jwks, crls) for iss, jwks, crls in issuers}
    )


EXAMPLE_TRUST = trust_with((SHC_ISSUER, example_jwks(), [example_crl()]))


def checked(chunks: list[str], trust: TrustList = EXAMPLE_TRUST) -> Verification:
    return verify(chunks, trust, AcceptancePolicy(), now=NOW)


def outcomes(result: Verification) -> dict[str, str]:
    return {name: f"{check.outcome}:{check.code}" for name, check in result.checks.items()}


class TestPublicExamples:
    @pytest.mark.parametrize("example", ["00", "01"])
    def test_a_single_code_card_verifies(self, example: str) -> None:
        result = checked([shc_vector(f"example-{example}-f-qr-code-numeric-value-0.txt")])
        assert result.format == "smart_health_card"
        assert result.checks["decode"].outcome == "ok"
        assert result.checks["signature"].outcome == "ok", result.checks
        assert result.checks["issuer"].outcome == "ok"
        assert result.checks["validity"].outcome == "ok"
        assert result.holder is not None
        assert result.holder.name == "John B. Anyperson"
        assert result.holder.birth_date == "1951-01-20"
        assert result.facts is not None
        assert result.facts.type == "vaccination"
        assert result.facts.doses == 3

    def test_example_00_is_checked_against_its_key_revocation_list(self) -> None:
        result = checked([shc_vector("example-00-f-qr-code-numeric-value-0.txt")])
        assert outcomes(result)["revocation"] == "ok:ok"
        assert result.decision == "allow"

    def test_a_key_without_a_revocation_list_says_so(self) -> None:
        result = checked([shc_vector("example-01-f-qr-code-numeric-value-0.txt")])
        assert outcomes(result)["revocation"] == "skipped:no_revocation_list"
        assert result.decision == "allow"

    @pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
    def test_the_three_part_card_verifies_in_any_order(self, order: tuple[int, ...]) -> None:
        chunks = example_card_chunks()
        result = checked([chunks[i] for i in order])
        assert result.checks["decode"].outcome == "ok"
        assert result.checks["signature"].outcome == "ok"
        assert result.checks["issuer"].outcome == "ok"
        assert result.facts is not None
        assert result.facts.type == "test"
        # A laboratory panel, not a COVID-19 test the policy knows: said as such.
        assert result.checks["policy"].code == "test_kind"

    def test_the_qr_texts_carry_the_published_jws(self) -> None:
        chunks = example_card_chunks()
        assert jws_text(chunks) == shc_vector("example-02-d-jws.txt")


class TestForgeries:
    def test_a_tampered_payload_fails_the_signature(self) -> None:
        token = shc_vector("example-00-d-jws.txt")
        payload = inflate_payload(token)
        patient = payload["vc"]["credentialSubject"]["fhirBundle"]["entry"][0]["resource"]
        patient["birthDate"] = "1990-01-01"
        result = checked([numeric(with_payload(token, payload))])
        assert outcomes(result)["decode"] == "ok:ok"
        assert outcomes(result)["signature"] == "failed:bad_signature"
        assert result.holder is not None
        assert result.holder.birth_date == "1990-01-01"
        assert result.decision == "deny"

    def test_a_foreign_key_under_a_trusted_kid_fails_the_signature(self) -> None:
        kid = example_jwks()["keys"][0]["kid"]
        forger = SmartIssuer(iss=SHC_ISSUER, kid=kid)
        result = checked([numeric(forger.card(nbf=NOW - timedelta(days=1)))])
        assert outcomes(result)["signature"] == "failed:bad_signature"
        assert outcomes(result)["issuer"] == "ok:ok"  # the name is right, the key is not
        assert result.decision == "deny"

    def test_a_kid_not_in_the_issuer_key_set_is_an_unknown_signer(self) -> None:
        stranger = SmartIssuer(iss=SHC_ISSUER, kid="not-a-key-of-this-issuer")
        result = checked([numeric(stranger.card(nbf=NOW - timedelta(days=1)))])
        assert outcomes(result)["signature"] == "failed:unknown_signer"

    def test_an_issuer_not_on_the_trust_list_fails_signature_and_issuer(self) -> None:
        other = SmartIssuer()
        result = checked([numeric(other.card(nbf=NOW - timedelta(days=1)))])
        assert outcomes(result)["signature"] == "failed:unknown_signer"
        assert outcomes(result)["issuer"] == "failed:unknown_issuer"
        # The other checks still ran and say what they found.
        assert outcomes(result)["validity"] == "ok:ok"
        assert outcomes(result)["policy"] == "ok:ok"

    def test_a_card_from_the_future_is_not_yet_valid(self) -> None:
        issuer = SmartIssuer()
        trust = trust_with((issuer.iss, issuer.jwks, []))
        result = checked([numeric(issuer.card(nbf=NOW + timedelta(days=2)))], trust)
        assert outcomes(result)["signature"] == "ok:ok"
        assert outcomes(result)["validity"] == "failed:not_yet_valid"


def lab_card(issuer: SmartIssuer, result: str, sampled: datetime) -> str:
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "94500-6"}]},
        "effectiveDateTime": sampled.isoformat(),
        "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": result}]},
    }
    payload = inflate_payload(issuer.card(nbf=sampled))
    entries = payload["vc"]["credentialSubject"]["fhirBundle"]["entry"]
    payload["vc"]["credentialSubject"]["fhirBundle"]["entry"] = [
        entries[0],
        {"fullUrl": "resource:1", "resource": observation},
    ]
    return numeric(issuer.sign(payload))


class TestPolicyOnTests:
    def test_a_recent_negative_pcr_is_allowed_a_detected_one_is_not(self) -> None:
        issuer = SmartIssuer()
        trust = trust_with((issuer.iss, issuer.jwks, []))
        negative = checked([lab_card(issuer, "260385009", NOW - timedelta(hours=5))], trust)
        assert negative.decision == "allow", negative.checks
        detected = checked([lab_card(issuer, "260373001", NOW - timedelta(hours=5))], trust)
        assert outcomes(detected)["policy"] == "failed:test_positive"
        old = checked([lab_card(issuer, "260385009", NOW - timedelta(hours=80))], trust)
        assert outcomes(old)["policy"] == "failed:test_too_old"


class TestBrokenCodes:
    def test_a_missing_chunk_is_a_decode_failure(self) -> None:
        chunks = example_card_chunks()
        result = checked(chunks[:2])
        assert outcomes(result)["decode"] == "failed:bad_chunks"
        assert {c.outcome for n, c in result.checks.items() if n != "decode"} == {"skipped"}

    def test_a_truncated_chunk_is_a_decode_failure(self) -> None:
        chunks = example_card_chunks()
        chunks[1] = chunks[1][:-7]
        result = checked(chunks)
        assert result.checks["decode"].outcome == "failed"
        assert result.checks["signature"].code == "not_run"

    @pytest.mark.parametrize(
        "chunks",
        [
            ["shc:/1/3/5676", "shc:/1/3/5676", "shc:/3/3/5676"],  # a part twice
            ["shc:/1/2/5676", "shc:/2/3/5676"],  # parts of different cards
            ["shc:/0/1/5676"],
            ["shc:/99999999"],  # digits past 'z'
            ["shc:/567"],  # odd number of digits
            ["shc:/"],
            ["shc:/" + "56" * 20],  # no JWS
        ],
    )
    def test_malformed_chunks_never_raise(self, chunks: list[str]) -> None:
        assert checked(chunks).checks["decode"].outcome == "failed"

    @pytest.mark.parametrize("nbf", [1e300, -1, "2026-01-01", None])
    def test_an_impossible_issue_time_is_a_decode_failure(self, nbf: object) -> None:
        issuer = SmartIssuer()
        payload = inflate_payload(issuer.card())
        payload["nbf"] = nbf
        result = checked([numeric(issuer.sign(payload))])
        assert outcomes(result)["decode"] == "failed:bad_payload"

    def test_a_deflate_bomb_is_refused_unread(self) -> None:
        issuer = SmartIssuer()
        payload = {"iss": issuer.iss, "nbf": 1, "vc": {"pad": "0" * 2_000_000}}
        result = checked([numeric(issuer.sign(payload))])
        assert outcomes(result)["decode"] == "failed:too_large"


class TestRevocation:
    def crl_with(self, *rids: str) -> dict[str, Any]:
        crl = example_crl()
        return {**crl, "rids": [*crl["rids"], *rids]}

    def example_00(self, crl: dict[str, Any]) -> Verification:
        trust = trust_with((SHC_ISSUER, example_jwks(), [crl]))
        return checked([shc_vector("example-00-f-qr-code-numeric-value-0.txt")], trust)

    def test_a_revoked_rid_is_denied(self) -> None:
        result = self.example_00(self.crl_with("MKyCxh7p6uQ"))
        assert outcomes(result)["revocation"] == "failed:revoked"
        assert outcomes(result)["signature"] == "ok:ok"
        assert result.decision == "deny"

    def test_a_rid_revoked_before_a_moment_revokes_cards_issued_before_it(self) -> None:
        # Example 00 was issued (nbf) at 1687450764.656.
        assert (
            outcomes(self.example_00(self.crl_with("MKyCxh7p6uQ.1687450765")))["revocation"]
            == "failed:revoked"
        )

    def test_a_card_issued_after_the_revocation_moment_stands(self) -> None:
        result = self.example_00(self.crl_with("MKyCxh7p6uQ.1687450000"))
        assert outcomes(result)["revocation"] == "ok:ok"
