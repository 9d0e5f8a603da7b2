"""Erasure: `DELETE /v1/people/{person_id}` (one of the account's people) and `DELETE
/v1/me` (the account and all its people).

Each person is erased in two writes. The first marks the person as being erased
(`people.repository.start_erasure`): from its commit on, `get_person` no longer finds them
and every write that creates a record naming them carries `person_held` and rolls back, so
what is read after it is everything held about them, including a consent or an episode
committed a moment before. The second, one atomic batch, erases it all: their live codes
published as revoked and their code records deleted (the code stops scanning at once,
online and, as soon as a scanner fetches `/v1/revocations`, offline); their declarations,
stored answers, scans, visits, monitoring episodes and reports, consents and case episode
deleted; their cases and the audit entries of staff reads kept but made anonymous; messages
still waiting for their phone or about them (a dependant's go to the account's phone)
cancelled, and every kept message to or about them wiped; then the person record itself,
and the account's holder marker if it names them.
The account's questions go with `DELETE /v1/me`, and with them any FAQ entry that shows
their words as the asker wrote them (`questions.wording`; the service publishes only a
responder's own text now, but older versions published the question as asked).
The report counters are separate documents that name nobody, so the ministry's counts for
every past day keep their numbers. An active monitoring episode is ended in that batch as a
close ends it (`monitoring.service.ending`): its end counted, and out of the gauge of
episodes needing attention, so the reports and the map stop counting it from then on; it is
ended only while still as the erasure read it, else the batch rolls back and the erasure
reads again, so a close or a report racing it is never counted twice or lost. An audit
entry records that an erasure happened, not whose.

Idempotent: the person gone, a second `DELETE /v1/people/{id}` is a 404 like any id the
account does not hold; a second `DELETE /v1/me` is a 204 (an account erased, or never
having declared, has nothing left to erase). A batch that fails leaves the person whole
but marked, and asking again finishes the work.
"""

from __future__ import annotations

from datetime import datetime

from accounts import repository as accounts_repository
from checkpoints import repository as checkpoints_repository
from core.clock import utcnow
from core.context import Context
from core.errors import NotFound, Overloaded
from core.idempotency import erase_idempotency_records
from core.principals import Principal
from core.storage import Document, Operation, PreconditionFailed
from declarations import repository as declarations_repository
from monitoring import repository as monitoring_repository
from monitoring import service as monitoring_service
from notifications import repository as notifications_repository
from notifications.outbox import RECIPIENT_CONTEXT
from people import repository as people_repository
from qr import repository as qr_repository
from questions import repository as questions_repository
from questions.wording import published_as_asked
from reports import repository as reports_repository
from reports.audit import erasure_entry
from rights import repository

ACCESS_ENTRIES = 10_000
# Batches tried while the person's episodes keep changing under the erasure's reads.
ATTEMPTS = 3


async def erase_person(ctx: Context, citizen: Principal, person_id: str) -> None:
    person = await people_repository.person_to_erase(ctx.store, person_id)
    if person is None or person.get("account_id") != citizen.subject:
        raise NotFound()
    if not await _erase(ctx, person, audited=True):
        raise NotFound()  # an erasure running beside this one finished first


async def erase_account(ctx: Context, citizen: Principal) -> None:
    """The account first, in a write of its own, then its questions, then each person in a
    batch of their own (a family's records can be many).

    The account goes first, alone, because every write that creates a record under it (a
    new person, a question) carries `account_held`, which writes the account document: once
    the account is gone such a write rolls back (on MongoDB the two writes to one document
    conflict, so they cannot both commit), and one that committed before is found by the
    reads that follow. The first write also takes what only the account leads to: its
    sign-ins, its one-time code and the messages waiting for its phone. A failure after it
    leaves whole questions and people under the account id, and `DELETE /v1/me` again (the
    access token lives its minutes; signing in again with the phone opens the same account
    id) carries on."""
    subject = citizen.subject
    account = await accounts_repository.account(ctx.store, subject)
    if account is not None:
        now = utcnow()
        ops: list[Operation] = [*accounts_repository.erase_account(account)]
        phone = account.get("phone_enc")
        if isinstance(phone, str):
            decrypted = ctx.cipher.decrypt(phone, context=accounts_repository.PHONE_CONTEXT)
            ops += await _messages_to(ctx, decrypted, now=now)
        # How many people there are now, for the audit entry (which names no one).
        params = {"people": await people_repository.people_count(ctx.store, subject)}
        await ctx.store.write([*ops, erasure_entry("rights.account_erased", params, now=now)])
    await _erase_questions(ctx, subject)
    for person in await people_repository.people_to_erase(ctx.store, subject):
        await _erase(ctx, person, audited=False)


