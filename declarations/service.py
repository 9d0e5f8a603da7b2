"""Declaring: one atomic write per declaration, exactly once per Idempotency-Key.

A declaration's batch holds the idempotency record, the declaration, the person's insert or
status change, the steps of the report counters (folded into the counters after the commit,
`reports.folding`) and any QR revocations. The idempotency record goes
first and has a unique `_id` (a keyed hash of account and key), so of a retry, or of many
identical requests racing each other, exactly one batch commits; the others fail on that
record, read the winner's stored response and replay it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from accounts.sessions import AccountErased, account_held, ensure_account_exists
from core.clock import local_day, new_id, utcnow
from core.context import Context
from core.errors import IdempotencyKeyReused, RateLimited
from core.idempotency import (
    ANSWER_HOURS,
    IDEMPOTENCY_KEY,
    idempotency_hashes,
    idempotency_record,
    insert_idempotency_record,
)
from core.principals import Principal
from core.ratelimit import DAY, window_of
from core.storage import (
    Document,
    DuplicateKey,
    Operation,
    PreconditionFailed,
    StorageDown,
    Update,
)
from core.validation import ascii_digits
from declarations import repository
from declarations.errors import (
    TOO_OFTEN,
    DeclarationContended,
    IdempotencyKeyInvalid,
    IdempotencyKeyMissing,
    PersonBeingErased,
    SecondAccountHolder,
    TooManyPeople,
)
from declarations.rules import Outcome, Reason, rules_for
from declarations.schemas import (
    DeclarationIn,
    DeclarationOut,
    reason_views,
)
from people import repository as people_repository
from people.repository import (
    HOLD_REASONS,
    HOLDERS,
    HOLDING_SOURCES,
    ID_NUMBER_CONTEXT,
    NAME_CONTEXT,
    PHONE_CONTEXT,
    SEVERITY,
    Status,
    active_hold,
    first_status,
    id_number_hash,
    set_status,
)
from qr.revocations import revoke_live_tokens
from reports.counters import declaration_cell, recount_declaration

log = logging.getLogger(__name__)

# Concurrent declarations for one person each compare-and-set its status; the losers read
# it again. A handful of rounds covers any realistic burst for one person.
_ATTEMPTS = 5


@dataclass(frozen=True)
class SubmitResult:
    """The answer to one declaration: the model, the exact JSON bytes sent the first time
    (a replay sends them again), and whether this was a replay."""

    declaration: DeclarationOut
    body: bytes
    status_code: int
    replayed: bool


def check_idempotency_key(key: str | None) -> str:
    if not key:
        raise IdempotencyKeyMissing()
    if not IDEMPOTENCY_KEY.match(key):
        raise IdempotencyKeyInvalid()
    return key


async def submit_declaration(
    ctx: Context,
    principal: Principal,
    body: DeclarationIn,
    idempotency_key: str,
    *,
    now: datetime | None = None,
    lang: str = "en",
) -> SubmitResult:
    """Store one declaration for `principal`'s account, or replay the stored answer for a
    repeated key. `now` lets the reports' tests seed declarations on past days."""
    key = check_idempotency_key(idempotency_key)
    now = now or utcnow()
    record_id, body_hash = idempotency_hashes(ctx, f"{principal.subject}\x00{key}", body)
    # No read of the idempotency record first: a retry is rare, and its record's insert,
    # which goes first in the batch, fails as a duplicate, which is then replayed below.
    outcome = rules_for(ctx).evaluate(body, today=local_day(now))
    id_hash = id_number_hash(ctx, body.person.id_number)
    try:
        _within_account_limit(ctx, principal.subject)
        return await _declare_until_stored(
            ctx, principal, body, id_hash, outcome, record_id, body_hash, now, lang
        )
    except (RateLimited, StorageDown):
        # A retry of a declaration already acknowledged is still answered: past a limit,
        # and while writes are refused (a full disk, a read-only file) but reads still work.
        stored = await idempotency_record(ctx.store, record_id)
        if stored is None:
            raise
        return _replay(stored, body_hash)


