"""The trust list as verification uses it: parsed once per version, then read-only.

EU signers are X.509 signer certificates (DSCs) found by `kid`, the first 8 bytes of the
SHA-256 of the certificate's DER; per `kid`, revocation lists of hashes may be kept
(certificates/dcc_revocation.py). SMART issuers are an `iss` URL with its public key set
(JWKS) and, per key, its revocation list (CRL) of revocation ids (`rid`). Nothing here is
ever fetched while a code is verified: the lists are loaded by admins (or a scheduled
refresh) ahead of time.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from cwt.cose_key_interface import COSEKeyInterface
from cwt.helpers.hcert import load_pem_hcert_dsc
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from core.i18n import Text
from declarations.acceptance import CertificateType

# Extended key usages that limit what a signer may sign. The first set is the hcert
# specification's; the second, with a stray `.0`, is what early national signers and the
# public test data carry, and verifiers in production accept both.
KEY_USAGE_OIDS: Mapping[str, CertificateType] = {
    "1.3.6.1.4.1.1847.2021.1.1": "test",
    "1.3.6.1.4.1.1847.2021.1.2": "vaccination",
    "1.3.6.1.4.1.1847.2021.1.3": "recovery",
    "1.3.6.1.4.1.0.1847.2021.1.1": "test",
    "1.3.6.1.4.1.0.1847.2021.1.2": "vaccination",
    "1.3.6.1.4.1.0.1847.2021.1.3": "recovery",
}
# COSE algorithm ids of the two signatures EU certificates use.
ES256, PS256 = -7, -37
_RID = re.compile(r"^[A-Za-z0-9_-]{1,64}(\.[0-9]{1,12})?$")
_KID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
MAX_KEYS = 50
MAX_RIDS = 100_000


class TrustEntryInvalid(ValueError):
    """An entry an admin (or a refresh) offered cannot be used: which field, and why in
    words of ours only (never the submitted value)."""

    def __init__(self, field: str, en: str, vi: str) -> None:
        super().__init__(en)
        self.field = field
        self.reason = Text(en, vi)


def check_subject_country(certificate: x509.Certificate, country: str) -> None:
    """A certificate whose subject names its country (C=) is trusted for that country only:
    posted under another, it would sign certificates that pass as that country's."""
    named = certificate.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)
    countries = {attribute.value for attribute in named}
    if countries and countries != {country}:
        raise TrustEntryInvalid(
            "country",
            "does not match the certificate's subject country (C=)",
            "không khớp với quốc gia (C=) trong chủ thể của chứng thư",
        )


def dcc_kid(der: bytes) -> bytes:
    return hashlib.sha256(der).digest()[:8]


def kid_text(kid: bytes) -> str:
    """The kid as the EU gateway writes it: standard base64 with padding."""
    return base64.b64encode(kid).decode()


@dataclass(frozen=True)
class DccSigner:
    kid: bytes
    country: str
    not_before: datetime
    not_after: datetime
    # None: the certificate has no hcert key usage and may sign every type.
    may_sign: frozenset[CertificateType] | None
    alg: int  # ES256 for an EC key, PS256 for an RSA key
    key: COSEKeyInterface = field(repr=False, compare=False)
    # Parsed once, for the chain rule to check who issued it (certificates/csca.py).
    certificate: x509.Certificate = field(repr=False, compare=False)

    @classmethod
    def from_der(cls, der: bytes, country: str) -> DccSigner:
        try:
            certificate = x509.load_der_x509_certificate(der)
            public_key = certificate.public_key()
        except (ValueError, UnsupportedAlgorithm):
            raise TrustEntryInvalid(
                "certificate", "not a DER X.509 certificate", "không phải chứng thư X.509 dạng DER"
            ) from None
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            if not isinstance(public_key.curve, ec.SECP256R1):
                raise TrustEntryInvalid(
                    "certificate",
                    "EC signer keys must be on P-256",
                    "khóa EC của người ký phải là P-256",
                )
            alg = ES256
        elif isinstance(public_key, rsa.RSAPublicKey):
            if public_key.key_size < 2048:
                raise TrustEntryInvalid(
                    "certificate",
                    "RSA signer keys must have at least 2048 bits",
                    "khóa RSA của người ký phải có ít nhất 2048 bit",
                )
            alg = PS256
        else:
            raise TrustEntryInvalid(
                "certificate",
                "signer keys must be EC P-256 or RSA",
                "khóa của người ký phải là EC P-256 hoặc RSA",
            )
        pem = certificate.public_bytes(serialization.Encoding.PEM)
        return cls(
            kid=dcc_kid(der),
            country=country,
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            may_sign=_may_sign(certificate),
            alg=alg,
            key=load_pem_hcert_dsc(pem),
            certificate=certificate,
        )


