"""EU Digital COVID Certificates: `HC1:` → Base45 → zlib → COSE_Sign1 → CWT → claim -260.

Decoding is ours (a few lines over `base45`, `zlib` and `cbor2`, each bounded); the
signature is checked by `cwt` (COSE on top of `cryptography`, ES256 and PS256), against the
signer the trust list holds for the message's `kid`. The `kid` is read from the protected
header first and from the unprotected one only when the protected header has none, so an
attacker who can change only the unprotected header cannot choose the key (test cases
CO21/CO22).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import base45
import cbor2
from cwt import COSE, DecodeError, VerifyError
from pydantic import ValidationError

from certificates.checks import (
    MAX_DECOMPRESSED_BYTES,
    OK,
    Check,
    DecodeFailure,
    Facts,
    Holder,
    Verification,
    failed,
)
from certificates.dcc_revocation import certificate_entries
from certificates.dcc_schema import (
    NOT_DETECTED,
    TEST_PCR,
    TEST_RAPID,
    HealthCertificate,
    as_json_values,
)
from certificates.policy import judge
from certificates.trust import (
    ES256,
    PS256,
    DccSigner,
    TrustList,
    is_timestamp,
    utc_from_timestamp,
)
from declarations.acceptance import AcceptancePolicy

PREFIX = "HC1:"
COSE_SIGN1 = 18
CWT_TAG = 61
HCERT_CLAIM, HCERT_V1 = -260, 1
ISS, EXP, IAT = 1, 4, 6
_cose = COSE.new(verify_kid=False)


@dataclass(frozen=True)
class Decoded:
    message: cbor2.CBORTag
    signature: bytes
    kid: bytes | None
    alg: int | None
    iss: str | None
    iat: int | None
    exp: int | None
    certificate: HealthCertificate


def verify_dcc(
    text: str, trust: TrustList, policy: AcceptancePolicy, *, now: datetime
) -> Verification:
    """Every check of one `HC1:` code at `now` (the scan's moment, or a test's clock)."""
    verification = Verification("eu_dcc")
    try:
        decoded = decode(text)
    except DecodeFailure as failure:
        return verification.decode_failed(failure.code)
    facts = _facts(decoded)
    verification.checks["decode"] = OK
    verification.holder = _holder(decoded.certificate)
    verification.facts = facts
    signer = trust.dcc_signers.get(decoded.kid) if decoded.kid is not None else None
    verification.checks["signature"] = _signature(decoded, signer)
    verification.checks["issuer"] = _issuer(decoded, signer, facts)
    verification.checks["validity"] = _validity(decoded, now)
    verification.checks["revocation"] = _revocation(decoded, trust)
    verification.checks["policy"] = judge(facts, policy, now=now)
    return verification


def decode(text: str) -> Decoded:
    if not text.startswith(PREFIX):
        raise DecodeFailure("bad_prefix")
    try:
        compressed = base45.b45decode(text[len(PREFIX) :])
    except ValueError:
        raise DecodeFailure("bad_base45") from None
    cose = _inflate(compressed, wbits=zlib.MAX_WBITS)
    message = _sign1(cose)
    protected_bytes, unprotected, payload, signature = message.value
    protected = _map(_cbor(protected_bytes, "bad_cose")) if protected_bytes else {}
    if not isinstance(unprotected, dict):
        raise DecodeFailure("bad_cose")
    kid = protected.get(4, unprotected.get(4))
    alg = protected.get(1, unprotected.get(1))
    if (kid is not None and not isinstance(kid, bytes)) or (
        alg is not None and not isinstance(alg, int)
    ):
        raise DecodeFailure("bad_cose")
    claims = _cbor(payload, "bad_cwt")
    if not isinstance(claims, dict):
        raise DecodeFailure("bad_cwt")
    iss, iat, exp = claims.get(ISS), claims.get(IAT), claims.get(EXP)
    if (iss is not None and not isinstance(iss, str)) or any(
        v is not None and not is_timestamp(v) for v in (iat, exp)
    ):
        raise DecodeFailure("bad_cwt")
    hcert = claims.get(HCERT_CLAIM)
    if not isinstance(hcert, dict) or not isinstance(hcert.get(HCERT_V1), dict):
        raise DecodeFailure("bad_cwt")
    try:
        certificate = HealthCertificate.model_validate(as_json_values(hcert[HCERT_V1]))
    except (ValidationError, ValueError):
        raise DecodeFailure("schema") from None
    return Decoded(message, signature, kid, alg, iss, iat, exp, certificate)


def _inflate(data: bytes, *, wbits: int) -> bytes:
    """zlib, bounded: what does not fit in MAX_DECOMPRESSED_BYTES is refused, not read."""
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, MAX_DECOMPRESSED_BYTES)
    except zlib.error:
        raise DecodeFailure("bad_compression") from None
    if inflater.unconsumed_tail:
        raise DecodeFailure("too_large")
    if not inflater.eof:
        raise DecodeFailure("bad_compression")
    return out


def _cbor(data: Any, code: str) -> Any:
    if not isinstance(data, bytes):
        raise DecodeFailure(code)
    try:
        return cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError):
        raise DecodeFailure(code) from None


def _map(value: Any) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise DecodeFailure("bad_cose")
    return value


def _sign1(data: bytes) -> cbor2.CBORTag:
    """The COSE_Sign1 array, tagged 18 or untagged, possibly inside a CWT tag (61)."""
    value = _cbor(data, "bad_cose")
    if isinstance(value, cbor2.CBORTag) and value.tag == CWT_TAG:
        value = value.value
    if isinstance(value, cbor2.CBORTag):
        if value.tag != COSE_SIGN1:
            raise DecodeFailure("bad_cose")
        value = value.value
    if not isinstance(value, list) or len(value) != 4:
        raise DecodeFailure("bad_cose")
    protected, _, payload, signature = value
    if not all(isinstance(part, bytes) for part in (protected, payload, signature)):
        raise DecodeFailure("bad_cose")
    return cbor2.CBORTag(COSE_SIGN1, value)


def _signature(decoded: Decoded, signer: DccSigner | None) -> Check:
    if signer is None:
        return failed("unknown_signer")
    if decoded.alg not in (ES256, PS256):
        return failed("unsupported_algorithm")
    # An RSA signature claimed as ECDSA (or the reverse) is refused before any maths.
    if decoded.alg != signer.alg:
        return failed("bad_signature")
    try:
        _cose.decode(decoded.message, keys=[signer.key])
    except (VerifyError, DecodeError, ValueError):
        return failed("bad_signature")
    return OK


def _issuer(decoded: Decoded, signer: DccSigner | None, facts: Facts) -> Check:
    if signer is None:
        return failed("unknown_signer")
    if decoded.iss is not None and decoded.iss != signer.country:
        return failed("country_mismatch")
    if decoded.iat is not None:
        issued_at = utc_from_timestamp(decoded.iat)
        if not signer.not_before <= issued_at <= signer.not_after:
            return failed("signer_not_valid_at_issue")
    if signer.may_sign is not None and facts.type not in signer.may_sign:
        return failed("key_usage")
    return OK


def _validity(decoded: Decoded, now: datetime) -> Check:
    if decoded.iat is None or decoded.exp is None:
        return failed("no_dates")
    if now < utc_from_timestamp(decoded.iat):
        return failed("not_yet_valid")
    if now > utc_from_timestamp(decoded.exp):
        return failed("expired")
    return OK


def _revocation(decoded: Decoded, trust: TrustList) -> Check:
    """Revoked when a list of the signer's names one of the certificate's hashes
    (certificates/dcc_revocation.py); skipped when no list is kept for that signer."""
    revocations = trust.dcc_revocations.get(decoded.kid) if decoded.kid is not None else None
    if revocations is None:
        return Check("skipped", "no_revocation_list")
    certificate = decoded.certificate
    events = (*(certificate.v or ()), *(certificate.t or ()), *(certificate.r or ()))
    entries = certificate_entries(
        alg=decoded.alg,
        signature=decoded.signature,
        country=decoded.iss,
        ucis=[event.ci for event in events],
    )
    return failed("revoked") if revocations.revokes(entries) else OK


def _holder(certificate: HealthCertificate) -> Holder:
    names = certificate.nam
    given = names.gn or (names.gnt or "").replace("<", " ").strip() or None
    family = names.fn or names.fnt.replace("<", " ").strip() or None
    name = " ".join(part for part in (given, family) if part) or None
    return Holder(name=name, birth_date=certificate.dob or None)


def _facts(decoded: Decoded) -> Facts:
    certificate = decoded.certificate
    if certificate.v:
        v = certificate.v[0]
        return Facts(
            type="vaccination",
            country=v.co,
            doses=v.dn,
            series=v.sd,
            last_dose=v.dt,
        )
    if certificate.t:
        t = certificate.t[0]
        kind = {TEST_PCR: "pcr", TEST_RAPID: "rapid"}.get(t.tt, "other")
        return Facts(
            type="test",
            country=t.co,
            test_kind=kind,  # type: ignore[arg-type]
            test_negative=t.tr == NOT_DETECTED,
            sampled_at=t.sc,
        )
    assert certificate.r is not None  # the schema admits exactly one of v, t, r
    r = certificate.r[0]
    return Facts(
        type="recovery",
        country=r.co,
        first_positive=r.fr,
        valid_from=r.df,
        valid_until=r.du,
    )
