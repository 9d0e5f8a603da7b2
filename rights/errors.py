"""What the rights endpoints answer besides success: each a stable code, in vi and en."""

from __future__ import annotations

from core.errors import RateLimited, ValidationFailed
from core.i18n import Text, problem_more


class ExportLimitReached(RateLimited):
    # The day is Vietnam's (`core.ratelimit`), which is not every reader's: the wait is said
    # in hours rather than "tomorrow", in any of the eight languages.
    code = "export_limit_reached"
    detail = Text(
        "You have downloaded your data as many times as allowed today. Try again {wait}.",
        "Bạn đã tải dữ liệu của mình đủ số lần cho phép trong ngày. Vui lòng thử lại {wait}.",
        more=problem_more("export_limit_reached", 1),
    )

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after, self.detail)


class OrganisationUnknown(ValidationFailed):
    code = "organisation_unknown"
    title = Text("Unknown organisation", "Tổ chức không tồn tại")
    detail = Text(
        "No organisation has this id. Ask the organisation for the id it was registered with.",
        "Không có tổ chức nào có mã này. Hãy hỏi tổ chức mã đã được đăng ký.",
    )


class ConsentTooLong(ValidationFailed):
    code = "consent_too_long"
    title = Text("Consent too long", "Thời hạn đồng ý quá dài")
    detail = Text(
        "A consent lasts at most {days} days. Choose fewer days.",
        "Thời hạn đồng ý không được vượt quá {days} ngày. Hãy chọn ít ngày hơn.",
    )

    def __init__(self, max_days: int) -> None:
        super().__init__(self.detail.fill(days=str(max_days)))
