"""Every database query of the questions domain.

* `questions`: one document per question, feedback or report. `asker` is the citizen's
  account id, read only to answer `GET /v1/questions/mine` and to notify; no response to a
  responder or the public carries it. Searchable by title and body for the responders'
  queue, so the text is kept in clear (SECURITY.md says so). Like every personal record it
  expires: `KHAIBAO_RETENTION_DAYS` after it was received, or after its last answer or
  rejection if later, so the asker has that long to read the answer.
* `faq`: the published answers, each written by a responder: their own public title and
  text of the question (never the asker's words as written) and the answer. It has no field
  for the asker at all: what is public is exactly this collection. Searchable by title,
  question and answer. Public text that names nobody, checked for numbers before it is
  written: it is kept, and outlives its question, except an entry an older version
  published from the asker's own words, which goes with the asker's `DELETE /v1/me`.

`DATA_STEPS` are what `khaibao db migrate` does to questions an older version stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from core.settings import Settings
from core.storage import (
    CollectionSpec,
    DataStep,
    Delete,
    Document,
    Filter,
    Index,
    Insert,
    StorageError,
    Store,
    TextIndex,
    Update,
)

QUESTIONS = CollectionSpec(
    "questions",
    indexes=(
        Index(("asker", "_id")),
        Index(("status", "_id")),
        Index(("category", "status", "_id")),
        Index(("province", "ward", "status", "_id")),
        Index(("received_at",)),
    ),
    datetime_fields=frozenset(
        {"received_at", "updated_at", "answered_at", "published_at", "expires_at"}
    ),
    expires_field="expires_at",
    text=TextIndex(("title", "body"), weights=(3, 1)),
)
FAQ = CollectionSpec(
    "faq",
    indexes=(Index(("published_at",)), Index(("category", "published_at"))),
    datetime_fields=frozenset({"published_at"}),
    text=TextIndex(("title", "question", "answer"), weights=(5, 2, 1)),
)
SPECS: tuple[CollectionSpec, ...] = (QUESTIONS, FAQ)


def retained_from(settings: Settings, moment: datetime) -> datetime:
    """The `expires_at` of a question received, or last answered or rejected, at `moment`."""
    return moment + timedelta(days=settings.retention_days)


def insert_question(document: Document) -> Insert:
    return Insert(QUESTIONS.name, document)


async def question(store: Store, question_id: str) -> Document | None:
    return await store.get(QUESTIONS.name, question_id)


def change_question(
    question_id: str, *, version: int, status: str, changes: Mapping[str, Any]
) -> Update:
    """A move from `status` at `version`: a concurrent move made first matches nothing and
    the whole batch (answer, FAQ entry, notification, audit) rolls back."""
    return Update(
        QUESTIONS.name,
        question_id,
        set={**changes, "version": version + 1},
        when={"version": version, "status": status},
        must_match=True,
    )


async def questions_of(
    store: Store, asker: str, *, before: str | None, limit: int
) -> list[Document]:
    where: dict[str, Any] = {"asker": asker}
    if before is not None:
        where["_id"] = {"$lt": before}
    return await store.find(QUESTIONS.name, where, sort=[("_id", -1)], limit=limit)


async def queue(
    store: Store, where: Filter, *, text: str | None, before: str | None, limit: int
) -> list[Document]:
    """Newest first, or by relevance to `text`."""
    if text is not None:
        return await store.search(QUESTIONS.name, text, where, limit=limit)
    paged = dict(where)
    if before is not None:
        paged["_id"] = {"$lt": before}
    return await store.find(QUESTIONS.name, paged, sort=[("_id", -1)], limit=limit)


async def received_between(store: Store, received: Filter) -> list[Document]:
    """Every question received in a range (`{"$gte": …, "$lt": …}`), for the report."""
    return await store.find(QUESTIONS.name, {"received_at": received})


def insert_faq(document: Document) -> Insert:
    return Insert(FAQ.name, document)


async def faq_entry(store: Store, faq_id: str) -> Document | None:
    return await store.get(FAQ.name, faq_id)


async def faq_entries(
    store: Store, *, text: str | None, category: str | None, limit: int
) -> list[Document]:
    where = {"category": category} if category is not None else {}
    if text is not None:
        return await store.search(FAQ.name, text, where, limit=limit)
    return await store.find(FAQ.name, where, sort=[("published_at", -1)], limit=limit)


async def all_questions_of(store: Store, asker: str) -> list[Document]:
    """Everything an account asked, oldest first (its export)."""
    return await store.find(QUESTIONS.name, {"asker": asker}, sort=[("_id", 1)])


def erase_asker(asker: str) -> Delete:
    """Erasure of an account: its questions deleted. What was published from them is the
    responder's own public text and stays, unless it is the asker's words (`unpublish`)."""
    return Delete(QUESTIONS.name, {"asker": asker})


async def faq_entries_by_id(store: Store, faq_ids: list[str]) -> list[Document]:
    if not faq_ids:
        return []
    return await store.find(FAQ.name, {"_id": {"$in": faq_ids}})


def unpublish(faq_ids: list[str]) -> Delete:
    """These entries out of the FAQ (and its search)."""
    return Delete(FAQ.name, {"_id": {"$in": faq_ids}})


async def without_expiry(store: Store, *, limit: int) -> list[Document]:
    """Questions with no `expires_at` (a missing field matches None): those stored before
    questions expired, which neither the TTL index nor the purge would ever delete."""
    return await store.find(QUESTIONS.name, {"expires_at": None}, limit=limit)


async def expire_the_unexpiring(store: Store, settings: Settings) -> int:
    """Give each question stored without `expires_at` the one the service would have given
    it: the retention from its last answer or rejection (`updated_at`, set with every move
    and at receipt), else from its receipt. One already past is deleted by the next purge
    (at once by MongoDB's TTL monitor). Each update holds only while the field is still
    missing, so a responder's answer written meanwhile keeps its own. How many it set."""
    changed = 0
    tried: set[str] = set()
    while batch := await without_expiry(store, limit=_STEP_BATCH):
        if tried.issuperset(doc["_id"] for doc in batch):
            raise StorageError("questions without expires_at stay without one after an update")
        tried.update(doc["_id"] for doc in batch)
        ops = [
            Update(
                QUESTIONS.name,
                doc["_id"],
                set={"expires_at": retained_from(settings, _last_moved(doc))},
                when={"expires_at": None},
            )
            for doc in batch
        ]
        changed += sum(await store.write(ops))
    return changed


def _last_moved(question: Document) -> datetime:
    moved = question.get("updated_at") or question.get("received_at")
    if not isinstance(moved, datetime):
        raise StorageError(f"question {question['_id']} has neither updated_at nor received_at")
    return moved


_STEP_BATCH = 500
DATA_STEPS: tuple[DataStep, ...] = (
    DataStep("questions stored without expires_at", expire_the_unexpiring),
)
