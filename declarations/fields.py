"""Field types of the declaration form: strict, bounded, normalised, and explained in both
languages when wrong (api/problems.py renders a `value_error` whose `reason` is a `Text`);
and the places a declaration names: Vietnam's provinces and wards (two levels since 1 July
2025, as the `vietnam-provinces` package lists them) and ISO 3166-1 alpha-2 country codes."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    Strict,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError
from vietnam_provinces import Province, Ward, WardCode
from vietnam_provinces import ProvinceCode as VnProvinceCode

from core.clock import local_day, utcnow
from core.i18n import Text
from core.validation import normalise_phone

# ISO 3166-1 alpha-2, the 249 officially assigned codes.
COUNTRIES: frozenset[str] = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
    """.split()  # noqa: SIM905 (249 codes read better as a block)
)
HOME_COUNTRY = "VN"


def is_country(code: str) -> bool:
    return code in COUNTRIES


@lru_cache(maxsize=64)
def province_exists(code: int) -> bool:
    try:
        Province.from_code(VnProvinceCode(code))
    except ValueError:
        return False
    return True


@lru_cache(maxsize=8192)
def province_of_ward(code: int) -> int | None:
    """The province a ward belongs to, or None when no ward has this code."""
    try:
        ward = Ward.from_code(WardCode(code))
    except ValueError:
        return None
    return int(ward.province_code.value)


# CCCD (12 digits), CMND (9 digits) or a passport number, in ASCII letters and digits only.
_ID_NUMBER = re.compile(r"[A-Z0-9]{6,12}")


def identity_number(value: str) -> str:
    """An identity number as it is stored and looked up: no spaces, upper case, ASCII
    letters and digits (a CCCD in Arabic-Indic or fullwidth digits is another string, which
    would find no record, not the number it looks like)."""
    value = "".join(value.split())
    # ASCII before upper(): "ı".upper() is "I" and "ﬀ".upper() is "FF".
    if not value.isascii() or not _ID_NUMBER.fullmatch(value := value.upper()):
        raise invalid(
            "must be a CCCD (12 digits), CMND (9 digits) or passport (6-12 letters/digits)",
            "phải là CCCD (12 số), CMND (9 số) hoặc hộ chiếu (6-12 chữ/số)",
        )
    return value


def invalid(en: str, vi: str, field: str | None = None) -> PydanticCustomError:
    """A field error whose message api/problems.py renders in the caller's language. From a
    check across fields (a model validator), `field` names the one to fix."""
    context: dict[str, object] = {"reason": Text(en, vi)}
    if field is not None:
        context["field"] = field
    return PydanticCustomError("value_error", en, context)


def today(info: ValidationInfo) -> date:
    """Vietnam's calendar day; a caller judging a past declaration passes `{"today": day}`."""
    context = info.context if isinstance(info.context, dict) else {}
    given = context.get("today")
    return given if isinstance(given, date) else local_day(utcnow())


def dedupe(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def _tidy(value: str) -> str:
    """NFC (iOS keyboards may send decomposed diacritics) and single spaces."""
    return " ".join(unicodedata.normalize("NFC", value).split())


_NAME_PUNCTUATION = frozenset(" '’-.")
_STREET_PUNCTUATION = frozenset(" '’-.,/#()&:")


def _letters_or_marks(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LM"


def _person_name(value: str) -> str:
    value = _tidy(value)
    if not value or not any(_letters_or_marks(ch) for ch in value):
        raise invalid("must contain letters", "phải có chữ cái")
    if not all(_letters_or_marks(ch) or ch in _NAME_PUNCTUATION for ch in value):
        raise invalid(
            "may contain only letters, spaces, apostrophes, hyphens and dots",
            "chỉ được có chữ cái, khoảng trắng, dấu nháy, gạch nối và dấu chấm",
        )
    return value


def _street(value: str) -> str:
    value = _tidy(value)
    if not value:
        raise invalid("must not be empty", "không được để trống")
    allowed = _STREET_PUNCTUATION
    if not all(_letters_or_marks(ch) or "0" <= ch <= "9" or ch in allowed for ch in value):
        raise invalid(
            "may contain only letters, digits, spaces and , . / - # ( ) & : '",
            "chỉ được có chữ cái, chữ số, khoảng trắng và , . / - # ( ) & : '",
        )
    return value


def _phone(value: str) -> str:
    try:
        return normalise_phone(value)
    except ValueError:
        raise invalid(
            "is not a phone number (use +84… or 0…)",
            "không phải số điện thoại (dùng +84… hoặc 0…)",
        ) from None


def _country(value: str) -> str:
    value = value.upper()
    if not is_country(value):
        raise invalid(
            "is not an ISO 3166 two-letter country code",
            "không phải mã quốc gia ISO 3166 hai chữ cái",
        )
    return value


def _province(value: int) -> int:
    if not province_exists(value):
        raise invalid("is not a province code", "không phải mã tỉnh/thành phố")
    return value


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: Any) -> date:
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise invalid("must be a date as YYYY-MM-DD", "phải là ngày dạng YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise invalid("is not a calendar date", "không phải ngày hợp lệ") from None


StrictInt = Annotated[int, Strict()]
StrictBool = Annotated[bool, Strict()]
FullName = Annotated[
    str, Strict(), StringConstraints(min_length=1, max_length=100), AfterValidator(_person_name)
]
Street = Annotated[
    str, Strict(), StringConstraints(min_length=1, max_length=200), AfterValidator(_street)
]
IdNumber = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=20)]
DeclaredPhone = Annotated[str, Strict(), StringConstraints(max_length=32), AfterValidator(_phone)]
CountryCode = Annotated[
    str,
    Strict(),
    StringConstraints(min_length=2, max_length=2),
    AfterValidator(_country),
    WithJsonSchema({"type": "string", "pattern": "^[A-Z]{2}$", "examples": ["VN", "SG"]}),
]
ProvinceCode = Annotated[int, Strict(), Field(ge=1, le=99), AfterValidator(_province)]
TripDate = Annotated[
    date,
    BeforeValidator(_iso_date),
    WithJsonSchema({"type": "string", "format": "date", "examples": ["2026-11-20"]}),
]