async def _declare_until_stored(
    ctx: Context,
    principal: Principal,
    body: DeclarationIn,
    id_hash: str,
    outcome: Outcome,
    record_id: str,
    body_hash: str,
    now: datetime,
    lang: str,
) -> SubmitResult:
    """`_declare`, again after losing a race, up to `_ATTEMPTS` rounds."""
    holder_clash = False
    for _ in range(_ATTEMPTS):
        try:
            return await _declare(
                ctx,
                principal,
                body,
                id_hash,
                outcome,
                record_id,
                body_hash,
                now,
                lang,
                holder_clash=holder_clash,
            )
        except DuplicateKey as exc:
            if exc.collection == "idempotency":
                stored = await idempotency_record(ctx.store, record_id)
                if stored is None:  # the winner's record already expired: vanishingly rare
                    raise DeclarationContended() from None
                return _replay(stored, body_hash)
            # Otherwise the same new person was created by a concurrent declaration, or
            # another holder claimed the account: read again and go again.
            holder_clash = holder_clash or exc.collection == HOLDERS.name
        except PreconditionFailed as exc:
            if exc.collection == "accounts":  # DELETE /v1/me took the account meanwhile
                raise AccountErased() from None
            # Otherwise the person's status changed under us (a case, tracing), another
            # declaration of theirs was counted, or another holder claimed the account
            # since its marker was read: decide again.
            holder_clash = holder_clash or exc.collection == HOLDERS.name
        # Jitter, so the losers of one round do not collide again in the next.
        await asyncio.sleep(random.uniform(0, 0.005))
    raise DeclarationContended()


def _within_account_limit(ctx: Context, account_id: str) -> None:
    """One account's declarations per hour (RateLimited), counted before anything is read
    or stored, so a flood from one account (or one stolen token) costs nothing more. A
    person's declarations per day are counted in their record instead (`_declare`)."""
    # A keyed hash only: the count outlives an erased account by up to an hour, naming nobody.
    account = ctx.cipher.lookup_hash(account_id, context="ratelimit.declaration")[:32]
    try:
        # Counted in process, shared between processes every second: no round trip on the
        # surge's path; a flood spread over processes overshoots by a second of it.
        ctx.limiter.hit_soon(
            f"decl:a:{account}",
            limit=ctx.settings.declarations_per_account_per_hour,
            window_seconds=3600,
        )
    except RateLimited as limited:
        retry_after = int(limited.headers["Retry-After"])
        raise RateLimited(retry_after, TOO_OFTEN["account"]) from None


def _replay(stored: Document, body_hash: str) -> SubmitResult:
    if stored["body_hash"] != body_hash:
        raise IdempotencyKeyReused()
    raw = str(stored["response"]).encode()
    return SubmitResult(
        declaration=DeclarationOut.model_validate_json(raw),
        body=raw,
        status_code=int(stored["status_code"]),
        replayed=True,
    )


