"""Monitoring API shapes: opening an episode, a daily report, the officer's worklist."""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    model_validator,
)

from core.validation import typed_name
from declarations.fields import TripDate, dedupe, invalid
from declarations.schemas import AddressIn, Relation
from people.vocabulary import EntrySymptom

Reason = Literal["contact", "entry", "case", "other"]
Place = Literal["home", "facility", "hotel"]
EpisodeStatus = Literal["active", "closed"]
Outcome = Literal["completed", "became_case", "lost", "cancelled"]
VisitOutcome = Literal["seen_ok", "seen_not_ok", "not_reached"]
Flag = Literal["fever", "symptoms", "seen_not_ok", "no_report"]
FLAGS: tuple[str, ...] = get_args(Flag)
MAX_DAYS = 60

_FORBID = ConfigDict(extra="forbid")
Id = Annotated[str, Strict(), StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class EpisodeIn(BaseModel):
    """An officer opens an episode for a person or an arrival (exactly one of the two)."""

    model_config = _FORBID

    person_id: Id | None = None
    entry_declaration_id: Id | None = None
    reason: Reason
    place: Place = "home"
    address: AddressIn
    starts_on: TripDate | None = Field(default=None, description="Default: today")
    days: Annotated[int, Strict(), Field(ge=1, le=MAX_DAYS)] | None = Field(
        default=None, description="Default: the ministry's rules for the reason"
    )
    team: (
        Annotated[str, Strict(), StringConstraints(max_length=64), AfterValidator(typed_name)]
        | None
    ) = None

    @model_validator(mode="after")
    def _one_subject(self) -> EpisodeIn:
        if (self.person_id is None) == (self.entry_declaration_id is None):
            raise invalid(
                "give either person_id or entry_declaration_id",
                "chọn person_id hoặc entry_declaration_id",
            )
        return self


class EpisodeCreated(BaseModel):
    id: str
    ends_on: dt.date
    status: EpisodeStatus


class ReportIn(BaseModel):
    model_config = _FORBID

    temperature: Annotated[float, Strict(), Field(ge=30.0, le=45.0)] | None = Field(
        default=None, description="°C", examples=[37.2]
    )
    symptoms: Annotated[list[EntrySymptom], Field(max_length=11)] = Field(default_factory=list)
    outcome: VisitOutcome | None = Field(
        default=None, description="Officers only: the result of a call or visit"
    )
    note: Annotated[str, Strict(), StringConstraints(max_length=500)] | None = Field(
        default=None, description="Officers only"
    )

    @model_validator(mode="after")
    def _something_reported(self) -> ReportIn:
        self.symptoms = dedupe(self.symptoms)
        if self.temperature is None and not self.symptoms and self.outcome is None:
            raise invalid(
                "report a temperature, symptoms or an outcome",
                "hãy báo nhiệt độ, triệu chứng hoặc kết quả",
            )
        return self


class ReportCreated(BaseModel):
    id: str
    episode_id: str
    day: int
    flags: list[Flag]


class CloseIn(BaseModel):
    model_config = _FORBID

    outcome: Outcome


class EpisodeView(BaseModel):
    id: str
    person_id: str | None
    entry_declaration_id: str | None
    reason: Reason
    place: Place
    province: int
    ward: int
    starts_on: dt.date
    ends_on: dt.date
    days: int
    day: int = Field(description="1-based day of the episode today")
    status: EpisodeStatus
    outcome: Outcome | None
    last_report_at: datetime | None
    days_without_report: int
    latest_temperature: float | None
    flags: list[Flag]
    team: str | None


class Worklist(BaseModel):
    items: list[EpisodeView]
    next: str | None = Field(description="Cursor for the next page; null on the last page")


class CitizenEpisode(BaseModel):
    id: str
    reason: Reason
    day: int
    days: int
    starts_on: dt.date
    ends_on: dt.date
    status: EpisodeStatus
    outcome: Outcome | None
    reported_today: bool


class CitizenEpisodes(BaseModel):
    items: list[CitizenEpisode]


class ContactCard(BaseModel):
    """How to reach whom an episode follows, for the officer who calls or visits: one
    episode at a time, each read audited (the worklist names nobody)."""

    episode_id: str
    person_id: str | None
    entry_declaration_id: str | None
    status: EpisodeStatus
    full_name: str | None = Field(
        description="The person's name, or for an arrival the traveller's; null when the "
        "record holds none"
    )
    phone: str | None = Field(
        description="Whom to call: the person's own phone, or for a dependant without one "
        "the account holder's (`phone_of`); null when there is none to call"
    )
    phone_of: Literal["self", "account_holder"] | None = Field(
        description="`self`: the person's (or traveller's) own phone; `account_holder`: the "
        "phone of the account that declares this dependant"
    )
    email: str | None = Field(
        description="An arrival's traveller's email as declared at the border (a traveller "
        "may give one and no phone); null for a person, whose record holds none"
    )
    relation: Relation | None = Field(
        description="The person's relation to the account (`self` or a dependant's); null "
        "for an arrival"
    )
    birth_year: int | None
    province: int
    ward: int
    street: str | None = Field(
        description="The episode's street; for an episode opened by tracing (which has "
        "none), the person's latest declaration's when it is in the episode's province and "
        "ward (else null, see `moved_out_of_area`); for an arrival the stay's"
    )
    moved_out_of_area: bool = Field(
        description="True for an episode opened by tracing whose person has since declared "
        "a home outside the episode's ward: no street is shown, nor where they live now"
    )
    place: Place
