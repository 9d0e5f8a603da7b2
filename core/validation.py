"""Field types shared by several domains' schemas."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

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
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
