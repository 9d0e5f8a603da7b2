"""The EU DCC payload (claim -260, key 1) as the EU's JSON schema (DCC.combined-schema,
1.3.x) describes it: names, birth date and exactly one vaccination, test or recovery entry.

Written as pydantic models rather than a shipped JSON-schema file: the service validates
every other input this way, and only these fields are read afterwards. Lengths and patterns
are the schema's; extra keys are ignored, as the schema's own versions add some.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    model_validator,
)

_LOOSE = ConfigDict(extra="ignore", frozen=True)
Short = Annotated[str, Field(min_length=1, max_length=80)]
Code = Annotated[str, Field(min_length=1, max_length=50)]
Country = Annotated[str, Field(pattern=r"^[A-Z]{1,10}$")]


def _text(pattern: str) -> BeforeValidator:
    """Only text of the schema's form: pydantic alone would also read a number as a date."""
    compiled = re.compile(pattern)

    def check(value: object) -> object:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise ValueError("not in the schema's form")
        return value

    return BeforeValidator(check)


Day = Annotated[date, _text(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")]
# RFC 3339 with a zone: a time without one cannot be compared with the scan's moment.
Moment = Annotated[
    AwareDatetime,
    _text(
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
        r"([Zz]|[+-][0-9]{2}:?[0-9]{2})"
    ),
]
Dose = Annotated[StrictInt, Field(ge=1, le=9)]

# The tested-for disease (COVID-19, SNOMED 840539006) and a negative result ("not detected").
COVID_19 = "840539006"
NOT_DETECTED = "260415000"
TEST_PCR = "LP6464-4"
TEST_RAPID = "LP217198-3"


class Names(BaseModel):
    model_config = _LOOSE
    fn: Short | None = None
    fnt: Annotated[str, Field(pattern=r"^[A-Z<]*$", max_length=80)]
    gn: Short | None = None
    gnt: Annotated[str, Field(pattern=r"^[A-Z<]*$", max_length=80)] | None = None


class Vaccination(BaseModel):
    model_config = _LOOSE
    tg: Code
    vp: Code
    mp: Code
    ma: Code
    dn: Dose
    sd: Dose
    dt: Day
    co: Country
    is_: Annotated[Short, Field(alias="is")]
    ci: Short


class Test(BaseModel):
    model_config = _LOOSE
    tg: Code
    tt: Code
    nm: Short | None = None
    ma: Code | None = None
    sc: Moment
    tr: Code
    tc: Short | None = None
    co: Country
    is_: Annotated[Short, Field(alias="is")]
    ci: Short


class Recovery(BaseModel):
    model_config = _LOOSE
    tg: Code
    fr: Day
    co: Country
    is_: Annotated[Short, Field(alias="is")]
    df: Day
    du: Day
    ci: Short


class HealthCertificate(BaseModel):
    model_config = _LOOSE
    ver: Annotated[str, Field(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$")]
    nam: Names
    dob: Annotated[str, Field(pattern=r"^(([0-9]{4})(-[0-9]{2}){0,2})?$")]
    v: Annotated[list[Vaccination], Field(min_length=1, max_length=1)] | None = None
    t: Annotated[list[Test], Field(min_length=1, max_length=1)] | None = None
    r: Annotated[list[Recovery], Field(min_length=1, max_length=1)] | None = None

    @model_validator(mode="after")
    def _one_entry(self) -> HealthCertificate:
        """A certificate is about one event: several kinds at once is outside the schema's
        `oneOf` (the test data's DGC2)."""
        if sum(entries is not None for entries in (self.v, self.t, self.r)) != 1:
            raise ValueError("exactly one of v, t or r")
        return self


def as_json_values(value: Any) -> Any:
    """CBOR may carry dates as tagged values; the schema speaks of their text form."""
    if isinstance(value, dict):
        return {k: as_json_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json_values(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
