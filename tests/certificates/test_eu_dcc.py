"""EU certificates beyond the public vectors: signed today by a test signer, and forged in
each way the checks must catch (tampered payload, foreign key, wrong kid, key usage,
signer validity at issue time, country), never raising on garbage."""

from __future__ import annotations

import zlib
from datetime import UTC, date, datetime, timedelta

import base45
import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certificates.checks import Verification
from certificates.trust import DccSigner, TrustEntryInvalid, TrustList
from certificates.verifier import verify
from declarations.acceptance import AcceptancePolicy
from tests.certificates.issuers import EuSigner, hc1, unwrap

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
TEST_ONLY = "1.3.6.1.4.1.1847.2021.1.1"


def trust_of(*signers: EuSigner) -> TrustList:
    entries = [DccSigner.from_der(s.der, s.country) for s in signers]
    return TrustList(version=1, dcc_signers={e.kid: e for e in entries})


def checked(code: str, trust: TrustList, **policy: object) -> Verification:
    return verify([code], trust, AcceptancePolicy(**policy), now=NOW)  # type: ignore[arg-type]


def outcomes(result: Verification) -> dict[str, str]:
    return {name: f"{check.outcome}:{check.code}" for name, check in result.checks.items()}


@pytest.fixture(scope="module")
def signer() -> EuSigner:
    return EuSigner("VN", valid_from=NOW - timedelta(days=100))


class TestGenuine:
    def test_a_full_series_is_allowed_with_every_check_reported(self, signer: EuSigner) -> None:
        result = checked(signer.vaccination(issued=NOW - timedelta(days=1)), trust_of(signer))
        assert outcomes(result) == {
            "decode": "ok:ok",
            "signature": "ok:ok",
            "issuer": "ok:ok",
            "validity": "ok:ok",
            "revocation": "skipped:no_revocation_list",
            "policy": "ok:ok",
        }
        assert result.decision == "allow"
        assert result.holder is not None
        assert result.holder.name == "Thị Lan Nguyễn"

    def test_the_ministry_policy_decides_on_doses_and_days(self, signer: EuSigner) -> None:
        code = signer.vaccination(
            issued=NOW - timedelta(days=1), dose=1, of=2, dose_date=date(2026, 12, 1)
        )
        assert checked(code, trust_of(signer)).checks["policy"].code == "too_few_doses"
        lenient = checked(code, trust_of(signer), vaccination_complete_series=False)
        assert lenient.checks["policy"].code == "too_soon_after_dose"
        assert (
            checked(
                code, trust_of(signer), vaccination_complete_series=False, vaccination_min_days=0
            ).decision
            == "allow"
        )


class TestForgeries:
    def test_a_tampered_payload_fails_the_signature(self, signer: EuSigner) -> None:
        message = cbor2.loads(unwrap(signer.vaccination(issued=NOW - timedelta(days=1))))
        claims = cbor2.loads(message.value[2])
        claims[-260][1]["dob"] = "1970-01-01"
        message.value[2] = cbor2.dumps(claims)
        result = checked(hc1(cbor2.dumps(message)), trust_of(signer))
        assert outcomes(result)["decode"] == "ok:ok"
        assert outcomes(result)["signature"] == "failed:bad_signature"
        assert result.decision == "deny"

    def test_a_foreign_key_using_a_trusted_kid_fails(self, signer: EuSigner) -> None:
        forger = EuSigner("VN")
        code = forger.vaccination(issued=NOW - timedelta(days=1), kid=signer.kid)
        assert outcomes(checked(code, trust_of(signer)))["signature"] == "failed:bad_signature"

    def test_a_kid_not_on_the_trust_list_is_an_unknown_signer(self, signer: EuSigner) -> None:
        code = signer.vaccination(issued=NOW - timedelta(days=1), kid=b"\x00" * 8)
        result = checked(code, trust_of(signer))
        assert outcomes(result)["signature"] == "failed:unknown_signer"
        assert outcomes(result)["issuer"] == "failed:unknown_signer"
        assert outcomes(result)["validity"] == "ok:ok"  # still run and reported

    def test_key_usage_limits_what_a_signer_may_sign(self) -> None:
        tests_only = EuSigner("VN", usages=(TEST_ONLY,), valid_from=NOW - timedelta(days=10))
        code = tests_only.vaccination(issued=NOW - timedelta(days=1))
        result = checked(code, trust_of(tests_only))
        assert outcomes(result)["signature"] == "ok:ok"
        assert outcomes(result)["issuer"] == "failed:key_usage"

    def test_a_signer_is_judged_at_the_certificate_issue_time(self) -> None:
        old = EuSigner("VN", valid_from=NOW - timedelta(days=400), days=100)
        before_expiry = old.vaccination(issued=NOW - timedelta(days=350))
        assert outcomes(checked(before_expiry, trust_of(old)))["issuer"] == "ok:ok"
        after_expiry = old.vaccination(issued=NOW - timedelta(days=10))
        result = checked(after_expiry, trust_of(old))
        assert outcomes(result)["issuer"] == "failed:signer_not_valid_at_issue"

    def test_a_signer_may_sign_only_for_its_own_country(self, signer: EuSigner) -> None:
        code = signer.vaccination(issued=NOW - timedelta(days=1))
        entry = DccSigner.from_der(signer.der, "TH")
        result = checked(code, TrustList(version=1, dcc_signers={entry.kid: entry}))
        assert outcomes(result)["issuer"] == "failed:country_mismatch"


