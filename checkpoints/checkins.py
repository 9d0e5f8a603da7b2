"""Citizen check-ins: a citizen scans a venue's poster and a visit is recorded, or the
latest one extended. The citizen's write, apart from the staff scan (`checkpoints.service`),
the read path that must stay light.
"""

from __future__ import annotations

from datetime import timedelta

from checkpoints import repository
from checkpoints.schemas import Visit
from checkpoints.service import REASONS, UNREADABLE, retention
from core.clock import local_day, new_id, utcnow
from core.context import Context
from core.errors import AppError, NotFound, Overloaded
from core.i18n import Text
from core.principals import Principal
from core.storage import DuplicateKey, Operation, PreconditionFailed
from people.repository import get_person, person_held
from qr.tokens import TokenRejected, verify_venue_token
from reports.counters import count_checkpoint_event

# A check-in expects a venue poster: the same reason codes, told from the citizen's side.
_NOT_A_VENUE_CODE = Text("Not a venue code", "Không phải mã địa điểm")
_CHECKIN_REASONS: dict[str, Text] = {
    **REASONS,
    "wrong_type": _NOT_A_VENUE_CODE,
    "wrong_audience": _NOT_A_VENUE_CODE,
}
_SHOWN_AT_CHECKIN: dict[str, Text] = {
    "person": Text("Personal code, not a venue code", "Mã cá nhân, không phải mã địa điểm"),
    "entry": Text(
        "Entry declaration code, not a venue code", "Mã nhập cảnh, không phải mã địa điểm"
    ),
}


def checkin_reason_text(code: str, shown: str | None = None) -> Text:
    """What a check-in shows for a reason code: as `service.reason_text`, told from the
    citizen's side, since a check-in expects a venue poster."""
    return _SHOWN_AT_CHECKIN.get(shown or "") or _CHECKIN_REASONS.get(code, UNREADABLE)


class InvalidVenueToken(AppError):
    """A check-in with a venue code that fails verification; `errors` names the reason."""

    status = 400
    code = "invalid_venue_token"
    title = Text("Invalid venue code", "Mã địa điểm không hợp lệ")
    detail = Text(
        "Scan the venue's poster again; it may be damaged, expired or not a Khaibao code.",
        "Hãy quét lại mã của địa điểm; mã có thể hỏng, hết hạn hoặc không phải mã Khaibao.",
    )

    def __init__(self, reason_code: str, lang: str, shown: str | None = None) -> None:
        message = checkin_reason_text(reason_code, shown).pick(lang)
        super().__init__(errors=[{"field": "venue_token", "code": reason_code, "message": message}])


class CheckinContended(Overloaded):
    code = "checkin_contended"
    title = Text("Try again", "Vui lòng thử lại")
    detail = Text(
        "Several check-ins for this person arrived at once. Send it again.",
        "Nhiều lượt check-in của người này đến cùng lúc. Vui lòng gửi lại.",
    )


async def check_in(
    ctx: Context, citizen: Principal, venue_token: str, person_id: str, *, lang: str
) -> Visit:
    """A visit at the venue on the poster. Checking in again within the stay window extends
    the latest visit (same id) instead of opening another, so a retried request is harmless;
    only a new visit is counted in the reports."""
    person = await get_person(ctx.store, person_id)
    if person is None or person.get("account_id") != citizen.subject:
        raise NotFound()
    now = utcnow()
    try:
        claims = await verify_venue_token(ctx, venue_token, now=now)
    except TokenRejected as rejected:
        raise InvalidVenueToken(rejected.reason, lang, rejected.shown) from None
    checkpoint_id = str(claims["vid"])
    if await repository.checkpoint(ctx.store, checkpoint_id) is None:
        raise InvalidVenueToken("unknown_venue", lang)
    stay = timedelta(minutes=ctx.settings.stay_window_minutes)
    longest = timedelta(hours=ctx.settings.visit_max_hours)
    expires_at = now + retention(ctx)
    for _ in range(5):
        latest = await repository.latest_visit(ctx.store, person_id, checkpoint_id)
        ops: list[Operation]
        # A visit ends `longest` after it began, however often it is extended: tracing finds
        # a venue's visits by arrival time (`repository.checkins_at`).
        extended = (
            latest is not None
            and now - latest["last_seen_at"] <= stay
            and now - latest["arrived_at"] <= longest
        )
        if latest is not None and extended:  # (`latest` repeated for the type checker)
            visit_id, arrived_at = str(latest["visit_id"]), latest["arrived_at"]
            ops = [
                repository.extend_visit(visit_id, now=now, expires_at=expires_at),
                repository.extend_latest_visit(latest, now=now, stay=stay),
            ]
        else:
            visit_id, arrived_at = new_id("chk"), now
            visit = {
                "_id": visit_id,
                "checkpoint_id": checkpoint_id,
                "person_id": person_id,
                "arrived_at": now,
                "last_seen_at": now,
                "expires_at": expires_at,
            }
            pointer = (
                repository.start_latest_visit(
                    person_id, checkpoint_id, visit_id, now=now, stay=stay
                )
                if latest is None
                else repository.replace_latest_visit(latest, visit_id=visit_id, now=now, stay=stay)
            )
            ops = [
                repository.insert_checkin(visit),
                pointer,
                *ctx.counters.steps(
                    [count_checkpoint_event(local_day(now), checkpoint_id, "checkin", "checkin")],
                    now=now,
                ),
            ]
        # The visit names the person: only while their erasure has not begun.
        ops.append(person_held(person_id))
        try:
            await ctx.store.write(ops)
        except PreconditionFailed as failed:
            if failed.collection == "people":  # DELETE /v1/people/{id} began meanwhile
                raise NotFound() from None
            continue  # a twin request moved the pointer first: read it again
        except DuplicateKey:
            continue
        return Visit(
            id=visit_id,
            checkpoint_id=checkpoint_id,
            person_id=person_id,
            arrived_at=arrived_at,
            last_seen_at=now,
            until=now + stay,
            extended=extended,
        )
    raise CheckinContended()
