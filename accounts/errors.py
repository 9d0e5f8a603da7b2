"""What sign-in answers besides a token, beyond the generic outcomes of `core.errors`."""

from __future__ import annotations

from collections.abc import Collection

from core.errors import AppError, InvalidCredentials, RateLimited
from core.i18n import Text, problem_more


class CodeLocked(AppError):
    """Too many wrong tries at one sign-in code: that code is burned, even the right one is
    refused from now on. A new code may be requested at once (it is `POST /v1/auth/otp`'s
    per-phone limit that bounds guesses per hour), so there is no wait to tell and no
    Retry-After: waiting would not unlock this code."""

    status = 429
    code = "code_locked"
    title = Text("Code locked", "Mã đã bị khóa", more=problem_more("code_locked", 0))
    detail = Text(
        "This code is locked after too many wrong tries. Request a new code.",
        "Mã này đã bị khóa do nhập sai quá nhiều lần. Vui lòng yêu cầu mã mới.",
        more=problem_more("code_locked", 1),
    )


class SignInLocked(RateLimited):
    """Too many wrong staff passwords for this user name, or from this address, in the
    window: every sign-in is refused until it ends, the right password too. Said the same
    way whether or not the account exists: the user-name lock holds for unknown names too.

    Each lock tells what lifts it. An administrator's password reset lifts the user name's
    (`accounts.staff.lift_lockout`), not the address's: a clerk locked out by the address
    is told to wait or use another network instead, and when both locks hold, only to wait.
    A device with a device token (`accounts.devices`) has a lock of its own, in place of
    the other two: a reset ends the token itself (it bumps the account's token version),
    after which the device is counted as one without a token, by the user name the reset
    has just cleared; so it too tells to wait or ask for a reset."""

    code = "sign_in_locked"
    title = Text("Sign-in locked for now", "Tạm khóa đăng nhập")
    detail = Text(
        "Too many wrong passwords. Sign-in is locked for now: try again {wait}, or ask an"
        " administrator to reset the password.",
        "Nhập sai mật khẩu quá nhiều lần. Đăng nhập tạm thời bị khóa: hãy thử lại {wait},"
        " hoặc nhờ quản trị viên đặt lại mật khẩu.",
    )
    from_address = Text(
        "Too many wrong passwords from this network. Sign-in from here is locked for now:"
        " try again {wait}, or sign in from another network. Resetting the password does"
        " not lift this lock.",
        "Nhập sai mật khẩu quá nhiều lần từ mạng này. Đăng nhập từ đây tạm thời bị khóa:"
        " hãy thử lại {wait}, hoặc đăng nhập từ mạng khác. Đặt lại mật khẩu không gỡ được"
        " khóa này.",
    )
    # Both: a reset alone or another network alone would not do, so only the wait is told.
    from_both = Text(
        "Too many wrong passwords. Sign-in is locked for now: try again {wait}.",
        "Nhập sai mật khẩu quá nhiều lần. Đăng nhập tạm thời bị khóa: hãy thử lại {wait}.",
    )

    # Wrong passwords sent with one device token: that token alone is locked.
    from_device = Text(
        "Too many wrong passwords on this device. Sign-in on it is locked for now: try"
        " again {wait}, or ask an administrator to reset the password.",
        "Nhập sai mật khẩu quá nhiều lần trên thiết bị này. Đăng nhập trên thiết bị này"
        " tạm thời bị khóa: hãy thử lại {wait}, hoặc nhờ quản trị viên đặt lại mật khẩu.",
    )

    def __init__(self, retry_after: int, scopes: Collection[str] = ("account",)) -> None:
        """`scopes`: the limits that hold, `account` (the user name) and/or `address`, or
        `device` (a device token's, which stands alone)."""
        if "device" in scopes:
            detail = self.from_device
        elif "address" not in scopes:
            detail = self.detail
        else:
            detail = self.from_both if "account" in scopes else self.from_address
        super().__init__(retry_after, detail)


class RefreshTokenReused(InvalidCredentials):
    """A refresh token offered again after it was exchanged: two holders, one of them
    perhaps a thief. Every refresh token of that sign-in is revoked."""

    code = "refresh_token_reused"
    title = Text("Sign-in used elsewhere", "Phiên đăng nhập đã được dùng ở nơi khác")
    detail = Text(
        "This sign-in was used elsewhere, so it has ended on every device. Sign in again.",
        "Phiên đăng nhập này đã được dùng ở nơi khác nên đã kết thúc trên mọi thiết bị."
        " Vui lòng đăng nhập lại.",
    )


# A refresh token that is unknown, expired or revoked: nothing about codes or passwords.
REFRESH_ENDED = Text(
    "This sign-in has ended or is not valid. Sign in again.",
    "Phiên đăng nhập đã kết thúc hoặc không hợp lệ. Vui lòng đăng nhập lại.",
)
