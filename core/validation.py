"""Field types shared by several domains' schemas."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints
from pydantic_core import PydanticCustomError

from core.i18n import Text

# [0-9], never \d: \d also matches fullwidth, Arabic-Indic, Devanagari... digits, which made
# look-alike spellings of one number pass as other numbers (other accounts, other limits).
_VN_MOBILE = re.compile(r"\+84[35789][0-9]{8}")
_ANY_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
_ASCII_DIGITS = re.compile(r"[0-9]+")


def ascii_digits(value: str) -> bool:
    """True when `value` is one or more of 0-9 (`str.isdigit` is true for ² and ٣ too)."""
    return _ASCII_DIGITS.fullmatch(value) is not None


def normalise_phone(value: str) -> str:
    """`0912 345 678`, `84912345678` and `+84912345678` are the same Vietnamese number."""
    digits = re.sub(r"[\s.\-()]", "", value)
    if digits.startswith("0") and len(digits) == 10:
        digits = "+84" + digits[1:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "+" + digits
    if digits.startswith("+84") and not _VN_MOBILE.fullmatch(digits):
        raise ValueError("not a Vietnamese mobile number")
    if not _ANY_E164.fullmatch(digits):
        raise ValueError("not a phone number in international format")
    return digits


Phone = Annotated[str, StringConstraints(max_length=32), AfterValidator(normalise_phone)]


def _refused(en: str, vi: str) -> PydanticCustomError:
    """A field error whose message api/problems.py renders in the caller's language."""
    return PydanticCustomError("value_error", en, {"reason": Text(en, vi)})


# Control (Cc), format (Cf: bidi overrides, zero-width spaces), surrogate and private-use
# characters: invisible in a list of names, and the way a name hides or reverses itself.
_UNSEEN = frozenset({"Cc", "Cf", "Cs", "Co"})


def typed_name(value: str) -> str:
    """A name staff or citizens type (a checkpoint's, an organisation's): composed (NFC),
    single spaces, nothing invisible, and something to read once trimmed. Checked after
    tidying: a length checked before it let "   " through, stored as ""."""
    value = " ".join(unicodedata.normalize("NFC", value).split())
    if any(unicodedata.category(ch) in _UNSEEN for ch in value):
        raise _refused(
            "must not contain control or invisible formatting characters",
            "không được có ký tự điều khiển hoặc ký tự định dạng ẩn",
        )
    if not any(unicodedata.category(ch)[0] in "LN" for ch in value):
        raise _refused("must contain letters or digits", "phải có chữ cái hoặc chữ số")
    return value


ShortText = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(typed_name)
]
