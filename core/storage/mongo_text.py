"""Text search on MongoDB: a text index over folded copies of the text fields.

MongoDB's text index (version 3) ignores case and diacritics, but its diacritic table comes
from canonical decomposition, and đ/Đ has none: "Đăng ký" would stay `đang ky` and never
match `dang ky`. So the adapter stores, beside each document of a searchable collection,
`_text: {field: fold(value)}` (`core.storage.text.fold`), writes it in the same operation as
the fields it copies (insert, `$set`, `$setOnInsert`), indexes `_text.<field>` with the text
index's weights and `default_language: "none"` (no stemming, no stop words: neither fits
Vietnamese), and strips `_text` from every document it returns. The query is folded the
same way, so both sides of the comparison are folded by the same code.

`$text` matches any of the words; results are ordered by `textScore`, ties by `_id`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.storage.port import CollectionSpec, Document, TextIndex
from core.storage.text import fold, search_terms

SHADOW = "_text"
HIDE_SHADOW: Mapping[str, int] = {SHADOW: 0}


def text_index_name(collection: str) -> str:
    return "text_" + collection


def index_model(spec: CollectionSpec) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """Keys and options of the collection's text index (one per collection on MongoDB)."""
    assert spec.text is not None
    index = spec.text
    keys = [(f"{SHADOW}.{field}", "text") for field in index.fields]
    weights = {f"{SHADOW}.{field}": index.weight(n) for n, field in enumerate(index.fields)}
    options = {"weights": weights, "default_language": "none", "name": text_index_name(spec.name)}
    return keys, options


def _copy(value: Any) -> str:
    return fold(value) if isinstance(value, str) else ""


def with_shadow(index: TextIndex, document: Document) -> Document:
    """The document to insert: `document` and the folded copies of its text fields."""
    return {**document, SHADOW: {field: _copy(document.get(field)) for field in index.fields}}


def shadow_sets(index: TextIndex, fields: Mapping[str, Any]) -> dict[str, str]:
    """The `$set` (or `$setOnInsert`) entries that keep the copies of the text fields
    among `fields` in step."""
    return {f"{SHADOW}.{name}": _copy(fields[name]) for name in index.fields if name in fields}


def text_query(text: str) -> dict[str, Any] | None:
    """The `$text` condition for `text`: its folded words, which hold no quote or minus
    that `$search` would read as a phrase or a negation. None: no word."""
    terms = search_terms(text)
    return {"$search": " ".join(terms)} if terms else None


SORT_BY_SCORE: list[tuple[str, Any]] = [("score", {"$meta": "textScore"}), ("_id", 1)]
