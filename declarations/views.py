"""What an account reads back: its own declarations and people, nobody else's.

Someone else's declaration or person is answered exactly like a missing one (404), so ids
cannot be probed. Names are decrypted for the owner; identity numbers only ever leave
masked.
"""

from __future__ import annotations

from core.context import Context
from core.errors import NotFound
from core.principals import Principal
from core.storage import Document
from declarations import repository
from declarations.repository import STREET_CONTEXT
from declarations.schemas import (
    AddressOut,
    DeclarationDetail,
    DeclarationList,
    PeopleList,
    PersonOut,
    TravelOut,
    reason_views,
)
from people import repository as people_repository
from people.repository import ID_NUMBER_CONTEXT, NAME_CONTEXT, Status

MASK = "•"


def mask_id_number(id_number: str, visible: int = 3) -> str:
    return MASK * max(len(id_number) - visible, 0) + id_number[-visible:]


def declaration_view(ctx: Context, document: Document, lang: str) -> DeclarationDetail:
    status: Status = document["status"]
    return DeclarationDetail(
        id=document["_id"],
        person_id=document["person_id"],
        status=status,
        reasons=reason_views(document.get("reasons", []), status, lang),
        created_at=document["created_at"],
        rules_version=document["rules_version"],
        address=AddressOut(
            province=document["province"],
            ward=document["ward"],
            street=ctx.cipher.decrypt(document["street_enc"], context=STREET_CONTEXT),
        ),
        symptoms=document["symptoms"],
        exposure=document["exposure"],
        chronic_conditions=document["chronic_conditions"],
        pregnant=document["pregnant"],
        travel=TravelOut.model_validate(document["travel"]),
    )


def person_view(ctx: Context, document: Document, lang: str) -> PersonOut:
    status: Status = document.get("status", "green")
    id_number = ctx.cipher.decrypt(document["id_number_enc"], context=ID_NUMBER_CONTEXT)
    return PersonOut(
        person_id=document["_id"],
        display_name=ctx.cipher.decrypt(document["name_enc"], context=NAME_CONTEXT),
        id_number_masked=mask_id_number(id_number),
        relation=document.get("relation", "self"),
        birth_year=document["birth_year"],
        status=status,
        reasons=reason_views(document.get("status_reasons", []), status, lang),
        status_changed_at=document.get("status_changed_at"),
    )


async def get_declaration(
    ctx: Context, principal: Principal, declaration_id: str, *, lang: str
) -> DeclarationDetail:
    document = await repository.get_declaration(ctx.store, declaration_id)
    if document is None or document["account_id"] != principal.subject:
        raise NotFound()
    return declaration_view(ctx, document, lang)


async def list_declarations(
    ctx: Context, principal: Principal, *, person_id: str | None, limit: int, lang: str
) -> DeclarationList:
    if person_id is not None:
        person = await people_repository.get_person(ctx.store, person_id)
        if person is None or person.get("account_id") != principal.subject:
            raise NotFound()
    documents = await repository.declarations_of_account(
        ctx.store, principal.subject, person_id=person_id, limit=limit
    )
    return DeclarationList(items=[declaration_view(ctx, d, lang) for d in documents])


async def list_people(ctx: Context, principal: Principal, *, lang: str) -> PeopleList:
    people = await people_repository.people_of_account(ctx.store, principal.subject)
    return PeopleList(items=[person_view(ctx, p, lang) for p in people])
