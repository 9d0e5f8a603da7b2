"""What a verification reports: six checks, each with its own outcome, and what was read.

A check is `ok`, `failed` with a stable code, or `skipped` (nothing to check, or not run
because the certificate could not be decoded). Every code has a short text in English and
Vietnamese for the scanner's screen; no text ever contains anything read from the code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from core.i18n import Text
from declarations.acceptance import CertificateType

Format = Literal["eu_dcc", "smart_health_card"]
CheckName = Literal["decode", "signature", "issuer", "validity", "revocation", "policy"]
CHECK_NAMES: tuple[CheckName, ...] = (
    "decode",
    "signature",
    "issuer",
    "validity",
    "revocation",
    "policy",
)
Outcome = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True)
class Check:
    outcome: Outcome
    code: str

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"


# A QR code holds at most ~4.3 kB; a certificate that inflates past this is an attack.
MAX_DECOMPRESSED_BYTES = 64 * 1024


class DecodeFailure(Exception):
    """The code cannot be read; `code` says at which step."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


OK = Check("ok", "ok")
NOT_RUN = Check("skipped", "not_run")


def failed(code: str) -> Check:
    return Check("failed", code)


@dataclass(frozen=True)
class Holder:
    name: str | None
    birth_date: str | None  # as written: EU certificates allow "1998", "1998-02" too


@dataclass(frozen=True)
class Facts:
    """What the acceptance policy looks at, read from a decoded certificate."""

    type: CertificateType | None
    country: str | None
    doses: int = 0
    series: int = 0  # EU: doses in the series (`sd`); 0 when the format does not say
    last_dose: date | None = None
    test_kind: Literal["pcr", "rapid", "other"] | None = None
    test_negative: bool = False
    sampled_at: datetime | None = None
    first_positive: date | None = None
    valid_from: date | None = None
    valid_until: date | None = None


@dataclass
class Verification:
    format: Format
    checks: dict[CheckName, Check] = field(
        default_factory=lambda: dict.fromkeys(CHECK_NAMES, NOT_RUN)
    )
    holder: Holder | None = None
    facts: Facts | None = None

    @property
    def decision(self) -> Literal["allow", "deny"]:
        """Allow only when nothing failed and everything that matters ran: a revocation
        list may be missing (skipped), a signature may not."""
        required: tuple[CheckName, ...] = ("decode", "signature", "issuer", "validity", "policy")
        if any(check.failed for check in self.checks.values()):
            return "deny"
        return "allow" if all(self.checks[name].outcome == "ok" for name in required) else "deny"

    @property
    def reason(self) -> str:
        """The first failed check's code, or `ok`."""
        for name in CHECK_NAMES:
            if self.checks[name].failed:
                return self.checks[name].code
        return "ok" if self.decision == "allow" else "not_run"

    def decode_failed(self, code: str) -> Verification:
        self.checks["decode"] = failed(code)
        return self


_UNREADABLE = Text("The code cannot be read", "Không đọc được mã")

REASONS: dict[str, Text] = {
    "ok": Text("Passed", "Đạt"),
    "not_run": Text("Not checked: the code could not be read", "Chưa kiểm tra: không đọc được mã"),
    "no_revocation_list": Text(
        "No revocation list is kept for this issuer", "Không có danh sách thu hồi của nơi cấp này"
    ),
    # decode
    "unknown_format": Text(
        "Not an EU (HC1:) or SMART (shc:/) certificate",
        "Không phải chứng nhận EU (HC1:) hoặc SMART (shc:/)",
    ),
    "bad_prefix": Text("Not an EU certificate prefix (HC1:)", "Sai tiền tố chứng nhận EU (HC1:)"),
    "bad_base45": Text(
        "The code's characters are damaged (Base45)", "Ký tự của mã bị hỏng (Base45)"
    ),
    "bad_compression": Text("The code's content is damaged (zlib)", "Nội dung mã bị hỏng (zlib)"),
    "too_large": Text("The code is larger than any certificate", "Mã lớn hơn mọi chứng nhận"),
    "bad_cose": Text("The signed envelope is damaged (COSE)", "Phong bì chữ ký bị hỏng (COSE)"),
    "bad_cwt": Text(
        "The certificate's claims are damaged (CWT)", "Thông tin chứng nhận bị hỏng (CWT)"
    ),
    "schema": Text(
        "The certificate does not follow the EU schema", "Chứng nhận không theo lược đồ EU"
    ),
    "bad_chunks": Text(
        "The card's QR codes are incomplete or do not fit together",
        "Các mã QR của thẻ bị thiếu hoặc không khớp nhau",
    ),
    "bad_numeric": Text("The card's digits are damaged", "Các chữ số của thẻ bị hỏng"),
    "bad_jws": Text("The signed envelope is damaged (JWS)", "Phong bì chữ ký bị hỏng (JWS)"),
    "bad_payload": Text("The card's content is damaged", "Nội dung thẻ bị hỏng"),
    # signature
    "unknown_signer": Text(
        "Signer not on the trust list", "Người ký không có trong danh sách tin cậy"
    ),
    "bad_signature": Text(
        "The signature does not match: forged or altered", "Chữ ký không khớp: giả hoặc bị sửa"
    ),
    "unsupported_algorithm": Text(
        "Signature algorithm not accepted", "Thuật toán ký không được chấp nhận"
    ),
    # issuer
    "unknown_issuer": Text(
        "Issuer not on the trust list", "Nơi cấp không có trong danh sách tin cậy"
    ),
    "country_mismatch": Text(
        "Issuing country differs from the signer's", "Quốc gia cấp khác quốc gia của người ký"
    ),
    "signer_not_valid_at_issue": Text(
        "The signer's certificate was not valid when this was issued",
        "Chứng thư của người ký không còn hiệu lực khi cấp chứng nhận này",
    ),
    "key_usage": Text(
        "The signer may not sign this kind of certificate",
        "Người ký không được phép ký loại chứng nhận này",
    ),
    # validity
    "not_yet_valid": Text("Not valid yet", "Chưa có hiệu lực"),
    "expired": Text("Expired", "Đã hết hạn"),
    "no_dates": Text("The certificate has no issue date", "Chứng nhận không có ngày cấp"),
    # revocation
    "revoked": Text("Revoked by its issuer", "Đã bị nơi cấp thu hồi"),
    # policy
    "type_not_accepted": Text(
        "This kind of certificate is not accepted", "Loại chứng nhận này không được chấp nhận"
    ),
    "unknown_type": Text(
        "Not a vaccination, test or recovery certificate",
        "Không phải chứng nhận tiêm, xét nghiệm hay khỏi bệnh",
    ),
    "too_few_doses": Text("Not enough vaccine doses", "Chưa đủ số mũi tiêm"),
    "too_soon_after_dose": Text("Too soon after the last dose", "Chưa đủ ngày sau mũi cuối"),
    "too_long_after_dose": Text("The last dose is too long ago", "Mũi cuối đã quá lâu"),
    "test_positive": Text("The test result is not negative", "Kết quả xét nghiệm không âm tính"),
    "test_too_old": Text("The test sample is too old", "Mẫu xét nghiệm đã quá lâu"),
    "test_kind": Text(
        "This kind of test is not accepted", "Loại xét nghiệm này không được chấp nhận"
    ),
    "recovery_not_valid": Text(
        "Recovery not valid on this date", "Chứng nhận khỏi bệnh không có hiệu lực hôm nay"
    ),
}


def reason_text(code: str) -> Text:
    return REASONS.get(code, _UNREADABLE)
