"""Certificates from abroad for `khaibao bench`: a fresh EU signer and SMART issuer, made at
bench time and trusted through the admin API like any other, and codes they signed today,
so every scan runs every check to the end (an allow: the costliest path).

Keys are generated per run and thrown away; nothing here is a fixture of the tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import base45
import cbor2
import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from cwt import COSE, COSEKey
from joserfc import jws
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter

SHC_ISS = "https://issuer.bench.invalid"
# SMART Health Cards carry `zip: DEF`, a header JWS itself does not define.
_REGISTRY = JWSRegistry(header_registry={"zip": HeaderParameter("compression", "str")})


@dataclass(frozen=True)
class BenchCertificates:
    dcc_signer: dict[str, Any]  # the body of POST /v1/trust/dcc-signers
    shc_issuer: dict[str, Any]  # the body of POST /v1/trust/shc-issuers
    hc1_codes: list[str]
    shc_codes: list[str]


def make_certificates(count: int = 8) -> BenchCertificates:
    now = datetime.now(UTC)
    dcc_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(dcc_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(dcc_key, hashes.SHA256())
    )
    der = certificate.public_bytes(serialization.Encoding.DER)
    pem = dcc_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    kid_bytes = hashlib.sha256(der).digest()[:8]  # the EU's kid of a signer certificate
    cose_key = COSEKey.from_pem(pem, alg="ES256", kid=kid_bytes)
    shc_key = ECKey.generate_key("P-256")
    kid = str(shc_key.thumbprint())
    hc1 = [_hc1(cose_key, now, n) for n in range(count)]
    shc = [_shc(shc_key, kid, now, n) for n in range(count)]
    jwk = {**shc_key.as_dict(private=False), "kid": kid, "alg": "ES256", "use": "sig"}
    return BenchCertificates(
        dcc_signer={"certificate": base64.b64encode(der).decode(), "country": "VN"},
        shc_issuer={"iss": SHC_ISS, "jwks": {"keys": [jwk]}, "country": "US"},
        hc1_codes=hc1,
        shc_codes=shc,
    )


def _hc1(key: Any, now: datetime, n: int) -> str:
    hcert = {
        "ver": "1.3.0",
        "nam": {"fn": "Nguyen", "fnt": "NGUYEN", "gn": "Lan", "gnt": "LAN"},
        "dob": f"{1950 + n}-01-01",
        "v": [
            {
                "tg": "840539006",
                "vp": "1119349007",
                "mp": "EU/1/20/1528",
                "ma": "ORG-100030215",
                "dn": 2,
                "sd": 2,
                "dt": (now - timedelta(days=60)).date().isoformat(),
                "co": "VN",
                "is": "Ministry of Health",
                "ci": f"URN:UVCI:01:VN:BENCH{n:04d}#X",
            }
        ],
    }
    claims = {
        1: "VN",
        6: int(now.timestamp()) - 3600,
        4: int(now.timestamp()) + 86400 * 365,
        -260: {1: hcert},
    }
    cose = COSE.new().encode_and_sign(cbor2.dumps(claims), key, protected={1: -7, 4: key.kid})
    assert isinstance(cose, bytes)
    text: bytes = base45.b45encode(zlib.compress(cose, 9))
    return "HC1:" + text.decode()


def _shc(key: ECKey, kid: str, now: datetime, n: int) -> str:
    entries = [
        {
            "fullUrl": "resource:0",
            "resource": {
                "resourceType": "Patient",
                "name": [{"family": "Doe", "given": [f"Jane{n}"]}],
                "birthDate": "1980-01-01",
            },
        }
    ] + [
        {
            "fullUrl": f"resource:{d}",
            "resource": {
                "resourceType": "Immunization",
                "status": "completed",
                "occurrenceDateTime": (now - timedelta(days=30 * d + 30)).date().isoformat(),
            },
        }
        for d in (1, 2)
    ]
    payload = {
        "iss": SHC_ISS,
        "nbf": now.timestamp() - 3600,
        "vc": {
            "type": ["https://smarthealth.cards#health-card"],
            "credentialSubject": {"fhirBundle": {"resourceType": "Bundle", "entry": entries}},
        },
    }
    deflater = zlib.compressobj(wbits=-15)
    raw = deflater.compress(json.dumps(payload).encode()) + deflater.flush()
    token = jws.serialize_compact(
        {"alg": "ES256", "zip": "DEF", "kid": kid}, raw, key, registry=_REGISTRY
    )
    return "shc:/" + "".join(f"{ord(c) - 45:02d}" for c in token)


def trust_and_items(
    base_url: str, admin_token: str, clerks: list[tuple[str, str]]
) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str, str, str]]]:
    """Trust the run's signer and issuer over the admin API, and the scan requests of each
    format, spread over the clerks `(checkpoint_id, access_token)`."""
    made = make_certificates()
    admin = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        for path, body in (
            ("/v1/trust/dcc-signers", made.dcc_signer),
            ("/v1/trust/shc-issuers", made.shc_issuer),
        ):
            client.post(path, json=body, headers=admin).raise_for_status()

    def items(codes: list[str]) -> list[tuple[str, str, str, str]]:
        return [
            (
                "POST",
                f"/v1/checkpoints/{clerks[i % len(clerks)][0]}/certificates",
                f"Bearer {clerks[i % len(clerks)][1]}",
                json.dumps({"qr": code}),
            )
            for i, code in enumerate(codes)
        ]

    return items(made.hc1_codes), items(made.shc_codes)
