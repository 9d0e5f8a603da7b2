"""Seed the public map's data as the service writes it: declarations through the declaration
service (tests.reports.seeding), cases through the case confirmation a health officer's
POST /v1/cases runs, monitoring episodes through the opening an officer's POST /v1/monitoring
runs and the daily job that closes them, on past days when asked."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from checkpoints.schemas import CaseRequest
from checkpoints.tracing import confirm_case
from core.clock import utcnow
from core.context import Context
from core.principals import Principal
from monitoring.jobs import close_finished
from monitoring.schemas import EpisodeIn
from monitoring.service import open_episode
from reports.suppression import Rounding
from tests.reports.seeding import Batch, moment_on, seed, today

OFFICER = Principal(subject="usr_map_officer", role="health_officer")


@dataclass(frozen=True)
class Cases:
    """`count` people living in the ward confirmed as cases on `day`."""

    day: date
    province: int
    ward: int
    count: int


@dataclass(frozen=True)
class Followed:
    """`count` people living in the ward under monitoring from `starts_on` for `days` days:
    through their last day, or today if that comes first."""

    starts_on: date
    province: int
    ward: int
    count: int
    days: int

    def followed_on(self) -> list[date]:
        last = min(self.starts_on + timedelta(days=self.days - 1), today())
        return [self.starts_on + timedelta(days=n) for n in range((last - self.starts_on).days + 1)]


def people_for(cases: Iterable[Cases | Followed], day: date) -> list[Batch]:
    """Green declarations on `day` by everyone the cases will confirm (or the monitoring will
    follow)."""
    needed: dict[tuple[int, int], int] = {}
    for c in cases:
        needed[(c.province, c.ward)] = needed.get((c.province, c.ward), 0) + c.count
    return [Batch(day, p, w, "green", count=n) for (p, w), n in needed.items()]


async def seed_cases(ctx: Context, cases: Sequence[Cases]) -> None:
    """Confirm each case on its day (noon in Vietnam), a person of its ward each."""
    taken: set[str] = set()
    for c in cases:
        people = await ctx.store.find("people", {"province": c.province, "ward": c.ward})
        free = sorted(str(p["_id"]) for p in people if str(p["_id"]) not in taken)
        assert len(free) >= c.count, f"not enough people in ward {c.ward}"
        for person_id in free[: c.count]:
            taken.add(person_id)
            at = moment_on(c.day)
            body = CaseRequest.model_validate(
                {"person_id": person_id, "confirmed_at": at.isoformat().replace("+00:00", "Z")}
            )
            # Confirmed then: a confirmation may not be dated before the lookback window.
            await confirm_case(ctx, OFFICER, body, now=at)


async def seed_monitoring(ctx: Context, followed: Sequence[Followed]) -> None:
    """Open each episode on its first day, a person of its ward each; then the daily job
    closes those whose last day has passed, as it would have on the day after."""
    taken: set[str] = set()
    for f in followed:
        people = await ctx.store.find("people", {"province": f.province, "ward": f.ward})
        free = sorted(str(p["_id"]) for p in people if str(p["_id"]) not in taken)
        assert len(free) >= f.count, f"not enough people in ward {f.ward}"
        for person_id in free[: f.count]:
            taken.add(person_id)
            body = EpisodeIn.model_validate(
                {
                    "person_id": person_id,
                    "reason": "contact",
                    "address": {"province": f.province, "ward": f.ward, "street": "1 Phố Huế"},
                    "starts_on": f.starts_on.isoformat(),
                    "days": f.days,
                }
            )
            await open_episode(ctx, OFFICER, body, now=moment_on(f.starts_on))
    await close_finished(ctx, utcnow())


async def seed_map(
    ctx: Context,
    declarations: Sequence[Batch],
    cases: Sequence[Cases],
    followed: Sequence[Followed] = (),
) -> None:
    await seed(ctx, declarations)
    await seed_cases(ctx, cases)
    await seed_monitoring(ctx, followed)


# -- what the map should publish -----------------------------------------------------------

MapAtoms = dict[str, tuple[dict[str, Any], int]]  # atom -> (day, province, ward), true count


def map_atoms(
    declarations: Iterable[Batch], cases: Iterable[Cases], followed: Iterable[Followed] = ()
) -> MapAtoms:
    """The map's atoms: cases, declarations with symptoms and people under monitoring, per
    day and ward."""
    atoms: MapAtoms = {}

    def add(measure: str, day: date, province: int, ward: int, n: int) -> None:
        prefix = {"cases": "mcase", "symptomatic": "msym", "monitoring": "mon"}[measure]
        atom = f"{prefix}|{day.isoformat()}|{province}|{ward}"
        dims = {"day": day.isoformat(), "province": province, "ward": ward, "measure": measure}
        atoms[atom] = (dims, atoms.get(atom, (dims, 0))[1] + n)

    for b in declarations:
        if b.symptoms:
            add("symptomatic", b.day, b.province, b.ward, b.count)
    for c in cases:
        add("cases", c.day, c.province, c.ward, c.count)
    for f in followed:
        for day in f.followed_on():
            add("monitoring", day, f.province, f.ward, f.count)
    return atoms


def rounded(atoms: MapAtoms, rounding: Rounding) -> dict[str, int]:
    return {atom: rounding.publish(atom, n) for atom, (_, n) in atoms.items()}