async def _erase_questions(ctx: Context, asker: str) -> None:
    """The questions, and the first answers kept for their Idempotency-Key retries: read
    once the account is gone, so a question that committed a moment before is among them.
    In the same batch, the FAQ entries that show the asker's own words (published by an
    older version from the question as asked) are taken out of the FAQ, and responders'
    reads of the questions kept in the audit trail without the account."""
    asked = await questions_repository.all_questions_of(ctx.store, asker)
    reads = await reports_repository.account_access_entries(ctx.store, asker, limit=ACCESS_ENTRIES)
    if not asked and not reads:
        return
    ops: list[Operation] = [*reports_repository.anonymise_account_entries(reads)]
    if asked:
        ops.append(questions_repository.erase_asker(asker))
    retries = [str(q["idempotency_hash"]) for q in asked if q.get("idempotency_hash")]
    if retries:
        ops.append(erase_idempotency_records(retries))
    verbatim = await _published_as_asked(ctx, asked)
    if verbatim:
        ops.append(questions_repository.unpublish(verbatim))
        params = {"faq_entries": len(verbatim)}
        ops.append(erasure_entry("rights.faq_unpublished", params, now=utcnow()))
    await ctx.store.write(ops)


async def _published_as_asked(ctx: Context, asked: list[Document]) -> list[str]:
    """The FAQ entries, published from these questions or linked to them as duplicates,
    whose title or text is one of the questions' own as the asker wrote it."""
    by_entry: dict[str, list[Document]] = {}
    for question in asked:
        if question.get("faq_id"):
            by_entry.setdefault(str(question["faq_id"]), []).append(question)
    entries = await questions_repository.faq_entries_by_id(ctx.store, list(by_entry))
    return [
        str(entry["_id"])
        for entry in entries
        if any(published_as_asked(q, entry) for q in by_entry[str(entry["_id"])])
    ]


async def _erase(ctx: Context, person: Document, *, audited: bool) -> bool:
    """The person first, then what is held about them (see the module doc). False when the
    person was already gone."""
    person_id = str(person["_id"])
    try:
        await ctx.store.write([people_repository.start_erasure(person_id, now=utcnow())])
    except PreconditionFailed:
        return False
    for _ in range(ATTEMPTS):
        now = utcnow()
        ops = await _person_ops(ctx, person, now=now)
        if audited:
            ops.append(erasure_entry("rights.person_erased", {"people": 1}, now=now))
        try:
            await ctx.store.write(ops)
        except PreconditionFailed:
            continue  # an episode of theirs ended or changed after the reads: read again
        return True
    raise Overloaded()  # marked: asking again finishes it


async def _person_ops(ctx: Context, person: Document, *, now: datetime) -> list[Operation]:
    store = ctx.store
    person_id = str(person["_id"])
    tokens = await qr_repository.tokens_of_person(store, person_id)
    checkins = await checkpoints_repository.all_checkins_of_person(store, person_id)
    cases = await checkpoints_repository.cases_of_person(store, person_id)
    episodes = await monitoring_repository.episodes_of_person(store, person_id)
    reads = await reports_repository.access_entries(store, person_id, limit=ACCESS_ENTRIES)
    ops: list[Operation] = [
        *qr_repository.erase_person_tokens(tokens, now=now),
        *declarations_repository.erase_person(person_id),
        *checkpoints_repository.erase_person(person_id, checkins, cases),
        # An active episode ends as a close ends it (its end counted, out of the attention
        # gauge) before it is deleted; one closed since the reads rolls the batch back.
        *(
            op
            for episode in episodes
            if episode["status"] == "active"
            for op in monitoring_service.ending(ctx, episode, {"status": "erased"}, now)
        ),
        *monitoring_repository.erase_episodes([str(e["_id"]) for e in episodes]),
        *reports_repository.anonymise_access_entries(reads),
        *repository.erase_consents(person_id),
    ]
    messages = await notifications_repository.about_person(store, person_id)
    phone = person.get("phone_enc")
    if isinstance(phone, str):
        decrypted = ctx.cipher.decrypt(phone, context=people_repository.PHONE_CONTEXT)
        phone_hash = ctx.cipher.lookup_hash(decrypted, context=RECIPIENT_CONTEXT)
        messages += await notifications_repository.to_phone(store, phone_hash)
    ops += _erase_messages(messages, now=now)
    ops.append(people_repository.release_holder(str(person["account_id"]), person_id))
    ops.append(people_repository.erase_person(person_id))
    return ops


async def _messages_to(ctx: Context, phone: str, *, now: datetime) -> list[Operation]:
    phone_hash = ctx.cipher.lookup_hash(phone, context=RECIPIENT_CONTEXT)
    return _erase_messages(await notifications_repository.to_phone(ctx.store, phone_hash), now=now)


def _erase_messages(messages: list[Document], *, now: datetime) -> list[Operation]:
    """Each message once (one can be both to the person's phone and about them)."""
    unique = {str(doc["_id"]): doc for doc in messages}
    erased = (notifications_repository.erase(doc, now=now) for doc in unique.values())
    return [op for op in erased if op is not None]
