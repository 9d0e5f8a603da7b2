"""Checkpoints: venues and their posters, staff scans of personal codes. Citizen check-ins
at a venue's poster are in `checkpoints.checkins`.

The scan is the hot read path (a receptionist scans dozens of codes an hour, a city has
hundreds of thousands of scan points): signature with cached keys, then the token record
and the person by primary key, then one atomic write of the scan and its counter. It never
reads declarations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from checkpoints import repository
from checkpoints.schemas import CreatedCheckpoint, NewCheckpoint, ScanRequest, ScanResult
from core.clock import local_day, new_id, utcnow
from core.context import Context
from core.errors import Forbidden, NotFound
from core.i18n import Text
from core.idempotency import first_answer, keep_answer, retry_of, winner_of
from core.logging import log_event
from core.principals import Principal
from core.storage import DuplicateKey, Operation
from declarations.rules import rules_for
from people.repository import get_person
from qr import service as qr_service
from qr.keys import key_ring
from qr.signing import sign_venue_token
from qr.tokens import TokenRejected
from reports.audit import audited_change
from reports.counters import count_checkpoint_event

log = logging.getLogger(__name__)

# A poster is printed again when less than this share of its life is left, or its key went.
_RENEW_VENUE_WHILE_LEFT = 0.1


def retention(ctx: Context) -> timedelta:
    """Scans and check-ins are kept for the retention period, never less than tracing
    looks back."""
    return timedelta(days=max(ctx.settings.retention_days, ctx.settings.exposure_lookback_days))


# -- venues ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VenuePoster:
    checkpoint: dict[str, Any]
    token: str
    jti: str
    expires_at: datetime


@dataclass(frozen=True)
class Registered:
    """The answer to `POST /v1/checkpoints`, and whether it is the first answer to an
    earlier request with the same Idempotency-Key, sent again."""

    checkpoint: CreatedCheckpoint
    replayed: bool


async def create_checkpoint(
    ctx: Context, admin: Principal, body: NewCheckpoint, *, idempotency_key: str | None = None
) -> Registered:
    """A checkpoint and its signed poster. With an Idempotency-Key (the admin's own), a
    request sent again gets the first answer (the same id and poster) and registers
    nothing more: tracing groups visits by checkpoint, so a venue registered twice would
    split its check-ins between two posters that are never traced together."""
    retry = retry_of(ctx, "checkpoint", admin, idempotency_key, body)
    first = await first_answer(ctx, retry, CreatedCheckpoint)
    if first is not None:
        return Registered(first, replayed=True)
    now = utcnow()
    checkpoint_id = new_id("cp")
    poster, record = await sign_venue_token(ctx, checkpoint_id, body.kind, now=now)
    document = {
        "_id": checkpoint_id,
        "name": body.name,
        "province": body.province,
        "ward": body.ward,
        "kind": body.kind,
        "venue_token": poster.token,
        "venue_jti": poster.jti,
        "venue_kid": poster.kid,
        "venue_token_exp": poster.exp,
        "created_by": admin.subject,
        "created_at": now,
    }
    qr_url = f"/v1/checkpoints/{checkpoint_id}/qr"
    created = CreatedCheckpoint(
        id=checkpoint_id,
        **body.model_dump(),
        venue_token=poster.token,
        venue_token_expires_at=poster.exp,
        venue_qr_svg_url=qr_url + "?format=svg",
        venue_qr_png_url=qr_url + "?format=png",
    )
    # Audited in the same batch, as every admin change: no entry, no checkpoint.
    params = {"province": body.province, "ward": body.ward, "kind": body.kind}
    audit = audited_change(admin, "checkpoint.create", params, now=now, target=checkpoint_id)
    ops: list[Operation] = [repository.insert_checkpoint(document), record, audit]
    if retry is not None:
        ops.insert(0, keep_answer(retry, "checkpoint", created, now=now))
    try:
        await ctx.store.write(ops)
    except DuplicateKey as clash:
        # The same key sent twice at once: one checkpoint, the winner's.
        return Registered(await winner_of(ctx, retry, clash, CreatedCheckpoint), replayed=True)
    log_event(log, "checkpoint created", checkpoint_id=checkpoint_id, kind=body.kind)
    return Registered(created, replayed=False)


def _may_serve(caller: Principal, checkpoint_id: str) -> bool:
    return caller.role == "admin" or (
        caller.role == "checkpoint_staff" and checkpoint_id in caller.checkpoints
    )


async def venue_poster(ctx: Context, caller: Principal, checkpoint_id: str) -> VenuePoster:
    """The poster to print: the stored venue code, renewed near its expiry or when the key
    that signed it was removed (a compromised key ends its posters too)."""
    if not _may_serve(caller, checkpoint_id):
        raise Forbidden()
    checkpoint = await repository.checkpoint(ctx.store, checkpoint_id)
    if checkpoint is None:
        raise NotFound()
    now = utcnow()
    life = timedelta(days=ctx.settings.venue_token_days)
    expires_at: datetime = checkpoint["venue_token_exp"]
    key = (await key_ring(ctx, fresh=True)).keys.get(str(checkpoint["venue_kid"]))
    if expires_at - now > life * _RENEW_VENUE_WHILE_LEFT and key is not None and key.usable(now):
        return VenuePoster(
            checkpoint, checkpoint["venue_token"], checkpoint["venue_jti"], expires_at
        )
    poster, record = await sign_venue_token(ctx, checkpoint_id, checkpoint["kind"], now=now)
    renew = repository.replace_venue_token(
        checkpoint_id, token=poster.token, jti=poster.jti, kid=poster.kid, exp=poster.exp
    )
    await ctx.store.write([renew, record])
    return VenuePoster(checkpoint, poster.token, poster.jti, poster.exp)


# -- scans -----------------------------------------------------------------------------------

# What a scanner shows: one short reason per stable reason code, in Vietnamese and English.
# Staff scan dozens of codes an hour; the reason must read at a glance.
_NOT_OURS = Text("Not a Khaibao code", "Không phải mã Khaibao")
UNREADABLE = Text("Unreadable code", "Mã không đọc được")

REASONS: dict[str, Text] = {
    "ok": Text("Green: allowed", "Xanh: được vào"),
    "allowed_yellow": Text("Yellow: allowed here", "Vàng: được vào theo quy định"),
    "allowed_red": Text("Red: allowed here", "Đỏ: được vào theo quy định"),
    "status_yellow": Text("Yellow status", "Trạng thái vàng"),
    "status_red": Text("Red status", "Trạng thái đỏ"),
    "revoked": Text("Code revoked", "Mã đã bị thu hồi"),
    "expired": Text("Code expired", "Mã đã hết hạn"),
    "not_yet_valid": Text("Code not valid yet", "Mã chưa có hiệu lực"),
    "bad_signature": Text("Forged or altered code", "Mã giả hoặc bị sửa"),
    "unknown_kid": Text("Unknown signing key", "Khóa ký không xác định"),
    "key_revoked": Text("Signing key withdrawn", "Khóa ký đã bị thu hồi"),
    "unsupported_alg": _NOT_OURS,
    "forbidden_header": _NOT_OURS,
    "wrong_issuer": _NOT_OURS,
    "wrong_type": Text("Not a personal code", "Không phải mã cá nhân"),
    "wrong_audience": Text("Not a personal code", "Không phải mã cá nhân"),
    "malformed": UNREADABLE,
    "too_large": UNREADABLE,
    "missing_claim": Text("Incomplete code", "Mã thiếu thông tin"),
    "unknown_token": Text("Unknown code", "Mã không xác định"),
    "unknown_person": Text("Unknown person", "Không rõ người dùng"),
    "unknown_venue": Text("Unknown venue", "Địa điểm không xác định"),
}


# A code of another kind shown to a scan (`TokenRejected.shown`): say which, so staff send
# the holder to the right place instead of suspecting a damaged code.
_SHOWN_AT_SCAN: dict[str, Text] = {
    "venue": Text("Venue poster, not a personal code", "Mã địa điểm, không phải mã cá nhân"),
    "entry": Text(
        "Entry declaration code: scan it at border entry",
        "Mã khai báo nhập cảnh: quét tại cửa khẩu",
    ),
}
# The reasons of an `allow`: green, or a status the ministry's rules let in at checkpoints.
ALLOWING_REASONS = frozenset({"ok", "allowed_yellow", "allowed_red"})


def reason_text(code: str, shown: str | None = None) -> Text:
    """What a scan of a personal code shows for a reason code; `shown` names the kind of
    code it was instead (with `wrong_type`)."""
    return _SHOWN_AT_SCAN.get(shown or "") or REASONS.get(code, UNREADABLE)


# Checkpoints are never deleted, so "this one exists" can be remembered for the life of the
# process: the scan path then reads only the token record and the person.
_MAX_KNOWN_CHECKPOINTS = 100_000


class KnownCheckpoints:
    """The ids of checkpoints seen to exist, in the context's caches."""

    def __init__(self) -> None:
        self.ids: set[str] = set()


async def checkpoint_exists(ctx: Context, checkpoint_id: str) -> bool:
    """Whether the checkpoint exists, remembered once seen (certificate scans use it too)."""
    known = ctx.caches.of(KnownCheckpoints).ids
    if checkpoint_id in known:
        return True
    if await repository.checkpoint(ctx.store, checkpoint_id) is None:
        return False
    if len(known) >= _MAX_KNOWN_CHECKPOINTS:
        known.clear()
    known.add(checkpoint_id)
    return True


@dataclass(slots=True)  # not frozen: this is built on every scan (core/storage/port.py)
class Scanned:
    """The answer to a scan, and whether it is the first answer to an earlier request with
    the same Idempotency-Key, sent again."""

    result: ScanResult
    replayed: bool


async def scan(
    ctx: Context,
    staff: Principal,
    checkpoint_id: str,
    body: ScanRequest,
    *,
    lang: str,
    idempotency_key: str | None = None,
) -> Scanned:
    """Allow only a valid, unrevoked code of a person whose status *now* is one the
    ministry's rules let in at checkpoints (`[checkpoints] allow`, default green only).

    With an Idempotency-Key (the staff member's own, per checkpoint), a scan sent again
    gets the first answer and records nothing more. Unlike on other routes, the key is not
    looked up first: its kept answer goes in the scan's own batch and only a clash reads
    it, so a keyed scan costs no extra read, and one without a key nothing at all."""
    if checkpoint_id not in staff.checkpoints:
        raise Forbidden()
    if not await checkpoint_exists(ctx, checkpoint_id):
        raise NotFound()
    now = utcnow()
    person_id: str | None = None
    status: str | None = None
    shown: str | None = None
    try:
        identified = await qr_service.identify(ctx, body.token.strip(), now=now)
        person = await get_person(ctx.store, identified.person_id)
        if person is None:
            raise TokenRejected("unknown_person")
        person_id, status = identified.person_id, str(person["status"])
        if identified.revoked:
            reason_code = "revoked"
        elif status not in rules_for(ctx).checkpoint_allows:
            reason_code = f"status_{status}"
        else:
            reason_code = "ok" if status == "green" else f"allowed_{status}"
    except TokenRejected as rejected:
        reason_code, shown = rejected.reason, rejected.shown
    decision = "allow" if reason_code in ALLOWING_REASONS else "deny"
    record = {
        "_id": new_id("scn"),
        "checkpoint_id": checkpoint_id,
        "staff_id": staff.subject,
        "person_id": person_id,
        "decision": decision,
        "reason_code": reason_code,
        "at": now,
        "expires_at": now + retention(ctx),
    }
    result = ScanResult(
        decision=decision,
        status=status,
        reason=reason_text(reason_code, shown).pick(lang),
        reason_code=reason_code,
    )
    # The checkpoint's counter cell is written by a fold after the commit, not here: every
    # scan at a busy gate would fight over it (reports.folding).
    # Unlike other records naming a person, a scan carries no `person_held`: that would
    # write the person on every scan, the read path that must stay light. A scan that read
    # the person just before their erasure began and commits after it keeps their random id
    # (nothing else of them) until the scan's retention ends.
    ops: list[Operation] = [
        repository.insert_scan(record),
        *ctx.counters.steps(
            [count_checkpoint_event(local_day(now), checkpoint_id, "scan", decision)], now=now
        ),
    ]
    retry = retry_of(ctx, "scan", staff, idempotency_key, body, target=checkpoint_id)
    if retry is not None:
        # It tells the person's status, so their erasure deletes it with their scans.
        ops.insert(
            0, keep_answer(retry, "scan", result, now=now, person_id=person_id, status_code=200)
        )
    try:
        await ctx.store.write(ops)
    except DuplicateKey as clash:
        return Scanned(await winner_of(ctx, retry, clash, ScanResult), replayed=True)
    return Scanned(result, replayed=False)
