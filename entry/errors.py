"""Entry's own outcomes, titled in the form's eight languages (the codes are the ones the
citizen's declaration uses, so an app switches on one set)."""

from __future__ import annotations

from core.errors import AppError
from core.i18n import Text
from core.idempotency import IDEMPOTENCY_KEY_RULE
from declarations.errors import IdempotencyKeyInvalid, IdempotencyKeyMissing
from entry.i18n import problem_texts


class EntryKeyMissing(IdempotencyKeyMissing):
    title, detail = problem_texts("idempotency_key_missing")


class EntryKeyInvalid(IdempotencyKeyInvalid):
    title = problem_texts("idempotency_key_invalid")[0]
    detail = problem_texts("idempotency_key_invalid")[1].fill(**IDEMPOTENCY_KEY_RULE)


class EntryContended(AppError):
    status = 409
    code = "entry_contended"
    title = Text("Try again", "Vui lòng thử lại")
    detail = Text(
        "The declaration could not be stored this time; send it again with the same key.",
        "Chưa lưu được tờ khai; hãy gửi lại với cùng Idempotency-Key.",
    )


class NotABorderCheckpoint(AppError):
    status = 409
    code = "not_a_border_checkpoint"
    title = Text("Not a border checkpoint", "Không phải điểm kiểm soát cửa khẩu")
    detail = Text(
        "Entry declarations are scanned at checkpoints of kind `border`.",
        "Tờ khai nhập cảnh chỉ được quét tại điểm kiểm soát loại `border`.",
    )


class UnknownEntryCode(AppError):
    status = 404
    code = "entry_not_found"
    title = Text("No such declaration", "Không có tờ khai này")
    detail = Text(
        "No live entry declaration has this code or QR token.",
        "Không có tờ khai nhập cảnh còn hiệu lực với mã hoặc QR này.",
    )


class NotAnEntryCode(AppError):
    """A border entry-scan shown a code of ours of another kind: a personal code or a venue
    poster. Not `entry_not_found`: the traveller may well have declared, and staff should
    ask for that code rather than send them to declare again."""

    status = 400
    code = "wrong_type"
    title, detail = problem_texts("wrong_type")

    def __init__(self, shown: str | None) -> None:
        super().__init__(problem_texts(f"wrong_type_{shown}")[1] if shown in _SHOWN else None)


_SHOWN = ("person", "venue")
