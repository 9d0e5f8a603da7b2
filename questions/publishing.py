"""What a published FAQ entry may hold: the responder's own public title and text and the
answer, never the asker's words, and no phone or identity number in any of them.

Publishing without the responder's own text is `PublicTextRequired`, with a copy of what
was asked `PublicTextAsAsked` (`questions.wording`), with what reads as a phone or identity
number, in any script's digits, `PublicTextHasNumber`. The move that publishes is
`questions.answering`.
"""

from __future__ import annotations

import re
import unicodedata

from core.clock import new_id, utcnow
from core.errors import ValidationFailed
from core.i18n import Text
from core.storage import Document
from questions.schemas import AnswerIn
from questions.wording import as_asked

# Nine or more digits, single spaces, dots or dashes allowed between them: a phone number
# (0912 345 678, +84 912.345.678) or an identity number (12 digits). Hotlines such as
# 1900 9095 or 19009095 have eight and stay allowed. Matched on `_as_ascii` of the text.
_LONG_NUMBER = re.compile(r"[0-9](?:[ .\-]?[0-9]){8,}")
# Full stops and number separators of other scripts that NFKC leaves as they are.
_DOTS = frozenset("\u066b\u066c\u00b7\u3002\u30fb")


class PublicTextHasNumber(ValidationFailed):
    code = "public_text_has_number"
    title = Text("Remove numbers before publishing", "Hãy xoá số trước khi công khai")
    detail = Text(
        "The public text holds what looks like a phone or identity number. Edit it out.",
        "Nội dung công khai có số giống số điện thoại hoặc số giấy tờ. Hãy xoá đi.",
    )


class PublicTextRequired(ValidationFailed):
    code = "public_text_required"
    title = Text("Write the public text to publish", "Hãy viết nội dung công khai")
    detail = Text(
        "Publishing needs the question as the FAQ shows it, in your own words: "
        "public_title and public_body.",
        "Muốn công khai cần có câu hỏi như sẽ hiện trong mục hỏi đáp, do bạn viết lại: "
        "public_title và public_body.",
    )

    def __init__(self, missing: list[str]) -> None:
        message = Text(
            "is required to publish: write it in your own words, naming nobody",
            "bắt buộc khi công khai: hãy tự viết lại, không nêu tên ai",
        )
        super().__init__(
            errors=[{"field": name, "code": "missing", "message": message} for name in missing]
        )


class PublicTextAsAsked(ValidationFailed):
    code = "public_text_as_asked"
    title = Text("Write the public text in your own words", "Hãy tự viết lại nội dung công khai")
    detail = Text(
        "The public text repeats what the citizen wrote. Rewrite it without their details.",
        "Nội dung công khai lặp lại lời người hỏi. Hãy viết lại, bỏ thông tin của họ.",
    )

    def __init__(self, copied: list[str]) -> None:
        message = Text(
            "is the citizen's own text: rewrite it", "là nguyên văn lời người hỏi: hãy viết lại"
        )
        super().__init__(
            errors=[{"field": name, "code": "as_asked", "message": message} for name in copied]
        )


def _as_ascii(text: str) -> str:
    """`text` as the guard reads it: a number spelled in full-width (０９１２), Arabic-Indic
    (٠٩١٢), Persian (۰۹۱۲), mathematical (𝟎𝟗𝟏𝟐) or any other script's decimal digits reads as
    0912, its spaces, dashes and dots of any script as ` `, `-` and `.`, and invisible
    characters (zero-width spaces, soft hyphens, stray combining marks) are dropped, so no
    spelling a reader sees as a phone number slips past `_LONG_NUMBER`. Only for the check:
    the text is published as written."""
    out = []
    for char in unicodedata.normalize("NFKC", text):
        category = unicodedata.category(char)
        if category in ("Cf", "Mn"):
            continue
        if char.isdecimal():
            out.append(str(unicodedata.decimal(char)))
        elif char.isspace():
            out.append(" ")
        elif category == "Pd" or char == "\u2212":  # dashes, and the minus sign
            out.append("-")
        elif char in _DOTS:
            out.append(".")
        else:
            out.append(char)
    return "".join(out)


def public_text(given: AnswerIn) -> tuple[str, str]:
    """The title and text a published answer shows: the responder's own, both required,
    so nothing is ever published as the citizen wrote it."""
    if given.public_title is None or given.public_body is None:
        missing = [name for name in ("public_title", "public_body") if getattr(given, name) is None]
        raise PublicTextRequired(missing)
    return given.public_title, given.public_body


def new_faq_entry(question: Document, answer: str, public: tuple[str, str]) -> Document:
    title, text = public
    copied = [
        name
        for name, public in (("public_title", title), ("public_body", text))
        if as_asked(question, public)
    ]
    if copied:
        raise PublicTextAsAsked(copied)
    if any(_LONG_NUMBER.search(_as_ascii(part)) for part in (title, text, answer)):
        raise PublicTextHasNumber()
    # Only these fields: nothing of the asker, nor the question's id, is copied.
    return {
        "_id": new_id("faq"),
        "category": question["category"],
        "title": title,
        "question": text,
        "answer": answer,
        "published_at": utcnow(),
    }
