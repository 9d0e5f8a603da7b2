"""`GET /v1/me/export`: everything held about an account and its people, decrypted.

Read from each domain's own repository; nothing is written but the limiter's count (an
export is a few hundred reads, so an account gets `exports_per_day` of them).
"""

from __future__ import annotations

from typing import Any

from accounts import repository as accounts_repository
from checkpoints import repository as checkpoints_repository
from core.clock import utcnow
from core.context import Context
from core.errors import RateLimited
from core.principals import Principal
from core.storage import Document
from declarations import repository as declarations_repository
from monitoring import repository as monitoring_repository
from monitoring.episodes import STREET_CONTEXT as MONITORING_STREET_CONTEXT
from people import repository as people_repository
from qr import repository as qr_repository
from questions import repository as questions_repository
from rights import repository
from rights.errors import ExportLimitReached
from rights.schemas import (
    AccountExport,
    CheckinExport,
    CodeExport,
    ConsentOut,
    Export,
    PersonExport,
    ScanExport,
)

DAY = 86_400
SCANS_PER_PERSON = 1_000
# Fields no person needs to read: keyed hashes, ciphertexts (shown decrypted instead),
# version counters and the store's own bookkeeping.
_INTERNAL_ENDINGS = ("_hash", "_enc", "_seq")
_INTERNAL = frozenset(
    {"version", "status_version", "expires_at", "counted", "declared_today", "urgency_key"}
)


async def export(ctx: Context, citizen: Principal) -> Export:
    bucket = ctx.cipher.lookup_hash(citizen.subject, context="ratelimit.export")
    try:
        await ctx.limiter.hit(
            f"export:{bucket}", limit=ctx.settings.exports_per_day, window_seconds=DAY
        )
    except RateLimited as exc:
        raise ExportLimitReached(int(exc.headers["Retry-After"])) from None
    account = await accounts_repository.account(ctx.store, citizen.subject)
    checkpoint_names: dict[str, str | None] = {}
    organisation_names: dict[str, str | None] = {}
    people = [
        await _person(ctx, person, checkpoint_names, organisation_names)
        for person in await people_repository.people_of_account(ctx.store, citizen.subject)
    ]
    questions = await questions_repository.all_questions_of(ctx.store, citizen.subject)
    return Export(
        generated_at=utcnow(),
        account=AccountExport(
            id=citizen.subject,
            phone=_decrypt(ctx, account, "phone_enc", accounts_repository.PHONE_CONTEXT),
            created_at=account.get("created_at") if account else None,
        ),
        people=people,
        questions=[_question(q) for q in questions],
    )