class TestBrokenCodes:
    @pytest.mark.parametrize("moment", [10**30, -(10**30), float("nan"), True])
    def test_an_impossible_issue_time_is_a_decode_failure(
        self, signer: EuSigner, moment: object
    ) -> None:
        message = cbor2.loads(unwrap(signer.vaccination(issued=NOW - timedelta(days=1))))
        claims = cbor2.loads(message.value[2])
        claims[6] = moment
        message.value[2] = cbor2.dumps(claims)
        result = checked(hc1(cbor2.dumps(message)), trust_of(signer))
        assert outcomes(result)["decode"] == "failed:bad_cwt"

    def test_a_zlib_bomb_is_refused_unread(self) -> None:
        bomb = "HC1:" + base45.b45encode(zlib.compress(b"\0" * 5_000_000)).decode()
        assert outcomes(checked(bomb, TrustList()))["decode"] == "failed:too_large"

    @settings(max_examples=200, deadline=None)
    @given(st.text(max_size=300))
    def test_no_text_makes_the_verifier_raise(self, text: str) -> None:
        result = checked("HC1:" + text, TrustList())
        assert result.decision == "deny"

    @settings(max_examples=150, deadline=None)
    @given(
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats()
            | st.text(max_size=20)
            | st.binary(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.integers(-300, 10) | st.text(max_size=4), inner, max_size=4)
            ),
            max_leaves=25,
        )
    )
    def test_no_claims_inside_a_well_formed_envelope_make_it_raise(self, claims: object) -> None:
        envelope = cbor2.CBORTag(
            18, [cbor2.dumps({1: -7, 4: b"01234567"}), {}, cbor2.dumps(claims), b"sig"]
        )
        result = checked(hc1(cbor2.dumps(envelope)), TrustList())
        assert result.decision == "deny"

    @pytest.mark.parametrize(
        ("field", "value"),
        [("dt", "2021-13-45"), ("dt", 20210218), ("dn", "2"), ("co", None), ("dt", "")],
    )
    def test_an_impossible_entry_fails_the_schema(
        self, signer: EuSigner, field: str, value: object
    ) -> None:
        message = cbor2.loads(unwrap(signer.vaccination(issued=NOW - timedelta(days=1))))
        claims = cbor2.loads(message.value[2])
        claims[-260][1]["v"][0][field] = value
        message.value[2] = cbor2.dumps(claims)
        result = checked(hc1(cbor2.dumps(message)), trust_of(signer))
        assert outcomes(result)["decode"] == "failed:schema"

    def test_a_test_sampled_at_a_time_without_a_zone_fails_the_schema(
        self, signer: EuSigner
    ) -> None:
        hcert = {
            "ver": "1.3.0",
            "nam": {"fnt": "NGUYEN"},
            "dob": "1990",
            "t": [
                {
                    "tg": "840539006",
                    "tt": "LP6464-4",
                    "sc": "2026-12-05T10:00:00",
                    "tr": "260415000",
                    "co": "VN",
                    "is": "MoH",
                    "ci": "URN:UVCI:X",
                }
            ],
        }
        code = signer.code(hcert, issued=NOW - timedelta(hours=1))
        assert outcomes(checked(code, trust_of(signer)))["decode"] == "failed:schema"
        hcert["t"][0]["sc"] = "2026-12-05T10:00:00+07:00"  # type: ignore[index]
        result = checked(signer.code(hcert, issued=NOW - timedelta(hours=1)), trust_of(signer))
        assert result.decision == "allow", result.checks

    @settings(max_examples=100, deadline=None)
    @given(st.binary(max_size=300))
    def test_no_compressed_bytes_make_the_verifier_raise(self, data: bytes) -> None:
        result = checked(hc1(data), TrustList())
        assert result.checks["decode"].outcome == "failed"


class TestTrustEntries:
    def test_a_small_rsa_key_or_garbage_is_refused(self) -> None:
        with pytest.raises(TrustEntryInvalid):
            DccSigner.from_der(b"not a certificate", "VN")
