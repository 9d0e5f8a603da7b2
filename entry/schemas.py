"""Entry declaration API shapes: the form a traveller sends and what comes back.

Strict like the citizen's form (unknown fields refused, bounded strings and lists, places
checked against the official lists), with every field message in the form's language
(`entry.i18n`). Names keep their own script and diacritics (Kim Min-jun, Nguyễn, Иванов,
王伟); passport numbers and phones are ASCII only.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from core.validation import typed_name
from declarations.fields import dedupe, is_country, province_exists, province_of_ward, today
from declarations.fields import invalid as staff_invalid
from declarations.schemas import ExposureIn, Gender
from entry.i18n import invalid
from people.vocabulary import ENTRY_SYMPTOMS, EntrySymptom

TransportMode = Literal["air", "sea", "land", "rail", "other"]
TRANSPORT_MODES: tuple[str, ...] = get_args(TransportMode)
EntryStatus = Literal["green", "yellow", "red"]
PointKind = Literal["airport", "seaport", "land"]

MAX_COMPANIONS = 20
ARRIVAL_DAYS_BEFORE = 14  # a form filled in late, after arriving
ARRIVAL_DAYS_AHEAD = 7  # a form filled in before the flight
MAX_STAY_DAYS = 366
EARLIEST_BIRTH_YEAR = 1900

_FORBID = ConfigDict(extra="forbid")
_PASSPORT = re.compile(r"^[A-Z0-9]{6,12}$")
_PHONE = re.compile(r"^\+[1-9][0-9]{7,14}$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(\.[A-Za-z0-9\-]{1,63})+$")
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_TRANSPORT_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9 \-]{0,15}$")
_SEAT = re.compile(r"^[A-Z0-9\-]{1,8}$")
_POINT_ID = re.compile(r"^poe_[a-z0-9_]{1,24}$")
_NAME_PUNCTUATION = frozenset(" '’-.")


def _name(value: str) -> str:
    value = " ".join(unicodedata.normalize("NFC", value).split())
    letters = [ch for ch in value if unicodedata.category(ch)[0] in "LM"]
    if not letters or any(
        unicodedata.category(ch)[0] not in "LM" and ch not in _NAME_PUNCTUATION for ch in value
    ):
        raise invalid("name")
    return value


def _passport(value: str) -> str:
    value = "".join(value.split()).upper()
    if not _PASSPORT.match(value):  # [A-Z0-9]: fullwidth or Arabic-Indic digits are refused
        raise invalid("passport")
    return value


def _phone(value: str) -> str:
    value = re.sub(r"[ .\-()]", "", value)
    if not _PHONE.match(value):
        raise invalid("phone")
    return value


def _email(value: str) -> str:
    value = value.strip()
    if not _EMAIL.match(value):
        raise invalid("email")
    return value.lower()


def _country(value: str) -> str:
    value = value.upper()
    if not is_country(value):
        raise invalid("country")
    return value


def _province(value: int) -> int:
    if not province_exists(value):
        raise invalid("province")
    return value


def _iso_date(value: Any) -> dt.date:
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise invalid("date")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise invalid("date") from None


def _transport_number(value: str) -> str:
    value = " ".join(value.upper().split())
    if not _TRANSPORT_NUMBER.match(value):
        raise invalid("format")
    return value


def _seat(value: str) -> str:
    value = value.strip().upper()
    if not _SEAT.match(value):
        raise invalid("format")
    return value


def _point_id(value: str) -> str:
    if not _POINT_ID.match(value):
        raise invalid("point_of_entry")
    return value


FullName = Annotated[
    str, Strict(), StringConstraints(min_length=1, max_length=100), AfterValidator(_name)
]
Passport = Annotated[
    str,
    Strict(),
    StringConstraints(min_length=1, max_length=20),
    AfterValidator(_passport),
    WithJsonSchema({"type": "string", "pattern": "^[A-Z0-9]{6,12}$", "examples": ["M12345678"]}),
]
Country = Annotated[
    str,
    Strict(),
    StringConstraints(min_length=2, max_length=2),
    AfterValidator(_country),
    WithJsonSchema({"type": "string", "pattern": "^[A-Z]{2}$", "examples": ["KR"]}),
]
IntlPhone = Annotated[
    str,
    Strict(),
    StringConstraints(max_length=32),
    AfterValidator(_phone),
    WithJsonSchema({"type": "string", "pattern": r"^\+[1-9][0-9]{7,14}$"}),
]
Email = Annotated[str, Strict(), StringConstraints(max_length=254), AfterValidator(_email)]
FormDate = Annotated[
    dt.date,
    BeforeValidator(_iso_date),
    WithJsonSchema({"type": "string", "format": "date", "examples": ["2026-12-06"]}),
]
BirthYear = Annotated[int, Strict()]
Countries = Annotated[list[Country], AfterValidator(dedupe)]


class CompanionIn(BaseModel):
    """A family member on the same form: no phone or email of their own needed."""

    model_config = _FORBID

    full_name: FullName = Field(examples=["Kim Ji-woo"])
    passport_number: Passport
    nationality: Country
    birth_year: BirthYear
    gender: Gender

    @field_validator("birth_year")
    @classmethod
    def _plausible_year(cls, value: int, info: ValidationInfo) -> int:
        if not EARLIEST_BIRTH_YEAR <= value <= today(info).year:
            raise invalid("birth_year")
        return value


class TravellerIn(CompanionIn):
    """The person filling in the form."""

    phone: IntlPhone | None = Field(default=None, examples=["+821012345678"])
    email: Email | None = Field(default=None, examples=["m@example.kr"])


class TransportIn(BaseModel):
    model_config = _FORBID

    mode: TransportMode
    number: Annotated[str, Strict(), StringConstraints(max_length=16)] | None = Field(
        default=None, examples=["VN417"]
    )
    seat: Annotated[str, Strict(), StringConstraints(max_length=8)] | None = Field(
        default=None, examples=["23A"]
    )

    @field_validator("number")
    @classmethod
    def _valid_number(cls, value: str | None) -> str | None:
        return None if value is None else _transport_number(value)

    @field_validator("seat")
    @classmethod
    def _valid_seat(cls, value: str | None) -> str | None:
        return None if value is None else _seat(value)


class TripIn(BaseModel):
    model_config = _FORBID

    point_of_entry: Annotated[str, Strict(), StringConstraints(max_length=40)] = Field(
        description="An id from GET /v1/entry/points"
    )
    arrival_date: FormDate
    transport: TransportIn
    departure_country: Country
    transit_countries: Countries = Field(default_factory=list, max_length=10)
    countries_last_14_days: Countries = Field(default_factory=list, max_length=30)

    @field_validator("point_of_entry")
    @classmethod
    def _point(cls, value: str) -> str:
        return _point_id(value)

    @field_validator("arrival_date")
    @classmethod
    def _arrival_near_today(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        days = (value - today(info)).days
        if not -ARRIVAL_DAYS_BEFORE <= days <= ARRIVAL_DAYS_AHEAD:
            raise invalid("arrival_range")
        return value


class StayIn(BaseModel):
    """Where the traveller stays: where a monitoring episode would be opened."""

    model_config = _FORBID

    province: Annotated[int, Strict(), Field(ge=1, le=99), AfterValidator(_province)]
    ward: Annotated[int, Strict(), Field(ge=1, le=99_999)]
    street: Annotated[
        str, Strict(), StringConstraints(min_length=1, max_length=200, strip_whitespace=True)
    ] = Field(examples=["1 Tràng Tiền"])
    until: FormDate | None = None

    @field_validator("ward")
    @classmethod
    def _ward_in_province(cls, value: int, info: ValidationInfo) -> int:
        province = province_of_ward(value)
        if province is None or ("province" in info.data and province != info.data["province"]):
            raise invalid("ward")
        return value

    @field_validator("street")
    @classmethod
    def _street(cls, value: str) -> str:
        value = " ".join(unicodedata.normalize("NFC", value).split())
        if any(unicodedata.category(ch)[0] == "C" for ch in value):
            raise invalid("format")
        return value


class EntryDeclarationIn(BaseModel):
    model_config = _FORBID

    traveller: TravellerIn
    companions: list[CompanionIn] = Field(default_factory=list, max_length=MAX_COMPANIONS)
    trip: TripIn
    stay: StayIn
    symptoms: Annotated[list[EntrySymptom], AfterValidator(dedupe)] = Field(
        default_factory=list, max_length=len(ENTRY_SYMPTOMS), description="In the last 14 days"
    )
    exposure: ExposureIn = Field(default_factory=ExposureIn)

    @model_validator(mode="after")
    def _stay_after_arrival(self) -> EntryDeclarationIn:
        until = self.stay.until
        arrival = self.trip.arrival_date
        if until is not None and not 0 <= (until - arrival).days <= MAX_STAY_DAYS:
            raise invalid("until_range", "stay.until")
        return self


# -- responses ------------------------------------------------------------------------------


class EntryReason(BaseModel):
    """Why the arrival got its status (the entry rules' reason)."""

    code: str
    status: EntryStatus
    message: str = Field(description="In the request's language")


class EntryDeclarationOut(BaseModel):
    id: str
    code: str = Field(description="Short code to read aloud at the border", examples=["EN7K-3QF9"])
    status: EntryStatus
    reasons: list[EntryReason]
    token: str = Field(description="Signed QR token (compact JWS), no personal data")
    expires_at: datetime
    companions: int = Field(description="Companions covered by this declaration")
    created_at: datetime


class PointOfEntry(BaseModel):
    id: str
    name: str
    name_en: str
    kind: PointKind
    province: int


class PointList(BaseModel):
    items: list[PointOfEntry]
    source: str


PointName = Annotated[
    str, Strict(), StringConstraints(min_length=2, max_length=120), AfterValidator(typed_name)
]


class NewPointIn(BaseModel):
    model_config = _FORBID

    id: Annotated[str, Strict(), StringConstraints(pattern=r"^poe_[a-z0-9_]{1,24}$")]
    name: PointName
    name_en: PointName
    kind: PointKind
    province: Annotated[int, Strict(), Field(ge=1, le=99), AfterValidator(_province)]


class EntryScanIn(BaseModel):
    """A scanned QR token, or the short code typed by hand: exactly one of the two."""

    model_config = _FORBID

    token: Annotated[str, Strict(), StringConstraints(max_length=2048)] | None = None
    code: Annotated[str, Strict(), StringConstraints(max_length=16)] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> EntryScanIn:
        if (self.token is None) == (self.code is None):
            raise staff_invalid("send either `token` or `code`", "gửi `token` hoặc `code`", "token")
        return self


class TravellerView(BaseModel):
    full_name: str
    nationality: str
    passport_last4: str


class EntryScanOut(BaseModel):
    decision: Literal["allow", "refer"]
    status: EntryStatus
    reason: str
    traveller: TravellerView
    companions: int
    arrived_at: datetime
