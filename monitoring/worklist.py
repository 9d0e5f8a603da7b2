"""Reading episodes: the officer's worklist of their area, most urgent first, and a citizen's
list of their person's episodes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from core.clock import local_day, utcnow
from core.context import Context
from core.errors import Forbidden, NotFound, ValidationFailed
from core.i18n import Text
from core.principals import Principal
from declarations.fields import province_exists, province_of_ward
from monitoring import repository
from monitoring.episodes import day_of, view, viewed
from monitoring.schemas import CitizenEpisode, EpisodeView
from people.repository import get_person


@dataclass(frozen=True)
class Page:
    items: list[EpisodeView]
    next: str | None


async def worklist(
    ctx: Context,
    officer: Principal,
    *,
    status: str,
    needs_attention: bool,
    province: int | None,
    ward: int | None,
    cursor: str | None,
    limit: int,
    now: datetime | None = None,
) -> Page:
    """One page of the officer's list. An officer bound to an area gets that area when they
    name none; naming a place outside it is 403, a place that does not exist 422. Only
    active episodes need attention."""
    if needs_attention and status != "active":
        raise _invalid(
            "needs_attention", "lists active episodes only", "chỉ áp dụng cho đợt đang theo dõi"
        )
    province = _province_of(province, ward)
    area = officer.area
    if area is not None:
        province = province if province is not None else area.province
        ward = ward if ward is not None else area.ward
        if not officer.covers(province, ward):
            raise Forbidden()
    found = await repository.worklist(
        ctx.store,
        status=status,
        province=province,
        ward=ward,
        needs_attention=needs_attention,
        after=cursor,
        limit=limit + 1,
    )
    page, more = found[:limit], len(found) > limit
    today = local_day(now or utcnow())
    if page:
        await ctx.store.write(
            [viewed(officer, "monitoring_worklist", doc, now or utcnow()) for doc in page]
        )
    return Page([view(doc, today) for doc in page], page[-1]["urgency_key"] if more else None)


def _province_of(province: int | None, ward: int | None) -> int | None:
    """The province to list: as named, or the named ward's (ward codes are national)."""
    if province is not None and not province_exists(province):
        raise _invalid("province", "is not a province code", "không phải mã tỉnh/thành phố")
    if ward is None:
        return province
    of_ward = province_of_ward(ward)
    if of_ward is None:
        raise _invalid("ward", "is not a ward code", "không phải mã phường/xã")
    if province is not None and province != of_ward:
        raise _invalid(
            "ward", "is not a ward of this province", "không thuộc tỉnh/thành phố đã chọn"
        )
    return of_ward


def _invalid(name: str, en: str, vi: str) -> ValidationFailed:
    return ValidationFailed.of_field(f"query.{name}", Text(en, vi))


async def episodes_of_person(
    ctx: Context, citizen: Principal, person_id: str, *, now: datetime | None = None
) -> list[CitizenEpisode]:
    person = await get_person(ctx.store, person_id)
    if person is None or person.get("account_id") != citizen.subject:
        raise NotFound()
    today = local_day(now or utcnow())
    return [
        CitizenEpisode(
            id=doc["_id"],
            reason=doc["reason"],
            day=max(1, min(day_of(doc, today), int(doc["days"]))),
            days=doc["days"],
            starts_on=date.fromisoformat(doc["starts_on"]),
            ends_on=date.fromisoformat(doc["ends_on"]),
            status=doc["status"],
            outcome=doc.get("outcome"),
            reported_today=doc.get("last_report_day") == today.isoformat(),
        )
        for doc in await repository.episodes_of_person(ctx.store, person_id)
    ]
