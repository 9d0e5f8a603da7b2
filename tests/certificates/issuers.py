"""Test-side issuers that sign real certificates: an EU signer (an X.509 DSC, self-signed or
issued by a test CSCA, with an EC or RSA key, and COSE signatures by `cwt`) and a SMART
issuer (an EC key and JWS by `joserfc`). The public vectors are from 2021-2023; these make
codes valid *today*, and forged ones on purpose."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import base45
import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from cwt import COSE, COSEKey
from joserfc import jws
from joserfc.jwk import ECKey

from certificates.shc import JWS_REGISTRY
from certificates.trust import ES256, PS256, dcc_kid

VECTORS = Path(__file__).parent / "vectors"
SHC_ISSUER = "https://spec.smarthealth.cards/examples/issuer"
# The keys EU signers and CSCAs have: EC P-256, or RSA (signers then sign PS256).
KeyKind = Literal["ec", "rsa"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def private_key(kind: KeyKind) -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def shc_vector(name: str) -> str:
    return (VECTORS / "shc" / name).read_text().strip()


def example_jwks() -> dict[str, Any]:
    jwks: dict[str, Any] = json.loads((VECTORS / "shc/issuer/.well-known/jwks.json").read_text())
    return jwks


def example_crl() -> dict[str, Any]:
    (path,) = (VECTORS / "shc/issuer/.well-known/crl").glob("*.json")
    crl: dict[str, Any] = json.loads(path.read_text())
    return crl


def example_card_chunks() -> list[str]:
    """Example 02: one card in three QR codes, in order."""
    return [shc_vector(f"example-02-f-qr-code-numeric-value-{i}.txt") for i in range(3)]


def numeric(token: str) -> str:
    return "shc:/" + "".join(f"{ord(c) - 45:02d}" for c in token)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush()


def inflate_payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    raw = zlib.decompress(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)), -15)
    payload: dict[str, Any] = json.loads(raw)
    return payload


def with_payload(token: str, payload: dict[str, Any]) -> str:
    """The same header and signature over another payload: a tampered card."""
    header, _, signature = token.split(".")
    body = b64url(deflate(json.dumps(payload, separators=(",", ":")).encode()))
    return f"{header}.{body}.{signature}"


class SmartIssuer:
    def __init__(self, iss: str = "https://issuer.example.org", kid: str | None = None) -> None:
        self.iss = iss
        self.key = ECKey.generate_key("P-256")
        self.kid = kid or str(self.key.thumbprint())

    @property
    def jwks(self) -> dict[str, Any]:
        public = self.key.as_dict(private=False)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "ES256"}]}

    def card(
        self,
        *,
        nbf: datetime | None = None,
        rid: str | None = None,
        doses: int = 2,
        iss: str | None = None,
    ) -> str:
        """A vaccination card, signed; its last dose a month before `nbf` (default now)."""
        issued = nbf or datetime.now(UTC)
        last = (issued - timedelta(days=30)).date()
        entries: list[dict[str, Any]] = [
            {
                "fullUrl": "resource:0",
                "resource": {
                    "resourceType": "Patient",
                    "name": [{"family": "Anyperson", "given": ["John", "B."]}],
                    "birthDate": "1951-01-20",
                },
            }
        ]
        for n in range(doses):
            entries.append(
                {
                    "fullUrl": f"resource:{n + 1}",
                    "resource": {
                        "resourceType": "Immunization",
                        "status": "completed",
                        "vaccineCode": {
                            "coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "207"}]
                        },
                        "patient": {"reference": "resource:0"},
                        "occurrenceDateTime": (
                            last - timedelta(days=28 * (doses - 1 - n))
                        ).isoformat(),
                    },
                }
            )
        vc: dict[str, Any] = {
            "type": ["https://smarthealth.cards#health-card"],
            "credentialSubject": {
                "fhirVersion": "4.0.1",
                "fhirBundle": {"resourceType": "Bundle", "type": "collection", "entry": entries},
            },
        }
        if rid is not None:
            vc["rid"] = rid
        payload = {"iss": iss or self.iss, "nbf": issued.timestamp(), "vc": vc}
        return self.sign(payload)

    def sign(self, payload: dict[str, Any], **header: Any) -> str:
        raw = deflate(json.dumps(payload, separators=(",", ":")).encode())
        protected = {"alg": "ES256", "zip": "DEF", "kid": self.kid, **header}
        return jws.serialize_compact(protected, raw, self.key, registry=JWS_REGISTRY)


def _name(country: str | None, common_name: str) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if country is not None:
        attributes.insert(0, x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    return x509.Name(attributes)


class EuCsca:
    """A Country Signing CA: a self-signed CA certificate whose key issues signers. An RSA
    CSCA signs certificates with RSA-PSS (`pss`) or PKCS#1 v1.5, as countries' CSCAs do.
    The other keyword arguments make the broken ones a trust list must refuse, and `name`
    an impostor: another key under a trusted CSCA's name."""

    def __init__(
        self,
        country: str = "VN",
        *,
        key: KeyKind = "ec",
        pss: bool = False,
        name: x509.Name | None = None,
        subject_country: str | None = "",
        ca: bool | None = True,
        key_cert_sign: bool | None = True,
        valid_from: datetime | None = None,
        days: int = 3650,
    ) -> None:
        self.country = country
        self.private_key = private_key(key)
        self.pss = pss
        self.not_before = valid_from or datetime.now(UTC) - timedelta(days=30)
        # "" names the country itself; None leaves C= out of the subject.
        named = country if subject_country == "" else subject_country
        self.name = name or _name(
            named, f"CSCA {country} test {x509.random_serial_number() % 10**6}"
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.private_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.not_before)
            .not_valid_after(self.not_before + timedelta(days=days))
        )
        if ca is not None:  # None: no basicConstraints at all
            builder = builder.add_extension(
                x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True
            )
        if key_cert_sign is not None:  # None: no keyUsage at all
            builder = builder.add_extension(_ca_usage(key_cert_sign), critical=True)
        self.certificate = self.issue(builder)
        self.der = self.certificate.public_bytes(serialization.Encoding.DER)
        self.id = hashlib.sha256(self.der).hexdigest()

    def issue(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        """The certificate signed by this CSCA's key (RSA-PSS salt: the digest's length)."""
        if isinstance(self.private_key, rsa.RSAPrivateKey) and self.pss:
            pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
            return builder.sign(self.private_key, hashes.SHA256(), rsa_padding=pss)
        return builder.sign(self.private_key, hashes.SHA256())

    @property
    def certificate_b64(self) -> str:
        return base64.b64encode(self.der).decode()


def _ca_usage(key_cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not key_cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


class EuSigner:
    """A document signer certificate and the HC1 codes it signs (ES256 with an EC key, PS256
    with an RSA key): self-signed, or issued by a test CSCA (`issuer`) as a country's real
    signers are."""

    def __init__(
        self,
        country: str = "VN",
        *,
        key: KeyKind = "ec",
        usages: tuple[str, ...] = (),
        valid_from: datetime | None = None,
        days: int = 730,
        issuer: EuCsca | None = None,
    ) -> None:
        self.country = country
        self.private_key = private_key(key)
        self.alg = PS256 if key == "rsa" else ES256
        start = valid_from or datetime.now(UTC) - timedelta(days=1)
        name = _name(country, f"DSC {country} test")
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer.name if issuer is not None else name)
            .public_key(self.private_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=days))
        )
        if usages:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([x509.ObjectIdentifier(oid) for oid in usages]),
                critical=False,
            )
        if issuer is not None:
            self.certificate = issuer.issue(builder)
        else:
            self.certificate = builder.sign(self.private_key, hashes.SHA256())
        self.der = self.certificate.public_bytes(serialization.Encoding.DER)
        self.kid = dcc_kid(self.der)
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        alg = "PS256" if self.alg == PS256 else "ES256"
        self.cose_key = COSEKey.from_pem(pem, alg=alg, kid=self.kid)

    @property
    def certificate_b64(self) -> str:
        return base64.b64encode(self.der).decode()

    def vaccination(
        self,
        *,
        issued: datetime | None = None,
        dose: int = 2,
        of: int = 2,
        dose_date: date | None = None,
        kid: bytes | None = None,
    ) -> str:
        issued = issued or datetime.now(UTC)
        hcert = {
            "ver": "1.3.0",
            "nam": {"fn": "Nguyễn", "fnt": "NGUYEN", "gn": "Thị Lan", "gnt": "THI<LAN"},
            "dob": "1990-04-12",
            "v": [
                {
                    "tg": "840539006",
                    "vp": "1119349007",
                    "mp": "EU/1/20/1528",
                    "ma": "ORG-100030215",
                    "dn": dose,
                    "sd": of,
                    "dt": (dose_date or (issued - timedelta(days=30)).date()).isoformat(),
                    "co": self.country,
                    "is": "Ministry of Health",
                    "ci": "URN:UVCI:01:VN:TEST0001#X",
                }
            ],
        }
        return self.code(hcert, issued=issued, kid=kid)

    def claims(self, hcert: dict[str, Any], *, issued: datetime) -> bytes:
        exp = issued + timedelta(days=365)
        return cbor2.dumps(
            {
                1: self.country,
                6: int(issued.timestamp()),
                4: int(exp.timestamp()),
                -260: {1: hcert},
            }
        )

    def code(self, hcert: dict[str, Any], *, issued: datetime, kid: bytes | None = None) -> str:
        cose = COSE.new().encode_and_sign(
            self.claims(hcert, issued=issued),
            self.cose_key,
            protected={1: self.alg, 4: kid or self.kid},
            unprotected={},
        )
        assert isinstance(cose, bytes)
        return hc1(cose)


def hc1(cose: bytes) -> str:
    text: bytes = base45.b45encode(zlib.compress(cose, 9))
    return "HC1:" + text.decode()


def unwrap(code: str) -> bytes:
    """The COSE bytes inside an HC1 code."""
    return zlib.decompress(base45.b45decode(code[4:]))
