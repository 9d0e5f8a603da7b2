"""Expected outcomes of the trust-list endpoints, with stable codes."""

from __future__ import annotations

import base64
import binascii

from certificates.trust import TrustEntryInvalid
from core.errors import ValidationFailed
from core.i18n import Text

_UNREADABLE = Text("cannot be read", "không đọc được")


class InvalidTrustEntry(ValidationFailed):
    """A signer certificate, key set or revocation list that verification could not use."""

    code = "invalid_trust_entry"
    title = Text("Cannot trust this entry", "Không thể tin cậy mục này")
    detail = Text(
        "The listed field cannot be used for verification.",
        "Trường được liệt kê không dùng được để xác minh.",
    )

    def __init__(self, *, field: str, reason: Text = _UNREADABLE) -> None:
        super().__init__(errors=[{"field": field, "code": "invalid", "message": reason}])

    @classmethod
    def of(cls, error: TrustEntryInvalid) -> InvalidTrustEntry:
        return cls(field=error.field, reason=error.reason)


def certificate_der(certificate: str) -> bytes:
    """The DER of a certificate sent as base64 (a signer's or a CSCA's)."""
    try:
        return base64.b64decode(certificate, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidTrustEntry(field="certificate") from None
