"""Declaration API shapes: the form the apps send and what they get back.

Input is strict: unknown fields are refused, a string is never taken for a number or a
boolean, every string and list has a bound, and places are checked against the official
lists. Stored documents are built in `service.py`, not from these models directly; stored
reasons come back as the API's `Reason`s, in the caller's language, through `reason_views`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from core.i18n import Text
from core.idempotency import IDEMPOTENCY_KEY_LENGTH
from core.validation import ascii_digits
from declarations.fields import (
    CountryCode,
    DeclaredPhone,
    FullName,
    IdNumber,
    ProvinceCode,
    Street,
    StrictBool,
    StrictInt,
    TripDate,
    dedupe,
    identity_number,
    invalid,
    province_of_ward,
    today,
)
from people.repository import SEVERITY, Status
from people.vocabulary import SYMPTOMS, Symptom
from web.openapi import ShownAs
from web.problems import Problem

ChronicCondition = Literal[
    "liver",
    "blood",
    "lung",
    "kidney",
    "heart",
    "hypertension",
    "immunodeficiency",
    "organ_transplant",
    "diabetes",
    "cancer",
]
Exposure = Literal["confirmed_case", "suspected_case", "from_affected_area", "symptomatic_contact"]
Gender = Literal["male", "female", "other"]
Relation = Literal["self", "child", "parent", "other"]
Vehicle = Literal["plane", "train", "bus", "car", "motorbike", "boat", "other"]

CHRONIC_CONDITIONS: tuple[str, ...] = get_args(ChronicCondition)
EXPOSURES: tuple[str, ...] = get_args(Exposure)
TRAVEL_LOOKBACK_DAYS = 14
EARLIEST_BIRTH_YEAR = 1900


_FORBID = ConfigDict(extra="forbid")


class PersonIn(BaseModel):
    """The person declared for: the account holder or a dependant without a phone."""

    model_config = _FORBID

    full_name: FullName = Field(examples=["Nguyễn Thị Lan"])
    relation: Relation = Field(
        default="self",
        description="Who this person is to the account holder; `self` is the holder, one "
        "person per account (another identity number as `self` is 409 "
        "`self_already_declared`)",
    )
    nationality: CountryCode = Field(default="VN", description="ISO 3166 alpha-2")
    id_number: IdNumber = Field(
        description="CCCD (12 digits), CMND (9 digits) or passport (6-12 letters and digits)",
        examples=["001190012345"],
    )
    birth_year: StrictInt = Field(ge=EARLIEST_BIRTH_YEAR, examples=[1990])
    gender: Gender
    phone: DeclaredPhone | None = Field(
        default=None,
        validate_default=True,
        description="Required when relation is `self`; may be omitted for a dependant",
        examples=["+84912345678"],
    )

    @field_validator("id_number")
    @classmethod
    def _identity_number(cls, value: str, info: ValidationInfo) -> str:
        value = identity_number(value)
        if (
            info.data.get("nationality") == "VN"
            and ascii_digits(value)
            and len(value) not in (9, 12)
        ):
            raise invalid(
                "a CCCD has 12 digits and a CMND 9",
                "CCCD có 12 chữ số, CMND có 9 chữ số",
            )
        return value

    @field_validator("birth_year")
    @classmethod
    def _not_in_future(cls, value: int, info: ValidationInfo) -> int:
        if value > today(info).year:
            raise invalid("is in the future", "ở trong tương lai")
        return value

    @field_validator("phone")
    @classmethod
    def _own_phone_required(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("relation", "self") == "self":
            raise invalid(
                "is required when person.relation is self (the default): for a dependant "
                "without a phone, set person.relation to child, parent or other",
                "là bắt buộc khi person.relation là self (mặc định): khai báo cho người "
                "phụ thuộc không có điện thoại, hãy đặt person.relation là child, parent "
                "hoặc other",
            )
        return value


class AddressIn(BaseModel):
    """Where the person lives: province and ward codes of the General Statistics Office."""

    model_config = _FORBID

    province: ProvinceCode = Field(examples=[1])
    ward: StrictInt = Field(ge=1, le=99_999, examples=[70])
    street: Street = Field(examples=["12 Tràng Tiền"])

    @field_validator("ward")
    @classmethod
    def _ward_in_province(cls, value: int, info: ValidationInfo) -> int:
        province = province_of_ward(value)
        if province is None:
            raise invalid("is not a ward code", "không phải mã phường/xã")
        if "province" in info.data and province != info.data["province"]:
            raise invalid(
                "is not a ward of this province",
                "không thuộc tỉnh/thành phố đã chọn",
            )
        return value


class ExposureIn(BaseModel):
    """Answers about the last 14 days."""

    model_config = _FORBID

    confirmed_case: StrictBool = False
    suspected_case: StrictBool = False
    from_affected_area: StrictBool = False
    symptomatic_contact: StrictBool = False


class DomesticTripIn(BaseModel):
    model_config = _FORBID

    vehicle: Vehicle
    from_province: ProvinceCode
    to_province: ProvinceCode
    date: TripDate

    @field_validator("date")
    @classmethod
    def _recent(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        day = today(info)
        if value > day:
            raise invalid("is in the future", "ở trong tương lai")
        if (day - value).days > TRAVEL_LOOKBACK_DAYS:
            raise invalid(
                "must be within the last 14 days",
                "phải trong vòng 14 ngày qua",
            )
        return value


class TravelIn(BaseModel):
    """Travel in the last 14 days."""

    model_config = _FORBID

    countries: Annotated[list[CountryCode], AfterValidator(dedupe)] = Field(
        default_factory=list, max_length=20
    )
    domestic: list[DomesticTripIn] = Field(default_factory=list, max_length=30)


class DeclarationIn(BaseModel):
    model_config = _FORBID

    person: PersonIn
    address: AddressIn
    symptoms: Annotated[list[Symptom], AfterValidator(dedupe)] = Field(
        default_factory=list, max_length=len(SYMPTOMS), description="In the last 14 days"
    )
    exposure: ExposureIn = Field(default_factory=ExposureIn)
    chronic_conditions: Annotated[list[ChronicCondition], AfterValidator(dedupe)] = Field(
        default_factory=list, max_length=len(CHRONIC_CONDITIONS)
    )
    pregnant: StrictBool = Field(default=False, description="Not with `person.gender` male")
    travel: TravelIn = Field(default_factory=TravelIn)

    @field_validator("pregnant")
    @classmethod
    def _not_for_a_man(cls, value: bool, info: ValidationInfo) -> bool:
        # `other` stays open: the form's gender is what the person says, and a pregnant
        # person may say other. `male` with pregnant is a form filled in wrong.
        person = info.data.get("person")
        if value and person is not None and person.gender == "male":
            raise invalid(
                "cannot be true when person.gender is male",
                "không thể là true khi person.gender là male (nam)",
            )
        return value


# -- responses ------------------------------------------------------------------------------


class Reason(BaseModel):
    code: str = Field(description="Stable code of the rule, for the apps to switch on")
    status: Status = Field(description="The status this reason alone leads to")
    message: str = Field(description="In the request's language (Accept-Language: vi or en)")


# Reasons that case confirmation and tracing store as `{"code", "day"}`.
_STAFF_REASONS = {
    "confirmed_case": Text("Confirmed case ({day}).", "Ca bệnh xác định ({day})."),
    "exposure": Text(
        "Possible exposure at a place visited on {day}.",
        "Có thể đã tiếp xúc tại nơi đã đến ngày {day}.",
    ),
}
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def reason_views(reasons: Iterable[Mapping[str, Any]], status: Status, lang: str) -> list[Reason]:
    """Stored reasons in the caller's language: the rules' (`code`, `status`, `en`, `vi`),
    staff's (`code`, `day`), and anything else by its code."""
    views = []
    for reason in reasons:
        code = str(reason.get("code", "unspecified"))
        text = reason.get(lang) or reason.get("en")
        staff = _STAFF_REASONS.get(code)
        day = reason.get("day")
        if not text and staff is not None and isinstance(day, str) and _ISO_DAY.fullmatch(day):
            text = staff.pick(lang).format(day=day)
        own = reason.get("status")
        views.append(
            Reason(code=code, status=own if own in SEVERITY else status, message=str(text or code))
        )
    return views


