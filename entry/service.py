"""Entry declarations: posted without an account, judged by the ministry's rules, signed
into a QR token and a short code (and what a code is: its alphabet, how it is typed, how
long it works). Scanning them at the border, and the hand-over to monitoring that starts,
is `entry.border`.

Privacy: names, passport numbers, phones, e-mails, birth years and the street are stored
only encrypted; the passport and the short code are found by keyed hash. What stays in
clear is what reports and monitoring count by: nationality, point of entry, arrival date,
the stay's province and ward, symptoms and exposure answers, the status.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import orjson

from core.clock import VIETNAM, local_day, new_id, utcnow
from core.context import Context
from core.errors import IdempotencyKeyReused, ValidationFailed
from core.idempotency import (
    ANSWER_HOURS,
    IDEMPOTENCY_KEY,
    idempotency_hashes,
    idempotency_record,
    insert_idempotency_record,
)
from core.storage import Document, DuplicateKey, Operation, StorageDown
from declarations.rules import Facts, Outcome, rules_for
from entry import repository
from entry.errors import (
    EntryContended,
    EntryKeyInvalid,
    EntryKeyMissing,
)
from entry.i18n import message
from entry.points import open_point
from entry.repository import PEOPLE_CONTEXT, STREET_CONTEXT
from entry.schemas import (
    EntryDeclarationIn,
    EntryDeclarationOut,
    EntryReason,
)
from monitoring.service import Traveller, arrival_ops
from qr.signing import sign_entry_token
from reports.counters import count_arrivals

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0/O, 1/I/L, U: read aloud without doubt
CODE_LENGTH = 8
CODE_CONTEXT = "entry.code"
PASSPORT_CONTEXT = "entry.passport"
# After the arrival day the code still works this long (a delayed flight, a late scan).
TOKEN_GRACE = timedelta(hours=36)
_ATTEMPTS = 4


@dataclass(frozen=True)
class SubmitResult:
    body: bytes
    status_code: int
    replayed: bool


def new_code() -> str:
    chars = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{chars[:4]}-{chars[4:]}"


def normalise_code(text: str) -> str | None:
    """`en7k 3qf9`, `EN7K3QF9` and `EN7K-3QF9` are one code; None when it cannot be one."""
    chars = "".join(ch for ch in text.upper() if ch not in " -")
    if len(chars) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in chars):
        return None
    return f"{chars[:4]}-{chars[4:]}"


def code_hash(ctx: Context, code: str) -> str:
    return ctx.cipher.lookup_hash(code, context=CODE_CONTEXT)


def passport_hash(ctx: Context, passport: str) -> str:
    return ctx.cipher.lookup_hash(passport, context=PASSPORT_CONTEXT)


def entry_facts(body: EntryDeclarationIn, *, today: date) -> Facts:
    """What the ministry's rules look at, for the whole travelling group: every country on
    the way counts (departure, transit, the last 14 days), and the group's age is its
    oldest member's (the most vulnerable one drives follow-up)."""
    trip = body.trip
    years = [body.traveller.birth_year, *(c.birth_year for c in body.companions)]
    return Facts(
        symptoms=frozenset(body.symptoms),
        exposures=frozenset(k for k, v in body.exposure.model_dump().items() if v),
        chronic_conditions=frozenset(),
        countries=frozenset(
            [trip.departure_country, *trip.transit_countries, *trip.countries_last_14_days]
        ),
        trip_provinces=frozenset(),
        home_province=body.stay.province,
        pregnant=False,
        age=today.year - min(years),
        form="entry",
    )


def _check_key(key: str | None) -> str:
    if not key:
        raise EntryKeyMissing()
    if not IDEMPOTENCY_KEY.match(key):
        raise EntryKeyInvalid()
    return key


async def submit(
    ctx: Context,
    body: EntryDeclarationIn,
    idempotency_key: str | None,
    *,
    address: str,
    lang: str,
    now: datetime | None = None,
) -> SubmitResult:
    """Store one entry declaration, or replay the first answer to a repeated key."""
    key = _check_key(idempotency_key)
    now = now or utcnow()
    record_id, body_hash = idempotency_hashes(ctx, f"entry\x00{key}", body)
    # A retry from a phone that lost the answer is read first, so it is never rate-limited.
    stored = await idempotency_record(ctx.store, record_id)
    if stored is not None:
        return _replay(stored, body_hash)
    settings = ctx.settings
    address_bucket = ctx.cipher.lookup_hash(address, context="entry.address")
    passport = passport_hash(ctx, body.traveller.passport_number)
    await ctx.limiter.hit(
        f"entry:a:{address_bucket}", limit=settings.entry_per_address_per_hour, window_seconds=3600
    )
    # Per passport *from this address*: a passport number is no secret, so a count of the
    # passport alone let anyone use up its day and refuse the real holder's form.
    await ctx.limiter.hit(
        f"entry:p:{passport}:{address_bucket}",
        limit=settings.entry_per_passport_per_day,
        window_seconds=86_400,
    )
    if await open_point(ctx, body.trip.point_of_entry) is None:
        raise ValidationFailed.of_field("trip.point_of_entry", message("point_of_entry"))
    outcome = rules_for(ctx).judge(entry_facts(body, today=local_day(now)))
    for _ in range(_ATTEMPTS):
        try:
            return await _store(ctx, body, outcome, record_id, body_hash, passport, now, lang)
        except DuplicateKey as exc:
            if exc.collection == "idempotency":  # the same key raced itself: replay the winner
                stored = await idempotency_record(ctx.store, record_id)
                if stored is not None:
                    return _replay(stored, body_hash)
            # Otherwise two new codes collided (1 in 6·10¹¹): draw again.
        except StorageDown:
            stored = await idempotency_record(ctx.store, record_id)
            if stored is None:
                raise
            return _replay(stored, body_hash)
        await asyncio.sleep(random.uniform(0, 0.005))
    raise EntryContended()


