"""Shapes of the public map's answer, as the OpenAPI document shows them. Answers are rendered
once per snapshot and served as bytes (`publicmap.service`); these models describe them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from reports.schemas import Rounding

_FIGURE = "null: below the threshold (suppressed); 0: none. A multiple of the rounding base."


class Region(BaseModel):
    code: int = Field(description="Province or ward code (General Statistics Office)")
    name: str
    confirmed_cases: int | None = Field(description="Cases confirmed up to the date. " + _FIGURE)
    confirmed_last_7_days: int | None = Field(
        description="Cases confirmed in the 7 days ending on the date. " + _FIGURE
    )
    under_monitoring: int | None = Field(
        description="People under medical monitoring on the date (0 until monitoring is "
        "recorded). " + _FIGURE
    )
    declarations_with_symptoms_last_7_days: int | None = Field(
        description="Health declarations naming a symptom, 7 days ending on the date. " + _FIGURE
    )


class TrendDay(BaseModel):
    day: str = Field(description="YYYY-MM-DD, Vietnam time")
    confirmed: int | None = Field(description="Cases confirmed that day. " + _FIGURE)
    declarations_with_symptoms: int | None = Field(
        description="Declarations naming a symptom that day. " + _FIGURE
    )


class Regions(BaseModel):
    level: Literal["province", "ward"]
    province: int | None = Field(description="The province whose wards are listed")
    province_name: str | None
    date: str = Field(description="The day the figures are for (YYYY-MM-DD, Vietnam time)")
    updated_at: str = Field(description="When these figures were last published (UTC)")
    threshold: int = Field(description="Figures below this are suppressed")
    rounding: Rounding
    regions: list[Region] = Field(
        description="All 34 provinces, or every ward of the province, by code"
    )
    trend: list[TrendDay] = Field(
        description="The 30 days ending on the date: the country's for level=province, the "
        "province's for level=ward"
    )