def _oid_body(dotted: str) -> bytes:
    """The DER content octets of an object identifier (X.690 8.19)."""
    first, second, *rest = (int(arc) for arc in dotted.split("."))
    body = bytearray()
    for arc in (first * 40 + second, *rest):
        chunk = [arc & 0x7F]
        while arc := arc >> 7:
            chunk.append(0x80 | (arc & 0x7F))
        body.extend(reversed(chunk))
    return bytes(body)


_USAGE_BODIES = tuple(_oid_body(oid) for oid in KEY_USAGE_OIDS)


def _may_sign(certificate: x509.Certificate) -> frozenset[CertificateType] | None:
    try:
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    except ValueError:
        # Extensions the parser refuses (the test data's CO15 has an empty extended key
        # usage). Without any hcert usage in the certificate's bytes nothing limits the
        # signer; with one we cannot tell which, so the certificate is refused.
        der = certificate.public_bytes(serialization.Encoding.DER)
        if any(body in der for body in _USAGE_BODIES):
            raise TrustEntryInvalid(
                "certificate",
                "the certificate's extensions cannot be read",
                "không đọc được phần mở rộng của chứng thư",
            ) from None
        return None
    types = frozenset(
        KEY_USAGE_OIDS[o.dotted_string] for o in usages if o.dotted_string in KEY_USAGE_OIDS
    )
    return types or None


@dataclass(frozen=True)
class Revocations:
    """One key's CRL: rid → the moment before which its cards are revoked (None: all)."""

    version: int
    rids: Mapping[str, float | None]

    def revokes(self, rid: str, issued_at: float) -> bool:
        if rid not in self.rids:
            return False
        before = self.rids[rid]
        return before is None or issued_at < before


@dataclass(frozen=True)
class ShcIssuer:
    iss: str
    keys: Mapping[str, ECKey] = field(repr=False)
    revocations: Mapping[str, Revocations] = field(default_factory=dict)
    country: str | None = None  # a card does not say; the trust list may


