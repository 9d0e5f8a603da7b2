"""Text indexes and `$text` queries for the MongoDB stand-in (mongomock has neither).

What it does, as mongod does with a version 3 text index and `default_language: "none"`:

* one text index per collection, its fields listed with `"text"` keys and optional
  `weights` (default 1); `listIndexes` reports it as mongod does (`_fts`/`_ftsx` key);
* `find` with `{$text: {$search: "a b"}, ...other conditions}` matches documents whose
  indexed fields hold any of the words, compared case- and diacritic-insensitively, where
  "diacritic" means a combining mark after canonical decomposition (like mongod's table,
  so đ/Đ is NOT folded to d, on either side); a word is a run of letters and digits;
* a score per document, mongod's formula for language "none": for each word of the query
  found in a field of weight w with n words, w · freq · (0.5 · count / n + 0.5), where
  count is the word's occurrences and freq = 1 + 1/2 + 1/4 … (one term per occurrence),
  with mongod's 1.1 boost when the field is exactly that word; summed over fields and
  words. `{$meta: "textScore"}` works in the projection and in the sort.

What it does NOT do: languages other than "none" (stemming and stop words), phrases
(`"…"`) and negations (`-word`) in `$search`, `$language`, `$caseSensitive`,
`$diacriticSensitive`, wildcard (`$**`) or compound text indexes with other key types,
`$text` in `count`, `aggregate` or updates, and mongod's exact Unicode delimiter table
(Python's notion of a letter or digit stands in for it). No index is kept: every query
scores every document matching the other conditions, which is fine for test data sizes.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Doc = dict[str, Any]
_WORD = re.compile(r"[^\W_]+")
META_SCORE = {"$meta": "textScore"}


def server_words(text: str) -> list[str]:
    """Words as a version 3 text index sees them: case-folded, combining marks removed."""
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _WORD.findall(unicodedata.normalize("NFC", bare).casefold())


@dataclass(frozen=True)
class TextIndexSpec:
    name: str
    weights: dict[str, int]
    default_language: str

    @classmethod
    def from_request(cls, spec: Doc) -> TextIndexSpec:
        keys = dict(spec["key"])
        if any(value != "text" for value in keys.values()) or "$**" in keys:
            raise NotImplementedError("text indexes mixed with other keys, or wildcard")
        language = spec.get("default_language", "english")
        if language != "none":
            raise NotImplementedError(f"text index language {language!r} (only 'none')")
        weights = {field: 1 for field in keys} | {
            str(k): int(v) for k, v in (spec.get("weights") or {}).items()
        }
        name = spec.get("name") or "_".join(f"{k}_text" for k in keys)
        return cls(name=name, weights=weights, default_language=language)

    def describe(self) -> Doc:
        """The index as `listIndexes` shows it on mongod."""
        return {
            "v": 2,
            "key": {"_fts": "text", "_ftsx": 1},
            "name": self.name,
            "weights": dict(self.weights),
            "default_language": self.default_language,
            "language_override": "language",
            "textIndexVersion": 3,
        }

    def score(self, doc: Doc, terms: list[str]) -> float:
        total = 0.0
        for field, weight in self.weights.items():
            value = _get(doc, field)
            if not isinstance(value, str):
                continue
            found = server_words(value)
            counts = Counter(found)
            for term in terms:
                count = counts.get(term, 0)
                if not count:
                    continue
                freq = sum(1 / 2**i for i in range(count))
                coeff = 0.5 * count / len(found) + 0.5
                boost = 1.1 if value.casefold() == term else 1.0
                total += weight * freq * coeff * boost
        return total


def _get(doc: Doc, path: str) -> Any:
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _by_field(path: str) -> Callable[[tuple[Doc, float]], Any]:
    return lambda pair: _get(pair[0], path)


def query_terms(text: Doc) -> list[str]:
    """The words of a `$text` condition."""
    extra = set(text) - {"$search"}
    if extra:
        raise NotImplementedError(f"$text options {sorted(extra)}")
    search = text.get("$search")
    if not isinstance(search, str):
        raise TypeError("$search must be a string")
    if '"' in search or re.search(r"(^|\s)-", search):
        raise NotImplementedError("phrases and negations in $search")
    terms: list[str] = []
    for word in server_words(search):
        if word not in terms:
            terms.append(word)
    return terms


def find_text(
    coll: Any,
    index: TextIndexSpec,
    flt: Doc,
    *,
    projection: Doc | None,
    sort: list[tuple[str, Any]] | None,
    skip: int,
    limit: int,
) -> list[Doc]:
    """Run a `find` whose filter holds `$text` against mongomock collection `coll`."""
    rest = {key: value for key, value in flt.items() if key != "$text"}
    terms = query_terms(flt["$text"])
    scored = [(doc, index.score(doc, terms)) for doc in coll.find(rest)]
    matches = [(doc, score) for doc, score in scored if score > 0]
    for key, direction in reversed(sort or []):
        if direction == META_SCORE:
            matches.sort(key=lambda pair: pair[1], reverse=True)
        elif direction in (1, -1):
            matches.sort(key=_by_field(key), reverse=direction == -1)
        else:
            raise NotImplementedError(f"sort {direction!r}")
    matches = matches[skip:]
    if limit:
        matches = matches[:limit]
    meta = {k for k, v in (projection or {}).items() if v == META_SCORE}
    plain = {k: v for k, v in (projection or {}).items() if k not in meta}
    ids = [doc["_id"] for doc, _ in matches]
    projected = {doc["_id"]: doc for doc in coll.find({"_id": {"$in": ids}}, plain or None)}
    out: list[Doc] = []
    for doc, score in matches:
        shown = dict(projected[doc["_id"]])
        for key in meta:
            shown[key] = score
        out.append(shown)
    return out
