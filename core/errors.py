"""Expected outcomes as exceptions with a stable `code`, rendered as RFC 9457 problem+json.

Each subclass is one outcome the apps can switch on. Messages exist in English and
Vietnamese and never contain user input: only field names and numbers we produced.
"""

from __future__ import annotations

from typing import Any, ClassVar

from core.i18n import MINUTE, Text, problem_more, wait_more, waiting


class AppError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[Text] = Text("Bad request", "Yêu cầu không hợp lệ")
    detail: Text = Text("The request could not be processed.", "Không thể xử lý yêu cầu.")

    def __init__(
        self,
        detail: Text | None = None,
        *,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if detail is not None:
            self.detail = detail
        self.headers = headers or {}
        self.errors = errors
        # Extension members of the problem document (RFC 9457 §3.2), e.g. choices to make.
        self.extra = extra or {}
        super().__init__(self.code)


class ValidationFailed(AppError):
    status = 422
    code = "validation_failed"
    title = Text(
        "Some fields are invalid",
        "Một số trường không hợp lệ",
        more=problem_more("validation_failed", 0),
    )
    detail = Text(
        "Check the listed fields and try again.",
        "Vui lòng kiểm tra các trường được liệt kê.",
        more=problem_more("validation_failed", 1),
    )

    @classmethod
    def of_field(cls, field: str, message: Text) -> ValidationFailed:
        """One field the service found wrong after the request's model accepted it (a date
        too far back, a gate since retired)."""
        return cls(errors=[{"field": field, "code": "value_error", "message": message}])


class MalformedBody(AppError):
    status = 400
    code = "malformed_body"
    title = Text(
        "Malformed request body",
        "Nội dung yêu cầu sai định dạng",
        more=problem_more("malformed_body", 0),
    )
    detail = Text(
        "The body is not valid JSON.",
        "Nội dung không phải JSON hợp lệ.",
        more=problem_more("malformed_body", 1),
    )


class Unauthenticated(AppError):
    status = 401
    code = "unauthenticated"
    title = Text("Sign-in required", "Cần đăng nhập")
    detail = Text("Sign in and try again.", "Vui lòng đăng nhập lại.")

    def __init__(self, detail: Text | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class InvalidCredentials(AppError):
    status = 401
    code = "invalid_credentials"
    title = Text("Wrong sign-in details", "Thông tin đăng nhập không đúng")
    detail = Text(
        "The code or password is wrong or expired.", "Mã hoặc mật khẩu sai hoặc đã hết hạn."
    )


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    title = Text("Not allowed", "Không được phép")
    detail = Text("Your account cannot do this.", "Tài khoản của bạn không có quyền này.")


class NotFound(AppError):
    status = 404
    code = "not_found"
    title = Text("Not found", "Không tìm thấy", more=problem_more("not_found", 0))
    detail = Text(
        "Nothing here, or it is not yours.",
        "Không có dữ liệu hoặc không thuộc về bạn.",
        more=problem_more("not_found", 1),
    )


class Conflict(AppError):
    status = 409
    code = "conflict"
    title = Text("Conflict", "Xung đột")
    detail = Text("This conflicts with an earlier request.", "Xung đột với yêu cầu trước đó.")


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    title = Text(
        "Key already used", "Khóa đã được dùng", more=problem_more("idempotency_key_reused", 0)
    )
    detail = Text(
        "This Idempotency-Key was used with a different body.",
        "Idempotency-Key này đã được dùng với nội dung khác.",
        more=problem_more("idempotency_key_reused", 1),
    )


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"
    title = Text("Request too large", "Yêu cầu quá lớn", more=problem_more("payload_too_large", 0))
    detail = Text(
        "The body is larger than allowed.",
        "Nội dung vượt quá giới hạn cho phép.",
        more=problem_more("payload_too_large", 1),
    )


class UnsupportedMediaType(AppError):
    """A body sent as something other than JSON (`text/plain`, a form, no type at all)."""

    status = 415
    code = "unsupported_media_type"
    title = Text("Send JSON", "Hãy gửi JSON", more=problem_more("unsupported_media_type", 0))
    detail = Text(
        "Send the body as JSON, with Content-Type: application/json.",
        "Hãy gửi nội dung dạng JSON, với Content-Type: application/json.",
        more=problem_more("unsupported_media_type", 1),
    )


class UnsupportedContentEncoding(AppError):
    """A compressed request body (`Content-Encoding: gzip`, ...). Answers are compressed
    for phones that ask; requests are read as sent, so a body is never inflated past its
    size limit (RFC 7694: the answer names the encodings accepted)."""

    status = 415
    code = "unsupported_content_encoding"
    title = Text(
        "Send the body uncompressed",
        "Hãy gửi nội dung không nén",
        more=problem_more("unsupported_content_encoding", 0),
    )
    detail = Text(
        "Request bodies are read uncompressed: send it again without Content-Encoding.",
        "Nội dung yêu cầu phải ở dạng không nén: hãy gửi lại, không dùng Content-Encoding.",
        more=problem_more("unsupported_content_encoding", 1),
    )

    def __init__(self) -> None:
        super().__init__(headers={"Accept-Encoding": "identity"})


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    title = Text("Too many requests", "Quá nhiều yêu cầu", more=problem_more("rate_limited", 0))
    detail = Text(
        "Wait a moment and try again.",
        "Vui lòng đợi một lát rồi thử lại.",
        more=problem_more("rate_limited", 1),
    )

    # For a wait of a minute or more, which "a moment" would belie (an hour's limit on
    # sign-in codes leaves up to an hour): how long, in words.
    later = Text("Try again {wait}.", "Vui lòng thử lại {wait}.", more=wait_more("again"))

    def __init__(self, retry_after: int, detail: Text | None = None) -> None:
        """`detail` may say `{wait}`: how long, as `core.i18n.waiting` puts it."""
        wait = max(1, retry_after)
        detail = detail or self.detail
        if detail is RateLimited.detail and wait >= MINUTE:
            detail = RateLimited.later
        super().__init__(detail.fill(wait=waiting(wait)), headers={"Retry-After": str(wait)})


class Overloaded(AppError):
    status = 503
    code = "overloaded"
    title = Text("Busy, try again", "Hệ thống đang bận", more=problem_more("overloaded", 0))
    detail = Text(
        "The service is busy. Try again shortly.",
        "Hệ thống đang bận, thử lại sau ít phút.",
        more=problem_more("overloaded", 1),
    )

    def __init__(self, retry_after: int = 2) -> None:
        super().__init__(headers={"Retry-After": str(retry_after)})


class StorageUnavailable(Overloaded):
    code = "storage_unavailable"
    title = Text("Cannot save now", "Chưa thể lưu", more=problem_more("storage_unavailable", 0))
    detail = Text(
        "Nothing was saved. Try again shortly.",
        "Chưa có gì được lưu. Vui lòng thử lại sau.",
        more=problem_more("storage_unavailable", 1),
    )


def all_error_types() -> list[type[AppError]]:
    """Every AppError subclass, for the OpenAPI document and the error catalogue."""
    found: list[type[AppError]] = []
    pending: list[type[AppError]] = [AppError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found