class DeclarationOut(BaseModel):
    id: str
    person_id: str
    status: Status
    reasons: list[Reason]
    created_at: datetime


class AddressOut(BaseModel):
    province: int
    ward: int
    street: str


class DomesticTripOut(BaseModel):
    vehicle: Vehicle
    from_province: int
    to_province: int
    date: dt.date


class TravelOut(BaseModel):
    countries: list[str]
    domestic: list[DomesticTripOut]


class ExposureOut(BaseModel):
    """The answers about the last 14 days, as declared."""

    confirmed_case: bool = False
    suspected_case: bool = False
    from_affected_area: bool = False
    symptomatic_contact: bool = False


class DeclarationDetail(DeclarationOut):
    rules_version: str
    address: AddressOut
    symptoms: list[Symptom]
    exposure: ExposureOut
    chronic_conditions: list[ChronicCondition]
    pregnant: bool
    travel: TravelOut


class DeclarationList(BaseModel):
    items: list[DeclarationDetail] = Field(description="Most recent first")


class PersonOut(BaseModel):
    person_id: str
    display_name: str
    id_number_masked: str = Field(examples=["•••••••••345"])
    relation: Relation
    birth_year: int
    status: Status
    reasons: list[Reason]
    status_changed_at: datetime | None


class PeopleList(BaseModel):
    items: list[PersonOut]


# -- batch ----------------------------------------------------------------------------------


class BatchItemIn(BaseModel):
    model_config = _FORBID

    idempotency_key: str = Field(
        max_length=IDEMPOTENCY_KEY_LENGTH[1],
        description="As the Idempotency-Key header of POST /v1/declarations",
    )
    # Validated item by item in the service, so one bad declaration is one failed item; the
    # document shows a `DeclarationIn`, so a phone's queue of typed declarations is sent as is.
    declaration: Annotated[dict[str, Any], ShownAs(DeclarationIn)]


class BatchIn(BaseModel):
    model_config = _FORBID

    items: list[BatchItemIn] = Field(min_length=1, max_length=50)


class BatchItemResult(BaseModel):
    index: int = Field(description="Position of the item in the request, from 0")
    idempotency_key: str = Field(
        description="The item's key as sent, also when it was refused as invalid"
    )
    status_code: int = Field(description="What POST /v1/declarations would have answered")
    replayed: bool = False
    declaration: DeclarationOut | None = None
    error: Problem | None = None


class BatchOut(BaseModel):
    results: list[BatchItemResult]