def parse_jwks(jwks: Any) -> dict[str, ECKey]:
    """Public ES256 keys by kid. A private key, another curve or a key without kid is refused:
    an issuer's key set holds public P-256 keys only (SMART Health Cards, "Protocol Details")."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise TrustEntryInvalid(
            "jwks",
            "jwks must be an object with a `keys` list",
            "jwks phải là đối tượng có danh sách `keys`",
        )
    if not jwks["keys"] or len(jwks["keys"]) > MAX_KEYS:
        raise TrustEntryInvalid(
            "jwks", f"jwks must hold 1 to {MAX_KEYS} keys", f"jwks phải có từ 1 đến {MAX_KEYS} khóa"
        )
    keys: dict[str, ECKey] = {}
    for entry in jwks["keys"]:
        if not isinstance(entry, dict) or "d" in entry:
            raise TrustEntryInvalid(
                "jwks", "jwks must hold public keys only", "jwks chỉ được chứa khóa công khai"
            )
        kid = entry.get("kid")
        if not isinstance(kid, str) or not _KID.match(kid):
            raise TrustEntryInvalid(
                "jwks",
                "every key needs a kid of base64url characters",
                "mỗi khóa cần kid gồm ký tự base64url",
            )
        if entry.get("kty") != "EC" or entry.get("crv") != "P-256":
            raise TrustEntryInvalid(
                "jwks",
                "SMART issuer keys must be EC P-256",
                "khóa của nơi cấp SMART phải là EC P-256",
            )
        if entry.get("alg", "ES256") != "ES256":
            raise TrustEntryInvalid(
                "jwks",
                "SMART issuer keys must be for ES256",
                "khóa của nơi cấp SMART phải dùng ES256",
            )
        public = {k: entry[k] for k in ("kty", "crv", "x", "y") if k in entry}
        try:
            keys[kid] = ECKey.import_key(public)
        except (JoseError, ValueError, TypeError):
            raise TrustEntryInvalid(
                "jwks",
                "a key in jwks is not a valid EC P-256 public key",
                "một khóa trong jwks không phải khóa công khai EC P-256 hợp lệ",
            ) from None
    return keys


def parse_crl(crl: Any, keys: Mapping[str, ECKey]) -> tuple[str, Revocations]:
    """One revocation list (`{"kid", "method": "rid", "ctr", "rids"}`) for a key in `keys`."""
    if not isinstance(crl, dict):
        raise TrustEntryInvalid("crl", "a crl must be an object", "crl phải là một đối tượng")
    kid, ctr, rids = crl.get("kid"), crl.get("ctr", 1), crl.get("rids")
    if crl.get("method", "rid") != "rid":
        raise TrustEntryInvalid(
            "crl", "only crl method `rid` is supported", "chỉ hỗ trợ crl theo phương thức `rid`"
        )
    if not isinstance(kid, str) or kid not in keys:
        raise TrustEntryInvalid(
            "crl", "a crl names a kid that is not in jwks", "crl ghi một kid không có trong jwks"
        )
    if isinstance(ctr, bool) or not isinstance(ctr, int) or ctr < 0:
        raise TrustEntryInvalid(
            "crl", "crl `ctr` must be a whole number", "`ctr` của crl phải là số nguyên"
        )
    if not isinstance(rids, list) or len(rids) > MAX_RIDS:
        raise TrustEntryInvalid(
            "crl",
            f"crl `rids` must be a list of at most {MAX_RIDS}",
            f"`rids` của crl phải là danh sách tối đa {MAX_RIDS} mục",
        )
    revoked: dict[str, float | None] = {}
    for item in rids:
        if not isinstance(item, str) or not _RID.match(item):
            raise TrustEntryInvalid(
                "crl",
                "a crl rid is not base64url[.timestamp]",
                "một rid trong crl không có dạng base64url[.timestamp]",
            )
        rid, _, timestamp = item.partition(".")
        before = float(timestamp) if timestamp else None
        previous = revoked.get(rid, 0.0)
        # The same rid listed twice: the wider revocation wins.
        revoked[rid] = None if before is None or previous is None else max(before, previous)
    return kid, Revocations(version=ctr, rids=revoked)


def shc_issuer(iss: str, jwks: Any, crls: list[Any], *, country: str | None = None) -> ShcIssuer:
    keys = parse_jwks(jwks)
    revocations = dict(parse_crl(crl, keys) for crl in crls)
    return ShcIssuer(iss=iss, keys=keys, revocations=revocations, country=country)


@dataclass(frozen=True)
class DccRevocations:
    """One EU signer's revocation lists: hash type → the entries (the first 16 bytes of each
    hash). A type without a list is absent; an empty list is a list (nothing revoked)."""

    lists: Mapping[str, frozenset[bytes]]

    def revokes(self, entries: Iterable[tuple[str, bytes]]) -> bool:
        return any(entry in self.lists.get(hash_type, ()) for hash_type, entry in entries)


@dataclass(frozen=True)
class TrustList:
    version: int = 0
    dcc_signers: Mapping[bytes, DccSigner] = field(default_factory=dict)
    shc_issuers: Mapping[str, ShcIssuer] = field(default_factory=dict)
    # By signer kid, apart from the signers: the revocation check reports on its own.
    dcc_revocations: Mapping[bytes, DccRevocations] = field(default_factory=dict)


# Seconds since 1970 that a datetime can hold (to the end of year 9999).
_LAST_SECOND = 253_402_300_799


def is_timestamp(value: object) -> bool:
    """A number of seconds a certificate may carry: not a flag, not beyond year 9999 (so a
    hostile `iat` of 10**30 is a decode failure, not an overflow)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and 0 <= value <= _LAST_SECOND
    )


def utc_from_timestamp(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)
