"""Seed declarations for report tests through the real declaration service, so the counters
under test are the ones a real POST /v1/declarations writes (on a past day when asked: the
service takes `now`)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from accounts.repository import insert_account
from core.clock import VIETNAM, local_day, utcnow
from core.context import Context
from core.principals import Principal
from declarations.schemas import DeclarationIn
from declarations.service import submit_declaration

if TYPE_CHECKING:
    from reports.suppression import Rounding

HA_NOI, HO_CHI_MINH, DA_NANG = 1, 79, 48
HOAN_KIEM, BA_DINH = 70, 4  # wards of Hà Nội
VUNG_TAU = 26506  # a ward of Thành phố Hồ Chí Minh since 2025
HAI_CHAU = 20242  # a ward of Đà Nẵng

_serial = itertools.count(1)


@dataclass(frozen=True)
class Batch:
    """`count` declarations with the same day, place, status and symptoms."""

    day: date
    province: int
    ward: int
    status: str
    symptoms: tuple[str, ...] = ()
    count: int = 1


def today() -> date:
    return local_day(utcnow())


def moment_on(day: date) -> datetime:
    """Noon in Vietnam on `day`, or now for today (never a moment in the future)."""
    if day >= today():
        return utcnow()
    return datetime.combine(day, time(12), tzinfo=VIETNAM).astimezone(UTC)


def declaration_body(batch: Batch, serial: int) -> DeclarationIn:
    """A form whose assessment under the default rules is `batch.status`: red through contact
    with a confirmed case, yellow through symptoms (or an affected area when there are none)."""
    if batch.status == "green" and batch.symptoms:
        raise ValueError("a declaration with symptoms is never green")
    exposure = {
        "confirmed_case": batch.status == "red",
        "from_affected_area": batch.status == "yellow" and not batch.symptoms,
    }
    return DeclarationIn.model_validate(
        {
            "person": {
                "full_name": "Nguyễn Thị Lan",
                "id_number": f"{serial:012d}",
                "birth_year": 1990,
                "gender": "female",
                "phone": "+84912345678",
            },
            "address": {"province": batch.province, "ward": batch.ward, "street": "12 Tràng Tiền"},
            "symptoms": list(batch.symptoms),
            "exposure": exposure,
        },
        context={"today": batch.day},
    )


async def seed(ctx: Context, batches: Iterable[Batch], *, concurrency: int = 16) -> int:
    """Submit every declaration of `batches`, each from its own citizen account; returns how
    many were stored. Checks that the service assessed each one as the batch says."""
    jobs: list[tuple[Batch, int]] = [
        (batch, next(_serial)) for batch in batches for _ in range(batch.count)
    ]

    async def one(batch: Batch, serial: int) -> None:
        result = await submit_declaration(
            ctx,
            Principal(subject=_account_id(serial), role="citizen"),
            declaration_body(batch, serial),
            f"seed-{serial}",
            now=moment_on(batch.day),
        )
        assert result.declaration.status == batch.status, (batch, result.declaration)

    for start in range(0, len(jobs), concurrency):
        chunk = jobs[start : start + concurrency]
        # Accounts that exist, as a signed-in phone's do: the service refuses a new person
        # to an account that is gone (erased while its access token still runs).
        await ctx.store.write([insert_account(_account(serial)) for _, serial in chunk])
        await asyncio.gather(*(one(b, s) for b, s in chunk))
    return len(jobs)


def _account_id(serial: int) -> str:
    return f"acc_seed{serial:08d}"


def _account(serial: int) -> dict[str, Any]:
    """A citizen account without a phone: nothing is ever sent to it."""
    return {"_id": _account_id(serial), "phone_hash": f"seed{serial:08d}", "created_at": utcnow()}


def days_ago(n: int) -> date:
    return today() - timedelta(days=n)


def standard_batches() -> Sequence[Batch]:
    """Three provinces over two ended days and today (49 declarations). Expected counts are
    spelled out in the tests that use it."""
    d1, d2, d3 = days_ago(3), days_ago(2), today()
    return (
        Batch(d1, HA_NOI, HOAN_KIEM, "green", count=6),
        Batch(d1, HA_NOI, HOAN_KIEM, "yellow", ("fever",), count=5),
        Batch(d1, HA_NOI, HOAN_KIEM, "red", ("cough",), count=2),
        Batch(d1, HA_NOI, BA_DINH, "green", count=4),
        Batch(d2, HA_NOI, HOAN_KIEM, "green", count=7),
        Batch(d2, HA_NOI, HOAN_KIEM, "red", ("fever", "cough"), count=3),
        Batch(d2, HO_CHI_MINH, VUNG_TAU, "green", count=8),
        Batch(d2, HO_CHI_MINH, VUNG_TAU, "yellow", ("fever",), count=6),
        Batch(d2, DA_NANG, HAI_CHAU, "yellow", ("sore_throat",), count=3),
        Batch(d3, HA_NOI, HOAN_KIEM, "green", count=5),
    )


# -- what the reports should publish, worked out from the batches --------------------------

Atoms = dict[str, tuple[dict[str, Any], int]]  # counter id -> (its dimensions, true count)


def atoms_of(batches: Iterable[Batch], *, symptoms: bool = False) -> Atoms:
    """The counter cells the batches fill, as the reports domain names them: one per day ×
    place × status (× symptom)."""
    found: Atoms = {}
    for b in batches:
        base = {"day": b.day.isoformat(), "province": b.province, "ward": b.ward}
        cells = (
            [(f"sym|{b.day}|{b.province}|{b.ward}|{b.status}|{s}", s) for s in set(b.symptoms)]
            if symptoms
            else [(f"decl|{b.day}|{b.province}|{b.ward}|{b.status}", None)]
        )
        for atom, symptom in cells:
            dims = {**base, "status": b.status, **({"symptom": symptom} if symptom else {})}
            found[atom] = (dims, found.get(atom, (dims, 0))[1] + b.count)
    return found


def published_table(
    batches: Iterable[Batch],
    rounding: Rounding,
    threshold: int,
    group_by: Sequence[str],
    *,
    first: date,
    last: date,
    province: int | None = None,
) -> dict[tuple[Any, ...], int | None]:
    """Each non-empty group's published count (None when suppressed): the sum of its atoms'
    rounded counts, as SECURITY.md describes the method."""
    sums: dict[tuple[Any, ...], int] = {}
    for atom, (dims, n) in atoms_of(batches, symptoms="symptom" in group_by).items():
        if not first.isoformat() <= dims["day"] <= last.isoformat():
            continue
        if province is not None and dims["province"] != province:
            continue
        key = tuple(dims[d] for d in group_by)
        sums[key] = sums.get(key, 0) + rounding.publish(atom, n)
    return {key: (p if p >= threshold else None) for key, p in sums.items()}