async def _declare(
    ctx: Context,
    principal: Principal,
    body: DeclarationIn,
    id_hash: str,
    outcome: Outcome,
    record_id: str,
    body_hash: str,
    now: datetime,
    lang: str,
    *,
    holder_clash: bool,
) -> SubmitResult:
    account_id = principal.subject
    relation = body.person.relation
    # After a clash on the holder marker only, and before the people are read: a claim
    # committed after this read then makes ours fail and read again.
    marker = (
        await people_repository.holder_marker(ctx.store, account_id)
        if holder_clash and relation == "self"
        else None
    )
    person = await people_repository.person_of_account(ctx.store, account_id, id_hash)
    if person is not None and people_repository.being_erased(person):
        raise PersonBeingErased(str(person["_id"]))
    # A person's declarations per day are counted in their record, under the compare-and-set
    # that already guards it (`people.repository.with_counted`): exact however many
    # processes a flood is spread over, and no write of its own. Refused before anything
    # else is read or stored.
    if people_repository.declared_that_day(person, local_day(now).isoformat()) >= (
        ctx.settings.declarations_per_person_per_day
    ):
        # Until Vietnam's next midnight, as every daily limit of the limiter says it.
        _, retry_after = window_of(now.timestamp(), DAY)
        raise RateLimited(retry_after, TOO_OFTEN["person"])
    reasons = list(outcome.reasons)
    status: Status = outcome.status
    person_ops: list[Operation]
    # The same identity number again is the same person: only a new person declared as the
    # holder, or a dependant declared as the holder from now on, claims the account.
    was_holder = person is not None and person.get("relation") == "self"
    becomes_holder = relation == "self" and not was_holder
    if person is None:
        person_id = people_repository.person_id_for(account_id, id_hash)
        await _check_room_for_a_person(ctx, principal, person_id, relation)
        document = {
            "_id": person_id,
            "account_id": account_id,
            "id_hash": id_hash,
            "id_number_enc": ctx.cipher.encrypt(body.person.id_number, context=ID_NUMBER_CONTEXT),
            "created_at": now,
            **_person_details(ctx, body, now),
            **first_status(status, [r.to_document() for r in reasons], now),
        }
        counted = None
        # A new person is a new record under the account: only while the account is there.
        person_ops = [people_repository.insert_person(document), account_held(account_id)]
    else:
        person_id = str(person["_id"])
        if becomes_holder:  # rare, so a read of its own
            people = await people_repository.people_of_account(ctx.store, account_id)
            _refuse_a_second_holder(people, person_id)
        status, reasons, person_ops = await _status_change(ctx, person, body, outcome, now)
        counted = person.get("counted")
    holder_ops: list[Operation] = []
    if becomes_holder:
        expires_at = now + timedelta(days=ctx.settings.retention_days)
        holder_ops.append(
            people_repository.claim_holder(account_id, person_id, was=marker, expires_at=expires_at)
        )
    elif was_holder and relation != "self":
        holder_ops.append(people_repository.release_holder(account_id, person_id))
    # The reports count a person once a day, as their latest declaration (reports.counters).
    cell = declaration_cell(
        local_day(now), body.address.province, body.address.ward, status, body.symptoms
    )
    if person is None:
        document.update(people_repository.first_counted(cell))
    else:
        person_ops = [
            people_repository.with_counted(op, person, cell)
            if isinstance(op, Update) and op.collection == "people"
            else op
            for op in person_ops
        ]

    declaration_id = new_id("dec")
    response = DeclarationOut(
        id=declaration_id,
        person_id=person_id,
        status=status,
        reasons=reason_views([r.to_document() for r in reasons], status, lang),
        created_at=now,
    )
    raw = response.model_dump_json().encode()
    # How the counters move is decided here, from the person as read; the counters
    # themselves are written by a fold after the commit, out of this transaction.
    steps = ctx.counters.steps(recount_declaration(counted, cell), now=now)
    ops: list[Operation] = [
        insert_idempotency_record(
            {
                "_id": record_id,
                "kind": "declaration",
                "person_id": person_id,
                "body_hash": body_hash,
                "status_code": 201,
                "response": raw.decode(),
                "created_at": now,
                "expires_at": now + timedelta(hours=ANSWER_HOURS),
            }
        ),
        repository.insert_declaration(
            repository.declaration_document(
                ctx,
                body,
                declaration_id=declaration_id,
                account_id=account_id,
                person_id=person_id,
                status=status,
                rule_status=outcome.status,
                rules_version=outcome.rules_version,
                reasons=[r.to_document() for r in reasons],
                now=now,
            )
        ),
        *person_ops,
        *holder_ops,
        *steps,
    ]
    await ctx.store.write(ops)
    # DEBUG: at a surge's rate one line per declaration is noise (and CPU); the metrics and
    # the stored declaration say the same.
    log.debug("declaration stored", extra={"fields": {"declaration_id": declaration_id}})
    return SubmitResult(declaration=response, body=raw, status_code=201, replayed=False)


