"""Sign-in endpoints: `/v1/auth/otp`, `/v1/auth/token`, `/v1/auth/refresh`."""

from __future__ import annotations

from fastapi import APIRouter, Request

from accounts import service
from accounts.errors import CodeLocked, RefreshTokenReused, SignInLocked
from accounts.schemas import OtpAccepted, OtpRequest, RefreshRequest, TokenRequest, TokenResponse
from core.errors import InvalidCredentials, RateLimited, ValidationFailed
from web.deps import ContextDep, client_address, request_language
from web.problems import responses

router = APIRouter(prefix="/v1/auth", tags=["sign-in"])


@router.post(
    "/otp",
    status_code=202,
    summary="Send a one-time sign-in code to a phone",
    description=(
        "Test numbers (`KHAIBAO_TEST_OTP`, never in production) get a fixed code instead of"
        " a sent one, and it behaves like one: it signs in only after this request for that"
        " number, and only once per request."
    ),
    response_model=OtpAccepted,
    responses=responses(ValidationFailed, RateLimited),
)
async def request_code(body: OtpRequest, ctx: ContextDep, request: Request) -> OtpAccepted:
    lifetime = await service.request_otp(
        ctx, body.phone, client_address=client_address(request), locale=request_language(request)
    )
    return OtpAccepted(expires_in=lifetime)


@router.post(
    "/token",
    summary="Sign in with phone + code (citizens) or username + password (staff)",
    description=(
        "Wrong staff passwords are limited per user name and per client address"
        " (`KHAIBAO_STAFF_SIGN_IN_FAILURES_PER_ACCOUNT`, `…_PER_ADDRESS`, in windows of"
        " `KHAIBAO_STAFF_SIGN_IN_WINDOW_MINUTES`): past them, `429 sign_in_locked` with"
        " `Retry-After`, even for the right password, until the window ends. A staff"
        " sign-in returns a `device_token`: sent with that device's next sign-in as the"
        " same user name, it counts that device's wrong passwords on it alone (same limit),"
        " instead of the user name's and the address's, so a user name locked by someone"
        " else's guesses still signs in from its owner's device. A device token that does"
        " not verify, has expired, is another user name's or predates a change to the"
        " account (password reset, disabling, enabling, new role or area) is ignored."
        " Wrong codes are limited per phone from the caller's address"
        " (`KHAIBAO_OTP_MAX_ATTEMPTS` an hour): past it, `429 rate_limited` with"
        " `Retry-After` from that address only. A code dies after"
        " `KHAIBAO_OTP_ATTEMPTS_PER_CODE` wrong codes from all addresses: `429 code_locked`,"
        " without `Retry-After` (waiting does not revive it: request a new code)."
    ),
    response_model=TokenResponse,
    response_model_exclude_none=True,
    responses=responses(
        ValidationFailed, InvalidCredentials, CodeLocked, SignInLocked, RateLimited
    ),
)
async def token(body: TokenRequest, ctx: ContextDep, request: Request) -> TokenResponse:
    if body.phone is not None and body.otp is not None:
        return await service.sign_in_with_otp(
            ctx, body.phone, body.otp, client_address=client_address(request)
        )
    assert body.username is not None
    assert body.password is not None
    return await service.sign_in_with_password(
        ctx,
        body.username,
        body.password,
        client_address=client_address(request),
        device_token=body.device_token,
    )


@router.post(
    "/refresh",
    summary="Exchange a refresh token for new tokens",
    description=(
        "Each refresh token works once. One offered again (`401 refresh_token_reused`)"
        " ends that sign-in: every refresh token descended from it is revoked."
    ),
    response_model=TokenResponse,
    response_model_exclude_none=True,
    responses=responses(ValidationFailed, InvalidCredentials, RefreshTokenReused),
)
async def refresh(body: RefreshRequest, ctx: ContextDep) -> TokenResponse:
    return await service.refresh(ctx, body.refresh_token)
