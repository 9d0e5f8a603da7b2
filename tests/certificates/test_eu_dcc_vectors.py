"""Every public EU DCC test case gives the step results its EXPECTEDRESULTS name, checked at
its VALIDATIONCLOCK, with its signer certificate as the only entry of the trust list."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from certificates.checks import Verification
from certificates.trust import DccSigner, TrustList
from certificates.verifier import verify
from declarations.acceptance import AcceptancePolicy

VECTORS = Path(__file__).parent / "vectors" / "eu-dcc"
CASES = sorted(VECTORS.glob("*/2DCode/raw/*.json"))
# Decode steps in the order the verifier takes them, with the code its failure reports.
DECODE_STEPS = {
    "EXPECTEDUNPREFIX": ("bad_prefix",),
    "EXPECTEDB45DECODE": ("bad_base45",),
    "EXPECTEDCOMPRESSION": ("bad_compression", "too_large"),
    "EXPECTEDDECODE": ("bad_cose", "bad_cwt"),
}
_EARLIER: dict[str, tuple[str, ...]] = {}
_seen: tuple[str, ...] = ()
for _step, _codes in DECODE_STEPS.items():
    _seen += _codes
    _EARLIER[_step] = _seen


def case_id(path: Path) -> str:
    return f"{path.parts[-4]}-{path.stem}"


def load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(path.read_text())
    return case


def signer_of(case: dict[str, Any]) -> DccSigner:
    """The case's signer certificate as a trust-list entry. Its country is the subject's C;
    the common cases' certificates have none and sign as Austria (`iss` "AT")."""
    der = base64.b64decode(case["TESTCTX"]["CERTIFICATE"])
    subject = x509.load_der_x509_certificate(der).subject
    countries = subject.get_attributes_for_oid(x509.NameOID.COUNTRY_NAME)
    return DccSigner.from_der(der, str(countries[0].value) if countries else "AT")


def verified(case: dict[str, Any]) -> Verification:
    signer = signer_of(case)
    trust = TrustList(version=1, dcc_signers={signer.kid: signer})
    clock = datetime.fromisoformat(case["TESTCTX"]["VALIDATIONCLOCK"])
    return verify([case.get("PREFIX", "")], trust, AcceptancePolicy(), now=clock)


def steps() -> list[Any]:
    """One test per (case, expected step); the picture step (reading the QR image) is the
    scanner app's, not the service's."""
    found = []
    for path in CASES:
        for step, expected in load(path)["EXPECTEDRESULTS"].items():
            if step != "EXPECTEDPICTUREDECODE":
                found.append(pytest.param(path, step, expected, id=f"{case_id(path)}-{step[8:]}"))
    return found


@pytest.mark.parametrize(("path", "step", "expected"), steps())
def test_vector_step(path: Path, step: str, expected: bool) -> None:
    checks = verified(load(path)).checks
    decode = checks["decode"]
    if step in DECODE_STEPS:
        if expected:
            assert decode.code not in _EARLIER[step], decode
        else:
            assert decode.outcome == "failed", decode
            assert decode.code in DECODE_STEPS[step], decode
    elif step in ("EXPECTEDVALIDJSON", "EXPECTEDVALIDOBJECT"):
        assert (decode.outcome == "ok") is expected, decode
    elif step == "EXPECTEDSCHEMAVALIDATION":
        assert (decode.outcome, decode.code) == (("ok", "ok") if expected else ("failed", "schema"))
    elif step == "EXPECTEDVERIFY":
        # Not verified also covers a message too broken to reach the signature (CBO2).
        assert (checks["signature"].outcome == "ok") is expected, checks["signature"]
    elif step == "EXPECTEDEXPIRATIONCHECK":
        validity = checks["validity"]
        if expected:
            assert validity.outcome == "ok", validity
        else:
            assert validity.outcome == "failed"
            assert validity.code in ("expired", "not_yet_valid")
    elif step == "EXPECTEDKEYUSAGE":
        issuer = checks["issuer"]
        assert (issuer.outcome, issuer.code) == (
            ("ok", "ok") if expected else ("failed", "key_usage")
        )
    else:
        pytest.fail(f"a step the test does not know: {step}")


def test_every_case_is_tested() -> None:
    assert len(CASES) == 46
    tested = {param.values[0] for param in steps()}
    assert set(CASES) - tested == {VECTORS / "common/2DCode/raw/Q1.json"}  # picture only


class TestVerdicts:
    """What staff would see for the Austrian samples at their clock."""

    def test_a_valid_austrian_vaccination_is_read_and_checked(self) -> None:
        result = verified(load(VECTORS / "AT/2DCode/raw/1.json"))
        assert result.holder is not None
        assert result.facts is not None
        assert result.holder.name == "Gabriele Musterfrau-Gößinger"
        assert result.holder.birth_date == "1998-02-26"
        assert (result.facts.type, result.facts.country) == ("vaccination", "AT")
        assert {name: c.outcome for name, c in result.checks.items()} == {
            "decode": "ok",
            "signature": "ok",
            "issuer": "ok",
            "validity": "ok",
            "revocation": "skipped",
            "policy": "failed",  # dose 1 of 2: the default policy wants the full series
        }
        assert result.checks["policy"].code == "too_few_doses"
        assert result.decision == "deny"

    def test_a_recovery_within_its_dates_is_allowed(self) -> None:
        result = verified(load(VECTORS / "AT/2DCode/raw/2.json"))
        assert result.facts is not None
        assert result.facts.type == "recovery"
        assert result.decision == "allow", result.checks

    def test_an_expired_test_is_denied_by_policy(self) -> None:
        result = verified(load(VECTORS / "AT/2DCode/raw/3.json"))
        assert result.checks["policy"].code == "test_too_old"
        assert result.decision == "deny"
