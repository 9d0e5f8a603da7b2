"""API shapes of checkpoints, scans, check-ins and cases."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from core.clock import utcnow
from core.i18n import Text
from core.validation import Phone, ShortText
from declarations.fields import identity_number, province_exists, province_of_ward
from qr.schemas import Rfc3339
from web.problems import Problem

Kind = Literal["airport", "border", "hospital", "market", "office", "school", "station", "other"]
Status = Literal["green", "yellow", "red"]
Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
_FORBID = ConfigDict(extra="forbid")
_CLOCK_SKEW = timedelta(minutes=1)


def _invalid(en: str, vi: str) -> PydanticCustomError:
    """A field error that api/problems.py renders in the caller's language."""
    return PydanticCustomError("value_error", en, {"reason": Text(en, vi)})


class NewCheckpoint(BaseModel):
    model_config = _FORBID
    name: ShortText = Field(examples=["Sân bay Nội Bài, ga quốc nội T1"])
    province: StrictInt = Field(description="Province code (`vietnam-provinces`)", examples=[1])
    ward: StrictInt = Field(description="Ward code, in that province", examples=[70])
    kind: Kind

    # Field validators, not one model validator: a 422 names the field to fix (`province`,
    # `ward`), not the whole body.
    @field_validator("province")
    @classmethod
    def _known_province(cls, value: int) -> int:
        if not province_exists(value):
            raise _invalid("no province has this code", "không có tỉnh/thành với mã này")
        return value

    @field_validator("ward")
    @classmethod
    def _ward_of_province(cls, value: int, info: ValidationInfo) -> int:
        province = info.data.get("province")
        if province is None:  # the province itself is wrong: that error says so
            return value
        if province_of_ward(value) is None:
            raise _invalid("no ward has this code", "không có phường/xã với mã này")
        if province_of_ward(value) != province:
            raise _invalid(
                "this ward is not in the province given as `province`",
                "phường/xã này không thuộc tỉnh/thành đã chọn ở `province`",
            )
        return value


class CreatedCheckpoint(BaseModel):
    id: str
    name: str
    province: int
    ward: int
    kind: Kind
    venue_token: str = Field(description="`KHAIBAO:1:` + compact JWS: print it as the poster QR")
    venue_token_expires_at: datetime
    venue_qr_svg_url: str
    venue_qr_png_url: str


class VenueCode(BaseModel):
    venue_token: str
    expires_at: datetime


class ScanRequest(BaseModel):
    model_config = _FORBID
    # Deliberately loose: an over-long or garbled code is a *deny* with a reason, which the
    # scanner shows, not a 422. The body limit still bounds it.
    token: str = Field(max_length=64 * 1024)


class ScanResult(BaseModel):
    decision: Literal["allow", "deny"]
    status: Status | None = Field(description="The person's current status; null if unknown")
    reason: str = Field(description="Short, in the caller's language")
    reason_code: str = Field(description="Stable code the app can switch on")


class CheckinRequest(BaseModel):
    model_config = _FORBID
    venue_token: str = Field(max_length=4096)
    person_id: Id


class Visit(BaseModel):
    id: str
    checkpoint_id: str
    person_id: str
    arrived_at: datetime
    last_seen_at: datetime
    until: datetime = Field(description="Checking in here again before this extends this visit")
    extended: bool = Field(description="True when this check-in extended an earlier visit")


class CaseRequest(BaseModel):
    """Which record is the patient's. Anyone can type a stranger's identity number on a
    form, so the number alone never picks a record: with `phone`, the records declared by
    the account signed in with that phone follow; otherwise the answer is 409
    `choose_record` listing the records with that number, masked, to confirm by
    `person_id`."""

    model_config = _FORBID
    person_id: Id | None = Field(default=None, description="The record the officer chose")
    id_number: Annotated[str, Field(min_length=6, max_length=20)] | None = Field(
        default=None, validate_default=True
    )
    phone: Phone | None = Field(
        default=None,
        description="With `id_number`: the patient's phone, or for a dependant the phone of "
        "the account that declares them (verified by a sign-in code)",
        examples=["+84912345678"],
    )
    confirmed_at: Rfc3339 | None = Field(
        default=None,
        description="When the case was confirmed; now if omitted; not in the future, nor "
        "before the exposure lookback window (KHAIBAO_EXPOSURE_LOOKBACK_DAYS)",
    )

    @field_validator("id_number")
    @classmethod
    def _one_person(cls, value: str | None, info: ValidationInfo) -> str | None:
        if (info.data.get("person_id") is None) == (value is None):
            raise _invalid(
                "send either person_id or id_number, not both or neither",
                "gửi person_id hoặc id_number (một trong hai)",
            )
        # As the declaration form stores it: a number in other digits names no record.
        return None if value is None else identity_number(value)

    @field_validator("phone")
    @classmethod
    def _with_id_number(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("id_number") is None:
            raise _invalid("goes with id_number", "đi kèm id_number")
        return value

    @field_validator("confirmed_at")
    @classmethod
    def _not_in_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value > utcnow() + _CLOCK_SKEW:
            raise _invalid("must not be in the future", "không được ở tương lai")
        return value


class RecordCandidate(BaseModel):
    """A record carrying the identity number, masked: enough for an officer to tell the
    patient's own from one someone else typed, nothing to identify anyone by."""

    person_id: str
    relation: str = Field(description="`self` or the dependant's relation to the account")
    name_initials: str = Field(examples=["N. T. L."])
    birth_year: int | None
    province: int | None
    ward: int | None
    account_phone_ends_with: str | None = Field(
        description="Last 3 digits of the declaring account's phone", examples=["678"]
    )
    declared_since: datetime
    status: Status


class RecordChoice(Problem):
    candidates: list[RecordCandidate]


class CreatedCase(BaseModel):
    """A confirmed case. Confirming the same person again within the exposure lookback
    window answers the same case (idempotent)."""

    id: str
    contacts: int = Field(description="People found at the same places within the window")
    notified: int = Field(description="Contacts newly marked yellow and notified by this case")
    confirmed_at: datetime = Field(
        description="In UTC (`Z`), to the millisecond, whatever offset was sent: the same "
        "text in every answer about this case",
        examples=["2026-12-08T00:00:00Z"],
    )
