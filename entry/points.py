"""Points of entry: the shipped list (points.json, its source named there) with the gates
an admin added or retired on top."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from core.clock import utcnow
from core.context import Context
from core.errors import NotFound
from core.principals import Principal
from entry import repository
from reports.audit import audited_change

_DATA = Path(__file__).with_name("points.json")


@dataclass(frozen=True)
class Point:
    id: str
    name: str
    name_en: str
    kind: str
    province: int

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "name_en": self.name_en,
            "kind": self.kind,
            "province": self.province,
        }


@cache
def _shipped() -> tuple[str, dict[str, Point]]:
    data = json.loads(_DATA.read_text(encoding="utf-8"))
    points = {p["id"]: Point(**p) for p in data["points"]}
    return str(data["source"]), points


def source() -> str:
    return _shipped()[0]


def _merged(shipped: Point | None, added: dict[str, Any] | None) -> Point | None:
    """A gate as it stands now: an admin's record overrides the shipped one; retired is gone."""
    if added is None:
        return shipped
    if added.get("retired"):
        return None
    return Point(
        id=str(added["_id"]),
        name=str(added["name"]),
        name_en=str(added["name_en"]),
        kind=str(added["kind"]),
        province=int(added["province"]),
    )


async def open_points(ctx: Context) -> list[Point]:
    shipped = dict(_shipped()[1])
    added = {str(doc["_id"]): doc for doc in await repository.added_points(ctx.store)}
    points = [_merged(shipped.get(pid), added.get(pid)) for pid in {*shipped, *added}]
    return sorted((p for p in points if p is not None), key=lambda p: (p.kind, p.province, p.id))


async def open_point(ctx: Context, point_id: str) -> Point | None:
    """One primary-key read: the submit path's check that the gate is open."""
    shipped = _shipped()[1].get(point_id)
    return _merged(shipped, await repository.added_point(ctx.store, point_id))


async def add_point(ctx: Context, fields: dict[str, Any], *, by: Principal) -> Point:
    point_id = str(fields["id"])
    values = {k: fields[k] for k in ("name", "name_en", "kind", "province")}
    now = utcnow()
    audit = audited_change(by, "entry_point.put", values, now=now, target=point_id)
    await ctx.store.write(
        [repository.save_point(point_id, {**values, "retired": False}, now=now), audit]
    )
    return Point(id=point_id, **values)


async def retire_point(ctx: Context, point_id: str, *, by: Principal) -> None:
    if await open_point(ctx, point_id) is None:
        raise NotFound()
    shipped = _shipped()[1].get(point_id)
    base = shipped.view() if shipped is not None else {}
    added = await repository.added_point(ctx.store, point_id)
    fields = {
        k: v for k, v in (added or base).items() if k in ("name", "name_en", "kind", "province")
    }
    now = utcnow()
    audit = audited_change(by, "entry_point.retire", {}, now=now, target=point_id)
    await ctx.store.write(
        [repository.save_point(point_id, {**fields, "retired": True}, now=now), audit]
    )
