"""API shapes of the QR domain."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path
from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field
from pydantic_core import PydanticCustomError

Status = Literal["green", "yellow", "red"]
# Ids are ours (`per_…`, `cp_…`); anything else cannot name a document.
RESOURCE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ResourceId = Annotated[str, Path(pattern=RESOURCE_ID.pattern)]

_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _rfc3339(value: object) -> object:
    """Only what the schema promises (`format: date-time`): pydantic alone would also take
    a number as seconds since 1970, or a time without a zone. Whatever is wrong, one code
    and one message (web.problems), which says the zone is needed."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise PydanticCustomError(
            "zoned_datetime", "must be a date and time with a time zone, an offset or Z"
        )
    return value


Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


class PersonCode(BaseModel):
    token: str = Field(description="Compact JWS (ES256 or EdDSA) to show as a QR code")
    status: Status = Field(description="The status the code was issued with")
    expires_at: datetime


class Jwk(BaseModel):
    kty: str
    crv: str
    x: str
    y: str | None = None
    kid: str
    alg: str
    use: str


class JwkSet(BaseModel):
    keys: list[Jwk]


class RevokedToken(BaseModel):
    jti: str
    revoked_at: datetime


class RevocationList(BaseModel):
    revoked: list[RevokedToken]
    until: datetime = Field(description="Pass as `since` in the next request")
    more: bool = Field(description="More revocations are waiting: ask again at once")
