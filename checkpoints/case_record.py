"""Which record a case is about, and the 409 `choose_record` answer (the records carrying
the identity number, masked and audited) when the number alone cannot say.
"""

from __future__ import annotations

import logging
from datetime import datetime

from accounts import repository as accounts_repository
from accounts.service import phone_hash
from checkpoints.contacts import account_phone
from checkpoints.schemas import CaseRequest, RecordCandidate
from core.clock import new_id
from core.context import Context
from core.errors import AppError, NotFound
from core.i18n import Text
from core.logging import log_event
from core.principals import Principal
from core.storage import Document
from people.repository import (
    NAME_CONTEXT,
    get_person,
    id_number_hash,
    normalise_id_number,
    people_by_id_hash,
)
from reports.audit import access_entry

log = logging.getLogger(__name__)


class ChooseRecord(AppError):
    """`POST /v1/cases` by identity number that names no record for sure: anyone can type
    someone else's identity number on a form, so the number alone never picks a record."""

    status = 409
    code = "choose_record"
    title = Text("Choose the patient's record", "Hãy chọn hồ sơ của người bệnh")
    detail = Text(
        "This identity number is on the records listed (masked). Confirm the patient's own by "
        "person_id, or send the patient's phone (a dependant's: the declaring account's phone).",
        "Số định danh này có trong các hồ sơ được liệt kê (đã che). Hãy xác nhận hồ sơ của người "
        "bệnh theo person_id, hoặc gửi kèm số điện thoại của người bệnh (người phụ thuộc: số của "
        "tài khoản khai báo).",
    )

    def __init__(self, candidates: list[dict[str, object]]) -> None:
        super().__init__(extra={"candidates": candidates})


async def patient_record(
    ctx: Context, officer: Principal, body: CaseRequest, now: datetime
) -> Document:
    """The one record the case is about. By `person_id`, the record the officer chose. By
    `id_number`, never the number alone (anyone can type a stranger's number on a form):
    with `phone`, the record declared by the account signed in with that phone (verified by
    a sign-in code); otherwise 409 with every record carrying the number, masked."""
    if body.person_id is not None:
        found = await get_person(ctx.store, body.person_id)
        # An officer with an area acts only inside it; outside, as for a missing record.
        if found is None or not officer.covers(found.get("province"), found.get("ward")):
            raise NotFound()
        return found
    assert body.id_number is not None
    number = normalise_id_number(body.id_number)
    candidates = [
        person
        for person in await people_by_id_hash(ctx.store, id_number_hash(ctx, number))
        if officer.covers(person.get("province"), person.get("ward"))
    ]
    if not candidates:
        raise NotFound()
    if body.phone is not None:
        account = await accounts_repository.account_by_phone_hash(
            ctx.store, phone_hash(ctx, body.phone)
        )
        for person in candidates:
            if account is not None and person.get("account_id") == account["_id"]:
                return person
    candidates.sort(key=lambda person: person["created_at"])
    shown = [await _masked(ctx, person) for person in candidates]
    # Masked is still personal data shown to staff: audited before it is answered (no entry,
    # no answer), one entry per person so each account's access log finds its own, all
    # under one id, the one showing they were part of.
    showing_id = new_id("shw")
    await ctx.store.write(
        [
            access_entry(
                officer,
                "case_record_shown",
                person_id=str(person["_id"]),
                subject_id=showing_id,
                now=now,
            )
            for person in candidates
        ]
    )
    log_event(
        log,
        "case records shown masked",
        officer=officer.subject,
        records=len(candidates),
        showing_id=showing_id,
    )
    raise ChooseRecord(shown)


async def _masked(ctx: Context, person: Document) -> dict[str, object]:
    name = ""
    if person.get("name_enc"):
        name = ctx.cipher.decrypt(person["name_enc"], context=NAME_CONTEXT)
    phone = await account_phone(ctx, str(person.get("account_id")))
    return RecordCandidate(
        person_id=str(person["_id"]),
        relation=str(person.get("relation", "self")),
        name_initials=" ".join(word[0].upper() + "." for word in name.split()),
        birth_year=person.get("birth_year"),
        province=person.get("province"),
        ward=person.get("ward"),
        account_phone_ends_with=phone[-3:] if phone else None,
        declared_since=person["created_at"],
        status=person.get("status", "green"),
    ).model_dump(mode="json")
