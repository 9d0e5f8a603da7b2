"""Folding text for search: the one definition both adapters and the queries use.

Vietnamese is written with up to two diacritics per letter (ế, ộ, ữ) and people search
without them, typing `khai bao y te` for "Khai báo y tế". Folding removes every combining
mark after canonical decomposition, maps đ/Đ to d (a letter of its own in Unicode, with no
decomposition, so no diacritic-removal table touches it: not SQLite's unicode61, not
MongoDB's text index) and lower-cases. A word is a run of letters and digits.
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[^\W_]+")
_D_WITH_STROKE = str.maketrans({"đ": "d", "Đ": "d"})

# A query longer than this is cut: a search is a few words, and every word is one more
# index lookup on either database.
MAX_TERMS = 16
MAX_TERM_LENGTH = 64


def fold(text: str) -> str:
    """`Khai báo Y TẾ, Đăng ký` → `khai bao y te, dang ky`."""
    decomposed = unicodedata.normalize("NFD", text.translate(_D_WITH_STROKE))
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return unicodedata.normalize("NFC", bare).lower()


def words(text: str) -> list[str]:
    """The folded words of `text`, in order."""
    return _WORD.findall(fold(text))


def search_terms(text: str) -> list[str]:
    """The distinct folded words of a query, at most `MAX_TERMS`, each cut to a sane length."""
    terms: list[str] = []
    for word in words(text):
        term = word[:MAX_TERM_LENGTH]
        if term not in terms:
            terms.append(term)
        if len(terms) == MAX_TERMS:
            break
    return terms
