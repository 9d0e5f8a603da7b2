"""Report shapes as the OpenAPI document shows them. Responses are serialised straight from
`reports.service.Report` (a national table can have tens of thousands of rows, too many to
validate one by one); these models describe the same JSON."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from reports.arrivals_monitoring import ArrivalDimension, Measure, MonitoringDimension
from reports.service import Dimension


class Rounding(BaseModel):
    """How every count was published (SECURITY.md, "Published figures")."""

    method: Literal["keyed_random_rounding"] = Field(
        description="Each day's count per ward (the finest cell) is rounded to a multiple of "
        "`base`, the same way every time; a cell is the sum of its rounded parts"
    )
    base: int


class ReportTotal(BaseModel):
    count: int = Field(description="Sum of the shown cells only; suppressed cells are left out.")
    shown_cells: int
    suppressed_cells: int
    basis: Literal["sum_of_shown_cells"] = "sum_of_shown_cells"


class DeclarationRow(BaseModel):
    """Only the grouped dimensions are present (and the names next to codes)."""

    day: str | None = Field(default=None, description="YYYY-MM-DD, the day in Vietnam")
    province: int | None = None
    province_name: str | None = None
    ward: int | None = None
    ward_name: str | None = None
    status: Literal["green", "yellow", "red"] | None = None
    symptom: str | None = None
    count: int | None = Field(description="null when suppressed; a multiple of the rounding base")
    suppressed: bool


class DeclarationReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    group_by: list[Dimension]
    province: int | None
    province_name: str | None
    unit: Literal["declarations", "symptom_mentions"] = Field(
        description="symptom_mentions: a declaration naming two symptoms counts under each"
    )
    threshold: int = Field(description="Counts below this are suppressed")
    rounding: Rounding
    rows: list[DeclarationRow]
    total: ReportTotal


class CheckpointRow(BaseModel):
    checkpoint_id: str
    checkpoint_name: str | None = Field(
        default=None, description="Present when the checkpoint is known"
    )
    event: Literal["scan", "checkin"]
    decision: str = Field(description="allow or deny for scans, checkin for check-ins")
    count: int | None
    suppressed: bool


class CheckpointReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    checkpoint: str | None
    threshold: int
    rounding: Rounding
    rows: list[CheckpointRow]
    total: ReportTotal


class ArrivalRow(BaseModel):
    """Only the grouped dimensions are present."""

    day: str | None = Field(default=None, description="YYYY-MM-DD, the declared arrival day")
    point_of_entry: str | None = Field(
        default=None, description="The gate's id (GET /v1/entry/points)"
    )
    nationality: str | None = Field(default=None, description="ISO 3166-1 alpha-3 or alpha-2 code")
    status: Literal["green", "yellow", "red"] | None = None
    count: int | None = Field(description="null when suppressed; a multiple of the rounding base")
    suppressed: bool


class ArrivalReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    group_by: list[ArrivalDimension]
    unit: Literal["travellers"] = Field(description="Each traveller on a form, companions too")
    threshold: int
    rounding: Rounding
    rows: list[ArrivalRow]
    total: ReportTotal


class MonitoringRow(BaseModel):
    """Only the grouped dimensions are present (`day` never on `needs_attention` rows)."""

    measure: Measure = Field(
        description="under_monitoring: people followed on `day`, or at any time in the range "
        "when not grouped by day; needs_attention: active episodes needing attention now"
    )
    day: str | None = None
    province: int | None = None
    province_name: str | None = None
    ward: int | None = None
    ward_name: str | None = None
    reason: Literal["contact", "entry", "case", "other"] | None = None
    count: int | None = Field(description="null when suppressed; a multiple of the rounding base")
    suppressed: bool


class MonitoringReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    group_by: list[MonitoringDimension]
    unit: Literal["people"]
    threshold: int
    rounding: Rounding
    rows: list[MonitoringRow]
    total: ReportTotal = Field(description="`count`: the shown under_monitoring cells")
