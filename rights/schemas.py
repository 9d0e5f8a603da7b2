"""API shapes of the rights endpoints, kept apart from the stored documents.

The export is the documented schema of everything held about an account: each person with
their own records under them, decrypted. Records whose shape belongs to another domain
(a declaration's answers, a monitoring report) are carried as that domain stores them,
minus internal fields (keyed hashes, ciphertexts, version counters, purge times).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from core.validation import ShortText

_ID = r"^[A-Za-z0-9_-]{1,64}$"
ORGANISATION_ID = r"^org_[0-9A-HJKMNP-TV-Z]{26}$"

ResourceId = Annotated[str, Path(pattern=_ID, description="An id we issued")]
OrganisationId = Annotated[str, Path(pattern=ORGANISATION_ID, description="An organisation id")]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- organisations and consents --------------------------------------------------------------


class OrganisationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: ShortText = Field(description="The name citizens see")


class OrganisationOut(_Out):
    id: str
    name: str
    created_at: datetime


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    person_id: str = Field(pattern=_ID, description="One of the account's people")
    organisation_id: str = Field(pattern=ORGANISATION_ID)
    days: int = Field(ge=1, le=3650, description="How long the organisation may see it")


class ConsentOut(_Out):
    id: str = Field(description="Also the reference the organisation sees for this person")
    person_id: str
    organisation_id: str
    organisation_name: str | None
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


class ConsentingStatus(_Out):
    reference: str = Field(description="The consent's id: the person is never named")
    status: str = Field(description="green, yellow, orange or red")


class OrganisationStatuses(_Out):
    organisation_id: str
    as_of: datetime
    items: list[ConsentingStatus]


# -- access log ------------------------------------------------------------------------------


class AccessEntry(_Out):
    at: datetime
    person_id: str | None = Field(
        description="The person whose record it was; null for what the account holds "
        "itself (a question it asked: `question_id`)"
    )
    question_id: str | None = Field(
        default=None, description="The account's question a responder saw (`question_read`)"
    )
    action: str = Field(
        description="scan, monitoring_open, monitoring_worklist, monitoring_contact, "
        "monitoring_report, monitoring_close, case_confirmed, case_backdated, case_record_shown, "
        "organisation_status_read, audit.read, question_read"
    )
    what: str = Field(description="The action in the caller's language")
    role: str = Field(description="The role of who looked; never a staff member's name")
    checkpoint_id: str | None = None
    checkpoint_name: str | None = None
    organisation_id: str | None = None
    organisation_name: str | None = None
    decision: str | None = Field(default=None, description="A scan's allow or deny")


class AccessLog(_Out):
    items: list[AccessEntry]


# -- export ----------------------------------------------------------------------------------


class CodeExport(_Out):
    id: str = Field(description="The code's jti")
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    revoke_reason: str | None = None


class ScanExport(_Out):
    at: datetime
    checkpoint_id: str
    checkpoint_name: str | None
    decision: str
    reason_code: str


class CheckinExport(_Out):
    id: str
    checkpoint_id: str
    checkpoint_name: str | None
    arrived_at: datetime
    last_seen_at: datetime


class PersonExport(_Out):
    id: str
    full_name: str | None
    id_number: str | None
    phone: str | None
    relation: str | None = None
    birth_year: int | None = None
    gender: str | None = None
    nationality: str | None = None
    province: int | None = None
    ward: int | None = None
    status: str
    status_reasons: list[dict[str, Any]]
    status_source: str | None = None
    status_changed_at: datetime | None = None
    created_at: datetime | None = None
    declarations: list[dict[str, Any]] = Field(description="Each with its street decrypted")
    codes: list[CodeExport]
    scans: list[ScanExport]
    checkins: list[CheckinExport]
    cases: list[dict[str, Any]]
    monitoring: list[dict[str, Any]] = Field(description="Episodes, each with its reports")
    consents: list[ConsentOut]


class AccountExport(_Out):
    id: str
    phone: str | None
    created_at: datetime | None = None


class Export(_Out):
    generated_at: datetime
    account: AccountExport
    people: list[PersonExport]
    questions: list[dict[str, Any]]
