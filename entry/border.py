"""At the border: a border checkpoint's scan of an entry declaration (by its QR token or
its typed short code), answered allow or refer with the minimum staff need to match the
traveller, and the hand-over to monitoring that the first scan starts.

Posting the form is `entry.service`; `entry.handover` is `db migrate`'s step for arrivals
handed over before the hand-over carried the traveller's contact.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import orjson

from checkpoints.repository import checkpoint as checkpoint_record
from core.clock import local_day, new_id, utcnow
from core.context import Context
from core.errors import Forbidden, NotFound
from core.i18n import Text
from core.principals import Principal
from core.storage import Document, DuplicateKey, Insert, Operation
from entry import repository
from entry.errors import NotABorderCheckpoint, NotAnEntryCode, UnknownEntryCode
from entry.repository import PEOPLE_CONTEXT, STREET_CONTEXT
from entry.schemas import EntryScanIn, EntryScanOut, TravellerView
from entry.service import code_hash, normalise_code, token_expiry
from monitoring.service import arrival_episode_ops
from qr.service import identify_entry
from qr.tokens import TokenRejected
from reports.counters import count_checkpoint_event

_REFER = Text("Refer to the medical check", "Chuyển kiểm tra y tế")
_ALLOW = Text("Green: may enter", "Xanh: được nhập cảnh")


async def border_scan(
    ctx: Context, staff: Principal, checkpoint_id: str, scan: EntryScanIn, *, lang: str
) -> EntryScanOut:
    """Find the declaration by QR token or typed code, answer allow or refer with the
    minimum staff need to match the traveller, mark the arrival, log the scan."""
    if checkpoint_id not in staff.checkpoints:
        raise Forbidden()
    checkpoint = await checkpoint_record(ctx.store, checkpoint_id)
    if checkpoint is None:
        raise NotFound()
    if checkpoint.get("kind") != "border":
        raise NotABorderCheckpoint()
    now = utcnow()
    try:
        found = await _scanned_declaration(ctx, scan, now=now)
    except NotAnEntryCode:
        await ctx.store.write([_scan_log(ctx, checkpoint_id, staff, None, "wrong_type", now)])
        raise
    if found is None:
        await ctx.store.write([_scan_log(ctx, checkpoint_id, staff, None, "not_found", now)])
        raise UnknownEntryCode()
    status = str(found["status"])
    decision = "allow" if status == "green" else "refer"
    people = orjson.loads(ctx.cipher.decrypt(found["people_enc"], context=PEOPLE_CONTEXT))
    traveller = people[0]
    arrived_at: datetime = found.get("arrived_at") or now
    ops: list[Operation] = [
        _scan_log(ctx, checkpoint_id, staff, str(found["_id"]), decision, now),
        *ctx.counters.steps(
            [count_checkpoint_event(local_day(now), checkpoint_id, "entry_scan", decision)],
            now=now,
        ),
    ]
    if found.get("arrived_at") is None:
        ops.append(repository.mark_arrived(str(found["_id"]), checkpoint_id=checkpoint_id, now=now))
        handover = await hand_over(ctx, found, now=now)
        try:
            await ctx.store.write(ops + handover)
        except DuplicateKey:
            if not handover:
                raise
            # Another scan of the same arrival opened its episode first: one is enough.
            await ctx.store.write(ops)
    else:
        await ctx.store.write(ops)
    reasons = [r for r in found.get("reasons", []) if r.get("status") == status]
    because = Text(reasons[0]["en"], reasons[0]["vi"]).pick(lang) if reasons else ""
    verdict = (_ALLOW if decision == "allow" else _REFER).pick(lang)
    return EntryScanOut(
        decision=decision,
        status=status,
        reason=f"{verdict}: {because}" if decision == "refer" and because else verdict,
        traveller=TravellerView(
            full_name=traveller["full_name"],
            nationality=traveller["nationality"],
            passport_last4=traveller["passport_number"][-4:],
        ),
        companions=int(found.get("companions", 0)),
        arrived_at=arrived_at,
    )


async def hand_over(ctx: Context, found: Document, *, now: datetime) -> list[Operation]:
    """The first scan at the border makes a posted form an arrival: a non-green one is
    handed over to monitoring then, not when the form was posted, which anyone can do
    with anyone's passport number."""
    stay = found["stay"]
    return await arrival_episode_ops(
        ctx,
        str(found["_id"]),
        status=str(found["status"]),
        province=int(stay["province"]),
        ward=int(stay["ward"]),
        street=ctx.cipher.decrypt(stay["street_enc"], context=STREET_CONTEXT),
        arrival_day=date.fromisoformat(found["arrival_date"]),
        now=now,
    )


async def _scanned_declaration(
    ctx: Context, scan: EntryScanIn, *, now: datetime
) -> Document | None:
    """The live declaration a token or a typed code names; None when there is none (an
    unknown, forged, expired or revoked code). NotAnEntryCode for a code of another kind."""
    if scan.token is not None:
        try:
            identified = await identify_entry(ctx, scan.token.strip(), now=now)
        except TokenRejected as rejected:
            if rejected.reason == "wrong_type":
                raise NotAnEntryCode(rejected.shown) from None
            return None
        if identified.revoked:
            return None
        return await repository.declaration(ctx.store, identified.person_id)
    code = normalise_code(scan.code or "")
    if code is None:
        return None
    found = await repository.declaration_by_code(ctx.store, code_hash(ctx, code))
    if found is None or token_expiry(date.fromisoformat(found["arrival_date"])) < now:
        return None
    return found


def _scan_log(
    ctx: Context,
    checkpoint_id: str,
    staff: Principal,
    entry_id: str | None,
    decision: str,
    now: datetime,
) -> Insert:
    return repository.insert_scan(
        {
            "_id": new_id("esc"),
            "checkpoint_id": checkpoint_id,
            "staff_id": staff.subject,
            "entry_id": entry_id,
            "decision": decision,
            "at": now,
            "expires_at": now + timedelta(days=ctx.settings.retention_days),
        }
    )
