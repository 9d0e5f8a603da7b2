"""Expected outcomes of the trust-list endpoints, with stable codes."""

from __future__ import annotations

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
