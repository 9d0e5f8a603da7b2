"""Country Signing CAs (CSCAs) of EU DCC signers, and the chain rule.

Each country's Country Signing CA issues its document signers (DSCs). A national backend
checks a signer from the EU gateway against its country's CSCA before trusting it (as
Germany's dgc-gateway clients do), so a forged signer slipped into a bundle or pasted by
mistake is refused. The rule here: once a country has at least one CSCA on the trust list,
a signer of that country is trusted only when one of them issued it directly and the
signer's validity starts within the CSCA's; with none, signers are trusted as given (the
list was kept that way before CSCAs existed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from certificates.trust import TrustEntryInvalid, check_subject_country
from core.i18n import Text


def csca_id(der: bytes) -> str:
    """The id of a CSCA: the hex SHA-256 of its DER, its fingerprint as gateways print it."""
    return hashlib.sha256(der).hexdigest()


def _refuse(field_name: str, en: str, vi: str) -> TrustEntryInvalid:
    return TrustEntryInvalid(field_name, en, vi)


@dataclass(frozen=True)
class Csca:
    id: str
    country: str
    subject: str  # RFC 4514
    not_before: datetime
    not_after: datetime
    certificate: x509.Certificate = field(repr=False, compare=False)

    @classmethod
    def from_der(cls, der: bytes, country: str) -> Csca:
        try:
            certificate = x509.load_der_x509_certificate(der)
            certificate.public_key()
            subject = certificate.subject.rfc4514_string()
        except (ValueError, UnsupportedAlgorithm):
            raise _refuse(
                "certificate", "not a DER X.509 certificate", "không phải chứng thư X.509 dạng DER"
            ) from None
        _check_is_a_ca(certificate)
        check_subject_country(certificate, country)
        return cls(
            id=csca_id(der),
            country=country,
            subject=subject,
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            certificate=certificate,
        )

    def vouches_for(self, signer: x509.Certificate) -> bool:
        """Issued the signer directly, and the signer's validity starts within its own."""
        if not self.not_before <= signer.not_valid_before_utc <= self.not_after:
            return False
        try:
            signer.verify_directly_issued_by(self.certificate)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            return False
        return True


def _check_is_a_ca(certificate: x509.Certificate) -> None:
    """A CA (basicConstraints ca=True) whose key may sign certificates: a leaf or a CA
    limited to CRLs could not have issued a signer."""
    try:
        extensions = certificate.extensions
    except ValueError:
        raise _refuse(
            "certificate",
            "the certificate's extensions cannot be read",
            "không đọc được phần mở rộng của chứng thư",
        ) from None
    try:
        is_ca = extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise _refuse(
            "certificate",
            "not a CA certificate (basicConstraints ca=true)",
            "không phải chứng thư CA (basicConstraints ca=true)",
        )
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.key_cert_sign:
        raise _refuse(
            "certificate",
            "its key usage does not allow signing certificates (keyCertSign)",
            "mục đích dùng khóa không cho phép ký chứng thư (keyCertSign)",
        )


def not_issued_by_a_csca(country: str) -> Text:
    # The country passed the schema's two capital letters: no caller text is echoed.
    return Text(
        f"not issued by a trusted CSCA of {country}",
        f"không do CSCA tin cậy nào của {country} cấp",
    )


def by_country(cscas: Iterable[Csca]) -> dict[str, list[Csca]]:
    grouped: dict[str, list[Csca]] = {}
    for csca in cscas:
        grouped.setdefault(csca.country, []).append(csca)
    return grouped


def vouching_csca(
    signer: x509.Certificate, country: str, cscas: Mapping[str, list[Csca]]
) -> str | None:
    """The id of the CSCA that vouches for this signer of `country`; None when the country
    has no CSCA (the signer is trusted unchecked). Refuses a signer none of them issued."""
    candidates = cscas.get(country)
    if not candidates:
        return None
    for csca in candidates:
        if csca.vouches_for(signer):
            return csca.id
    reason = not_issued_by_a_csca(country)
    raise _refuse("certificate", reason.en, reason.vi)


def chained(country: str, csca_id: object, cscas: Mapping[str, str]) -> bool:
    """The chain rule as verification applies it, over what is stored: a signer of a
    country with a CSCA on the list (`cscas`: id → country) counts only when one of that
    country's CSCAs vouched for it. One trusted before its country had a CSCA, and not
    issued by it, stays listed (`csca` null) but unused."""
    if country not in cscas.values():
        return True
    return cscas.get(str(csca_id)) == country