async def _person(
    ctx: Context,
    person: Document,
    checkpoint_names: dict[str, str | None],
    organisation_names: dict[str, str | None],
) -> PersonExport:
    store = ctx.store
    person_id = str(person["_id"])
    declarations = await declarations_repository.declarations_of_person(store, person_id)
    scans = await checkpoints_repository.all_scans_of_person(
        store, person_id, limit=SCANS_PER_PERSON
    )
    checkins = await checkpoints_repository.all_checkins_of_person(store, person_id)
    for checkpoint_id in {str(d["checkpoint_id"]) for d in [*scans, *checkins]}:
        await _name_checkpoint(ctx, checkpoint_id, checkpoint_names)
    episodes = await monitoring_repository.episodes_of_person(store, person_id)
    consents = await repository.consents_of_person(store, person_id)
    return PersonExport(
        id=person_id,
        full_name=_decrypt(ctx, person, "name_enc", people_repository.NAME_CONTEXT),
        id_number=_decrypt(ctx, person, "id_number_enc", people_repository.ID_NUMBER_CONTEXT),
        phone=_decrypt(ctx, person, "phone_enc", people_repository.PHONE_CONTEXT),
        relation=person.get("relation"),
        birth_year=person.get("birth_year"),
        gender=person.get("gender"),
        nationality=person.get("nationality"),
        province=person.get("province"),
        ward=person.get("ward"),
        status=str(person.get("status", "green")),
        status_reasons=list(person.get("status_reasons") or []),
        status_source=person.get("status_source"),
        status_changed_at=person.get("status_changed_at"),
        created_at=person.get("created_at"),
        declarations=[
            {
                **_plain(d, drop=("account_id", "person_id")),
                "street": _decrypt(ctx, d, "street_enc", declarations_repository.STREET_CONTEXT),
            }
            for d in declarations
        ],
        codes=[
            CodeExport(
                id=str(t["_id"]),
                issued_at=t["iat"],
                expires_at=t["exp"],
                revoked_at=t.get("revoked_at"),
                revoke_reason=t.get("revoke_reason"),
            )
            for t in await qr_repository.tokens_of_person(store, person_id)
            if t.get("kind") == "person"
        ],
        scans=[
            ScanExport(
                at=s["at"],
                checkpoint_id=str(s["checkpoint_id"]),
                checkpoint_name=checkpoint_names.get(str(s["checkpoint_id"])),
                decision=str(s["decision"]),
                reason_code=str(s["reason_code"]),
            )
            for s in scans
        ],
        checkins=[
            CheckinExport(
                id=str(c["_id"]),
                checkpoint_id=str(c["checkpoint_id"]),
                checkpoint_name=checkpoint_names.get(str(c["checkpoint_id"])),
                arrived_at=c["arrived_at"],
                last_seen_at=c["last_seen_at"],
            )
            for c in checkins
        ],
        cases=[
            _plain(c, drop=("person_id", "person_ids", "created_by"))
            for c in await checkpoints_repository.cases_of_person(store, person_id)
        ],
        monitoring=[await _episode(ctx, e) for e in episodes],
        consents=[await consent_view(ctx, c, organisation_names) for c in consents],
    )


async def _episode(ctx: Context, episode: Document) -> dict[str, Any]:
    reports = await monitoring_repository.reports_of_episode(ctx.store, str(episode["_id"]))
    return {
        **_plain(episode, drop=("person_id", "account_id", "officer_id", "opened_by")),
        "street": _decrypt(ctx, episode, "street_enc", MONITORING_STREET_CONTEXT),
        "reports": [_plain(r, drop=("episode_id", "body_hash")) for r in reports],
    }


async def consent_view(
    ctx: Context, consent: Document, organisation_names: dict[str, str | None]
) -> ConsentOut:
    organisation_id = str(consent["organisation_id"])
    if organisation_id not in organisation_names:
        found = await repository.organisation(ctx.store, organisation_id)
        organisation_names[organisation_id] = str(found["name"]) if found else None
    return ConsentOut(
        id=str(consent["_id"]),
        person_id=str(consent["person_id"]),
        organisation_id=organisation_id,
        organisation_name=organisation_names[organisation_id],
        granted_at=consent["granted_at"],
        expires_at=consent["expires_at"],
        revoked_at=consent.get("revoked_at"),
    )


async def _name_checkpoint(ctx: Context, checkpoint_id: str, names: dict[str, str | None]) -> None:
    if checkpoint_id not in names:
        found = await checkpoints_repository.checkpoint(ctx.store, checkpoint_id)
        names[checkpoint_id] = str(found["name"]) if found else None


def _decrypt(ctx: Context, document: Document | None, field: str, context: str) -> str | None:
    value = document.get(field) if document else None
    return ctx.cipher.decrypt(value, context=context) if isinstance(value, str) else None


def _question(document: Document) -> dict[str, Any]:
    """A question as its asker reads it. Who answered or rejected it is a role, never a
    staff member's id (as in the access log); the earlier question it was answered as a
    duplicate of is someone else's, so its id is left out too."""
    plain = _plain(document, drop=("asker", "answered_by", "duplicate_of"))
    plain["answered_by"] = "responder" if document.get("answered_by") else None
    return plain


def _plain(document: Document, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """A stored document as a person reads it: `id` for `_id`, internal fields left out."""
    plain: dict[str, Any] = {"id": document["_id"]}
    for name, value in document.items():
        if name == "_id" or name in drop or name in _INTERNAL or name.endswith(_INTERNAL_ENDINGS):
            continue
        plain[name] = value
    return plain
