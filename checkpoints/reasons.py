"""What a scanner shows: one short reason per stable reason code, in Vietnamese and English.
Staff scan dozens of codes an hour; the reason must read at a glance."""

from __future__ import annotations

from core.errors import AppError, Overloaded
from core.i18n import Text

_NOT_OURS = Text("Not a Khaibao code", "Không phải mã Khaibao")
_UNREADABLE = Text("Unreadable code", "Mã không đọc được")

REASONS: dict[str, Text] = {
    "ok": Text("Green: allowed", "Xanh: được vào"),
    "allowed_yellow": Text("Yellow: allowed here", "Vàng: được vào theo quy định"),
    "allowed_red": Text("Red: allowed here", "Đỏ: được vào theo quy định"),
    "status_yellow": Text("Yellow status", "Trạng thái vàng"),
    "status_red": Text("Red status", "Trạng thái đỏ"),
    "revoked": Text("Code revoked", "Mã đã bị thu hồi"),
    "expired": Text("Code expired", "Mã đã hết hạn"),
    "not_yet_valid": Text("Code not valid yet", "Mã chưa có hiệu lực"),
    "bad_signature": Text("Forged or altered code", "Mã giả hoặc bị sửa"),
    "unknown_kid": Text("Unknown signing key", "Khóa ký không xác định"),
    "key_revoked": Text("Signing key withdrawn", "Khóa ký đã bị thu hồi"),
    "unsupported_alg": _NOT_OURS,
    "forbidden_header": _NOT_OURS,
    "wrong_issuer": _NOT_OURS,
    "wrong_type": Text("Not a personal code", "Không phải mã cá nhân"),
    "wrong_audience": Text("Not a personal code", "Không phải mã cá nhân"),
    "malformed": _UNREADABLE,
    "too_large": _UNREADABLE,
    "missing_claim": Text("Incomplete code", "Mã thiếu thông tin"),
    "unknown_token": Text("Unknown code", "Mã không xác định"),
    "unknown_person": Text("Unknown person", "Không rõ người dùng"),
    "unknown_venue": Text("Unknown venue", "Địa điểm không xác định"),
}


# The reasons of an `allow`: green, or a status the ministry's rules let in at checkpoints.
ALLOWING_REASONS = frozenset({"ok", "allowed_yellow", "allowed_red"})


def reason_text(code: str) -> Text:
    return REASONS.get(code, _UNREADABLE)


class InvalidVenueToken(AppError):
    """A check-in with a venue code that fails verification; `errors` names the reason."""

    status = 400
    code = "invalid_venue_token"
    title = Text("Invalid venue code", "Mã địa điểm không hợp lệ")
    detail = Text(
        "Scan the venue's poster again; it may be damaged, expired or not a Khaibao code.",
        "Hãy quét lại mã của địa điểm; mã có thể hỏng, hết hạn hoặc không phải mã Khaibao.",
    )

    def __init__(self, reason_code: str, lang: str) -> None:
        message = reason_text(reason_code).pick(lang)
        super().__init__(errors=[{"field": "venue_token", "code": reason_code, "message": message}])


class CheckinContended(Overloaded):
    code = "checkin_contended"
    title = Text("Try again", "Vui lòng thử lại")
    detail = Text(
        "Several check-ins for this person arrived at once. Send it again.",
        "Nhiều lượt check-in của người này đến cùng lúc. Vui lòng gửi lại.",
    )


class ChooseRecord(AppError):
    """`POST /v1/cases` by identity number that names no record for sure: anyone can type
    someone else's identity number on a form, so the number alone never picks a record."""

    status = 409
    code = "choose_record"
    title = Text("Choose the patient's record", "Hãy chọn hồ sơ của người bệnh")
    detail = Text(
        "This identity number is on the records listed (masked). Confirm the patient's own by "
        "person_id, or send the patient's phone (a dependant's: the declaring account's phone).",
        "Số định danh này có trong các hồ sơ được liệt kê (đã che). Hãy xác nhận hồ sơ của người "
        "bệnh theo person_id, hoặc gửi kèm số điện thoại của người bệnh (người phụ thuộc: số của "
        "tài khoản khai báo).",
    )

    def __init__(self, candidates: list[dict[str, object]]) -> None:
        super().__init__(extra={"candidates": candidates})


class CaseContended(Overloaded):
    code = "case_contended"
    title = Text("Try again", "Vui lòng thử lại")
    detail = Text(
        "Several confirmations of this person arrived at once. Send it again.",
        "Nhiều xác nhận ca bệnh cho người này đến cùng lúc. Vui lòng gửi lại.",
    )