async def _check_room_for_a_person(
    ctx: Context, citizen: Principal, person_id: str, relation: str
) -> None:
    """Refuse a new person beyond the account's cap, and a second holder. Counted before
    the write, not in it: first declarations for different new people racing each other
    from one account can pass the cap by the size of that burst, which still bounds what
    one account can add. Two holders racing each other clash on the holder marker instead.
    One read of the account's people answers both (at most the cap: a count would cost the
    same round trip).

    A new person is the one write that creates a record for the account, so it is also
    where a token that outlived `DELETE /v1/me` must not store one under the erased id. A
    finished erasure leaves no people, so the account itself is read only for its first
    person; one still running (the account goes first, then the people) is caught by the
    write's own `account_held`."""
    people = await people_repository.people_of_account(ctx.store, citizen.subject)
    if relation == "self":
        _refuse_a_second_holder(people, person_id)
    if len(people) >= ctx.settings.max_people_per_account:
        raise TooManyPeople()
    if not people:
        await ensure_account_exists(ctx, citizen)


def _refuse_a_second_holder(people: Sequence[Document], person_id: str) -> None:
    """The account holder is one person: `self` with another identity number is refused,
    naming the holder's record (the app may show it, or offer to declare a dependant)."""
    holder = people_repository.holder_of(people, besides=person_id)
    if holder is not None:
        raise SecondAccountHolder(str(holder["_id"]))


async def _status_change(
    ctx: Context, person: Document, body: DeclarationIn, outcome: Outcome, now: datetime
) -> tuple[Status, list[Reason], list[Operation]]:
    """The person's status after this declaration, the reasons, and the operations."""
    person_id = str(person["_id"])
    previous: Status = person.get("status", "green")
    lookback = timedelta(days=ctx.settings.exposure_lookback_days)
    hold = active_hold(person, now, lookback)
    details = _person_details(ctx, body, now)
    reasons = list(outcome.reasons)
    status = outcome.status
    if hold is not None and SEVERITY[hold.status] >= SEVERITY[outcome.status]:
        status = hold.status
        if SEVERITY[hold.status] > SEVERITY[outcome.status]:
            text = HOLD_REASONS.get(hold.source, HOLD_REASONS["case"])
            reasons.append(Reason(f"status_held_by_{hold.source}", hold.status, text.en, text.vi))
    ops: list[Operation] = []
    if status == previous:
        # No status change, so `status_changed_at` keeps meaning what it says (QR checks
        # compare it with when a code was issued). Staff's reasons stay while staff's status
        # stands; otherwise the reasons are this declaration's.
        fields = dict(details)
        if person.get("status_source") not in HOLDING_SOURCES:
            fields["status_reasons"] = [r.to_document() for r in reasons]
        version = int(person.get("status_version", 0))
        ops.append(people_repository.update_person(person_id, fields, status_version=version))
    else:
        change = set_status(
            person, status, [r.to_document() for r in reasons], source="declaration", now=now
        )
        remembered = (
            {"hold_status": hold.status, "hold_source": hold.source, "hold_since": hold.since}
            if hold is not None
            else {"hold_status": None, "hold_source": None, "hold_since": None}
        )
        ops.append(people_repository.with_fields(change, {**details, **remembered}))
    if SEVERITY[status] > SEVERITY[previous]:
        ops.extend(
            await revoke_live_tokens(ctx.store, person_id, reason="status_worsened", now=now)
        )
    return status, reasons, ops


def _person_details(ctx: Context, body: DeclarationIn, now: datetime) -> dict[str, Any]:
    """What a declaration says about the person. Name and phone only encrypted (plus a keyed
    hash of the phone, to find a person to notify); what reports need, in clear."""
    person = body.person
    phone = person.phone
    return {
        "expires_at": now + timedelta(days=ctx.settings.retention_days),
        "name_enc": ctx.cipher.encrypt(person.full_name, context=NAME_CONTEXT),
        "phone_enc": ctx.cipher.encrypt(phone, context=PHONE_CONTEXT) if phone else None,
        "phone_hash": ctx.cipher.lookup_hash(phone, context=PHONE_CONTEXT) if phone else None,
        "id_kind": _id_kind(person.id_number, person.nationality),
        "relation": person.relation,
        "birth_year": person.birth_year,
        "gender": person.gender,
        "nationality": person.nationality,
        "province": body.address.province,
        "ward": body.address.ward,
        "updated_at": now,
        "last_declared_at": now,
    }


def _id_kind(id_number: str, nationality: str) -> str:
    if nationality == "VN" and ascii_digits(id_number):
        return "cccd" if len(id_number) == 12 else "cmnd"
    return "passport"
