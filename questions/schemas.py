"""API shapes of the questions domain. What a responder or the public sees is a shape of
its own: none of them has a field for the asker."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path as PathParam
from fastapi import Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt
from pydantic_core import PydanticCustomError

from core.i18n import Text

Kind = Literal["question", "feedback", "report"]
Category = Literal[
    "declaration", "qr_code", "testing", "quarantine", "vaccination", "travel", "other"
]
Status = Literal["received", "answered", "published", "rejected"]
CATEGORIES: tuple[Category, ...] = (
    "declaration",
    "qr_code",
    "testing",
    "quarantine",
    "vaccination",
    "travel",
    "other",
)
STATUSES: tuple[Status, ...] = ("received", "answered", "published", "rejected")

TITLE_MAX = 200
BODY_MAX = 4000
ANSWER_MAX = 8000
REASON_MAX = 500
QUERY_MAX = 200

# Control characters other than line breaks and tabs have no place in a question and are
# how hostile input hides itself in logs and pages.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _invalid(en: str, vi: str) -> PydanticCustomError:
    """A field error api/problems.py renders in the caller's language."""
    return PydanticCustomError("value_error", en, {"reason": Text(en, vi)})


def _clean(value: str) -> str:
    """Composed form (phones send either), no control characters, not blank."""
    if _CONTROL.search(value):
        raise _invalid("Remove control characters.", "Hãy bỏ các ký tự điều khiển.")
    value = unicodedata.normalize("NFC", value).strip()
    if not value:
        raise _invalid("Write some text.", "Hãy nhập nội dung.")
    return value


def _text(max_length: int, description: str) -> object:
    return Field(min_length=1, max_length=max_length, description=description)


Title = Annotated[str, AfterValidator(_clean), _text(TITLE_MAX, "Short title")]
Body = Annotated[str, AfterValidator(_clean), _text(BODY_MAX, "The question or report")]
AnswerText = Annotated[str, AfterValidator(_clean), _text(ANSWER_MAX, "The answer")]
Reason = Annotated[str, AfterValidator(_clean), _text(REASON_MAX, "Why it is rejected")]
_FORBID = ConfigDict(extra="forbid")


class QuestionIn(BaseModel):
    model_config = _FORBID

    kind: Kind
    category: Category
    title: Title
    body: Body
    province: StrictInt | None = Field(default=None, description="Province code, if local")
    ward: StrictInt | None = Field(default=None, description="Ward code (needs province)")


class QuestionCreated(BaseModel):
    id: str
    status: Status


class AnswerIn(BaseModel):
    model_config = _FORBID

    body: AnswerText
    publish: StrictBool = False
    public_title: Title | None = Field(
        default=None,
        description="The question's title as the FAQ shows it, in the responder's own words: "
        "required with `publish` (422 `public_text_required`), never the asker's text as "
        "written (422 `public_text_as_asked`)",
    )
    public_body: Body | None = Field(
        default=None,
        description="The question's text as the FAQ shows it, in the responder's own words: "
        "required with `publish`, never the asker's text as written",
    )


class DuplicateIn(BaseModel):
    model_config = _FORBID

    of: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="The earlier question's id")


class RejectIn(BaseModel):
    model_config = _FORBID

    reason: Reason


class MyQuestion(BaseModel):
    """A citizen's own question, with its answer once there is one."""

    id: str
    kind: Kind
    category: Category
    title: str
    body: str
    province: int | None
    ward: int | None
    status: Status
    answer: str | None
    rejection_reason: str | None
    faq_id: str | None
    received_at: datetime
    answered_at: datetime | None


class MyQuestions(BaseModel):
    items: list[MyQuestion]
    next_before: str | None = Field(description="Pass as `before` for the next page")


class QueuedQuestion(BaseModel):
    """A question in the responders' queue: what was asked and where, never by whom."""

    id: str
    kind: Kind
    category: Category
    title: str
    body: str
    province: int | None
    ward: int | None
    status: Status
    answer: str | None
    duplicate_of: str | None
    faq_id: str | None
    received_at: datetime
    answered_at: datetime | None


class Queue(BaseModel):
    items: list[QueuedQuestion]
    next_before: str | None = Field(
        description="Pass as `before` for the next page (none when searching with `q`)"
    )


class FaqEntry(BaseModel):
    id: str
    category: Category
    title: str
    question: str
    answer: str
    published_at: datetime


class FaqPage(BaseModel):
    items: list[FaqEntry]


class QuestionCell(BaseModel):
    category: Category
    status: Status
    count: int | None
    suppressed: bool


class AnswerTime(BaseModel):
    category: Category | Literal["all"]
    median_hours: float | None = Field(description="Median hours from asking to the answer")
    suppressed: bool


class QuestionReport(BaseModel):
    first: str
    last: str
    rows: list[QuestionCell]
    answer_times: list[AnswerTime]
    threshold: int


_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
DocumentId = Annotated[str, PathParam(pattern=_ID_PATTERN, description="An id we issued")]
Cursor = Annotated[
    str | None,
    Query(pattern=_ID_PATTERN, description="`next_before` of the previous page"),
]
Limit = Annotated[int, Query(ge=1, le=100, description="Items per page")]