def _replay(stored: Document, body_hash: str) -> SubmitResult:
    if stored["body_hash"] != body_hash:
        raise IdempotencyKeyReused()
    return SubmitResult(str(stored["response"]).encode(), int(stored["status_code"]), True)


def token_expiry(arrival: date) -> datetime:
    """The end of the arrival day in Vietnam, plus the grace."""
    end_of_day = datetime.combine(arrival + timedelta(days=1), time(), tzinfo=VIETNAM)
    return end_of_day + TOKEN_GRACE


def _people(body: EntryDeclarationIn) -> list[dict[str, Any]]:
    """Everyone on the form, as encrypted together (one ciphertext, read as one)."""
    traveller = body.traveller.model_dump(mode="json")
    return [traveller, *(c.model_dump(mode="json") for c in body.companions)]


async def _store(
    ctx: Context,
    body: EntryDeclarationIn,
    outcome: Outcome,
    record_id: str,
    body_hash: str,
    passport: str,
    now: datetime,
    lang: str,
) -> SubmitResult:
    entry_id = new_id("ent")
    code = new_code()
    status = outcome.status
    expires = max(token_expiry(body.trip.arrival_date), now + timedelta(hours=1))
    issued, token_record = await sign_entry_token(ctx, entry_id, status, now=now, expires=expires)
    response = EntryDeclarationOut(
        id=entry_id,
        code=code,
        status=status,
        reasons=[
            EntryReason(code=r.code, status=r.status, message=r.text(lang)) for r in outcome.reasons
        ],
        token=issued.token,
        expires_at=issued.exp,
        companions=len(body.companions),
        created_at=now,
    )
    raw = response.model_dump_json().encode()
    retention = now + timedelta(days=ctx.settings.retention_days)
    trip = body.trip
    document = {
        "_id": entry_id,
        "code_hash": code_hash(ctx, code),
        "passport_hash": passport,
        "people_enc": ctx.cipher.encrypt(
            orjson.dumps(_people(body)).decode(), context=PEOPLE_CONTEXT
        ),
        "companions": len(body.companions),
        "nationalities": sorted({p["nationality"] for p in _people(body)}),
        "point_of_entry": trip.point_of_entry,
        "arrival_date": trip.arrival_date.isoformat(),
        "transport_mode": trip.transport.mode,
        "countries": sorted(entry_facts(body, today=local_day(now)).countries),
        "stay": {
            "province": body.stay.province,
            "ward": body.stay.ward,
            "street_enc": ctx.cipher.encrypt(body.stay.street, context=STREET_CONTEXT),
            "until": body.stay.until.isoformat() if body.stay.until else None,
        },
        "symptoms": list(body.symptoms),
        "exposure": body.exposure.model_dump(),
        "status": status,
        "reasons": [r.to_document() for r in outcome.reasons],
        "rules_version": outcome.rules_version,
        "token_jti": issued.jti,
        "arrived_at": None,
        "created_at": now,
        "expires_at": retention,
    }
    ops: list[Operation] = [
        insert_idempotency_record(
            {
                "_id": record_id,
                "kind": "entry_declaration",
                "body_hash": body_hash,
                "status_code": 201,
                "response": raw.decode(),
                "created_at": now,
                "expires_at": now + timedelta(hours=ANSWER_HOURS),
            }
        ),
        repository.insert_declaration(document),
        token_record,
        *ctx.counters.steps(
            count_arrivals(
                trip.arrival_date,
                trip.point_of_entry,
                [p["nationality"] for p in _people(body)],
                status,
            ),
            now=now,
        ),
    ]
    ops += arrival_ops(
        ctx,
        entry_id,
        status=status,
        province=body.stay.province,
        ward=body.stay.ward,
        street=body.stay.street,
        traveller=Traveller(
            body.traveller.full_name,
            body.traveller.phone,
            body.traveller.email,
            body.traveller.birth_year,
        ),
        now=now,
        expires_at=retention,
    )
    await ctx.store.write(ops)
    return SubmitResult(raw, 201, False)
