"""Whether a public text is the citizen's own words: what publishing refuses
(`questions.publishing`) and what an asker's erasure takes out of the FAQ (`rights.erasure`).

Compared as a reader compares: composed form (NFKC), case, and runs of spaces and line breaks
ignored. Only a copy is caught, not a text the responder edited a little: publishing asks
for the responder's own public title and text, and this guard stops the copy-and-paste.
"""

from __future__ import annotations

import unicodedata

from core.storage import Document


def _words(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def as_asked(question: Document, public: str) -> bool:
    """Whether `public` is the question's title or body as the citizen wrote it."""
    said = _words(public)
    return any(
        isinstance(asked, str) and _words(asked) == said
        for asked in (question.get("title"), question.get("body"))
    )


def published_as_asked(question: Document, entry: Document) -> bool:
    """Whether the FAQ entry shows the question's own words as its title or text: what an
    older version published when the responder gave no public text of their own."""
    return any(
        isinstance(public, str) and as_asked(question, public)
        for public in (entry.get("title"), entry.get("question"))
    )
