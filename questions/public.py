"""The public answer base: `GET /v1/faq` (search or newest), `GET /v1/faq/{id}`, and the
`/hoi-dap` page with its search box. No sign-in; every answer is cacheable (`ETag`,
`Cache-Control`), so a surge of the same questions is served by caches in front.

The page is static (its own HTML, script and style under versioned URLs, no CDN) and
puts every answer on the page as text, never as HTML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request, Response

from core.errors import NotFound, StorageUnavailable, ValidationFailed
from questions import repository
from questions.schemas import QUERY_MAX, Category, DocumentId, FaqEntry, FaqPage, Limit
from web import caching
from web.deps import ContextDep
from web.openapi import NOT_MODIFIED, answered
from web.pages import StaticPage
from web.problems import responses

router = APIRouter(tags=["faq"])

STATIC = Path(__file__).parent / "static"
SEARCH_CACHE = "public, max-age=60"
ENTRY_CACHE = "public, max-age=300"
PAGE = StaticPage(
    html=STATIC / "hoi-dap.html",
    url="/hoi-dap",
    assets=[STATIC / "hoi-dap.js", STATIC / "hoi-dap.css"],
    cache_control="public, max-age=300",
)
PAGE.serve(router, summary="The public questions-and-answers page with its search box (HTML)")


def _public(entry: dict[str, object]) -> FaqEntry:
    return FaqEntry.model_validate({**entry, "id": entry["_id"]})


@router.get(
    "/v1/faq",
    summary="Published answers: by relevance to q (ignoring diacritics and case), else newest",
    response_model=FaqPage,
    responses={
        **answered(200, "A page of answers", "ETag", "Cache-Control", "Vary"),
        **NOT_MODIFIED,
        **responses(ValidationFailed, StorageUnavailable),
    },
)
async def faq(
    ctx: ContextDep,
    request: Request,
    q: Annotated[str | None, Query(max_length=QUERY_MAX, description="Words to find")] = None,
    category: Category | None = None,
    limit: Limit = 20,
) -> Response:
    text = q if q and q.strip() else None
    found = await repository.faq_entries(ctx.store, text=text, category=category, limit=limit)
    page = FaqPage(items=[_public(entry) for entry in found])
    body = orjson.dumps(page.model_dump(mode="json"))
    return caching.cacheable(request, body, cache_control=SEARCH_CACHE)


@router.get(
    "/v1/faq/{faq_id}",
    summary="One published answer",
    response_model=FaqEntry,
    responses={
        **answered(200, "The answer", "ETag", "Cache-Control", "Vary"),
        **NOT_MODIFIED,
        **responses(NotFound, ValidationFailed, StorageUnavailable),
    },
)
async def faq_entry(
    ctx: ContextDep,
    faq_id: DocumentId,
    request: Request,
) -> Response:
    entry = await repository.faq_entry(ctx.store, faq_id)
    if entry is None:
        raise NotFound()
    body = orjson.dumps(_public(entry).model_dump(mode="json"))
    return caching.cacheable(request, body, cache_control=ENTRY_CACHE)
