"""Sign-in request and response shapes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue, SkipJsonSchema
from pydantic_core import CoreSchema, PydanticCustomError

from core.i18n import Text
from core.validation import Phone
from web.openapi import reference


class OtpRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: Phone


class OtpAccepted(BaseModel):
    expires_in: int = Field(description="Seconds the code stays valid")


_ONE_METHOD = Text(
    "send phone and otp, or username and password",
    "gửi phone và otp, hoặc username và password",
)


_OTP = r"^[0-9]{4,8}$"


# Opaque to the app; anything up to this long is read, and one that does not verify is
# ignored (the sign-in is judged without it). Only a longer one is a malformed payload.
def _device_token() -> Any:
    return Field(
        default=None,
        min_length=1,
        max_length=1024,
        description=(
            "The `device_token` of this device's last staff sign-in as this user name, if"
            " any: its wrong passwords are then counted on it alone, so the user name's"
            " lock-out does not stop this device. Sent as received; one that is expired,"
            " altered, for another user name or from before a change to the account"
            " (password reset, disabling, enabling, new role or area) is ignored."
        ),
    )


class PhoneSignIn(BaseModel):
    """A citizen: the phone and the one-time code sent to it."""

    model_config = ConfigDict(extra="forbid")
    phone: Phone
    otp: str = Field(pattern=_OTP)


class PasswordSignIn(BaseModel):
    """Staff: username and password, and the device token of this device if it has one."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    device_token: str | None = _device_token()


class TokenRequest(BaseModel):
    """Either a citizen's phone and one-time code, or a staff username and password.

    Read as one object with five optional fields (so a half-sent pair is named field by
    field in the 422); documented as what it is, a `oneOf` of `PhoneSignIn` and
    `PasswordSignIn`, so generated clients offer exactly the two ways."""

    model_config = ConfigDict(extra="forbid")
    phone: Phone | None = None
    otp: str | None = Field(default=None, pattern=_OTP)
    username: str | None = Field(default=None, min_length=1, max_length=64)
    password: str | None = Field(default=None, min_length=1, max_length=256)
    device_token: str | None = _device_token()

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "oneOf": [
                reference(handler, PhoneSignIn),
                reference(handler, PasswordSignIn),
            ],
            "description": cls.__doc__.split("\n", 1)[0] if cls.__doc__ else "",
        }

    @model_validator(mode="after")
    def _one_method(self) -> TokenRequest:
        by_phone = self.phone is not None and self.otp is not None
        by_password = self.username is not None and self.password is not None
        if by_phone == by_password or (by_phone and self.device_token is not None):
            raise PydanticCustomError(
                "value_error",
                "send phone and otp, or username and password",
                {"reason": _ONE_METHOD, "field": self._missing()},
            )
        return self

    def _missing(self) -> str:
        """The field whose absence (or presence) breaks the pair the caller began."""
        by_phone = self.phone is not None or self.otp is not None
        by_password = self.username is not None or self.password is not None
        if by_phone and by_password:
            return "username"  # both ways at once: the staff half is the extra one
        if by_phone:
            if self.otp is None or self.phone is None:
                return "otp" if self.otp is None else "phone"
            return "device_token"  # device tokens are for staff: a citizen sends none
        if by_password:
            return "password" if self.password is None else "username"
        return "phone"


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=16, max_length=256)


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int
    role: str
    # Absent (not null) when there is none: the route leaves None out.
    device_token: str | SkipJsonSchema[None] = Field(
        default=None,
        description=(
            "Staff password sign-ins only: send it with this device's next sign-in as this"
            " user name (`TokenRequest.device_token`), replacing the one sent before."
            " Opaque; valid `KHAIBAO_STAFF_DEVICE_TOKEN_DAYS` days. Not an access token."
        ),
    )
