"""Finding a person by identity number: a keyed hash, never the number itself."""

from __future__ import annotations

from core.context import Context
from people.repository import ID_NUMBER_CONTEXT


def normalise_id_number(number: str) -> str:
    """As the declaration form stores it: no spaces, upper case."""
    return "".join(number.split()).upper()


def id_number_hash(ctx: Context, id_number: str) -> str:
    return ctx.cipher.lookup_hash(id_number, context=ID_NUMBER_CONTEXT)
