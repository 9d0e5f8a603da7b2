"""EU DCC revocation (eHealth Network, 2022): a country revokes certificates by listing, per
signer `kid`, hashes of what identifies each one; a verifier hashes the certificate in hand
the same ways and looks the results up. Nothing is fetched: admins load the lists.

Each entry is the first 16 bytes of a SHA-256, of:

- `SIGNATURE`: the COSE signature. For ES256 only its first half, `r`, as the specification
  and the national verifiers do: `s` can be replaced by `n - s`, which gives another valid
  signature of the same certificate, so an entry over `r || s` would be dodged by whoever
  flips it (and would never match the lists countries publish). For PS256 the whole signature.
- `UCI`: the certificate's unique identifier (`ci`), as UTF-8.
- `COUNTRYCODEUCI`: the issuing country (the CWT `iss` claim) followed by the UCI, as UTF-8.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from typing import Literal

from certificates.trust import ES256, PS256, TrustEntryInvalid

HashType = Literal["SIGNATURE", "UCI", "COUNTRYCODEUCI"]
HASH_TYPES: tuple[HashType, ...] = ("SIGNATURE", "UCI", "COUNTRYCODEUCI")
ENTRY_BYTES = 16
# Per signer and hash type. The EU gateway hands lists out in batches of 1,000; a list
# this long is still one document a verifier reads once per trust-list version.
MAX_HASHES = 10_000
# Standard base64 of 16 bytes, padded: what the gateway publishes. ASCII only, spelled out.
_ENTRY = re.compile(r"[A-Za-z0-9+/]{22}==")


def parse_hashes(values: Sequence[object]) -> frozenset[bytes]:
    """The entries of one list, each base64 of exactly 16 bytes in its one canonical spelling
    (two spellings of the same bytes would be one entry under two names)."""
    if len(values) > MAX_HASHES:
        raise TrustEntryInvalid(
            "hashes",
            f"a revocation list holds at most {MAX_HASHES} hashes",
            f"danh sách thu hồi có tối đa {MAX_HASHES} mã băm",
        )
    entries: set[bytes] = set()
    for value in values:
        entry = _entry_bytes(value)
        if entry is None:
            raise TrustEntryInvalid(
                "hashes",
                "every hash must be standard base64 of 16 bytes",
                "mỗi mã băm phải là base64 chuẩn của đúng 16 byte",
            )
        entries.add(entry)
    return frozenset(entries)


def _entry_bytes(value: object) -> bytes | None:
    if not isinstance(value, str) or not _ENTRY.fullmatch(value):
        return None
    try:
        entry = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(entry) != ENTRY_BYTES or entry_text(entry) != value:
        return None
    return entry


def entry_text(entry: bytes) -> str:
    return base64.b64encode(entry).decode()


def _entry(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[:ENTRY_BYTES]


def certificate_entries(
    *, alg: int | None, signature: bytes, country: str | None, ucis: Sequence[str]
) -> list[tuple[HashType, bytes]]:
    """What a list may name this certificate by. A hash whose input the certificate lacks
    (no `iss`, an algorithm we do not verify) is left out, not guessed."""
    entries: list[tuple[HashType, bytes]] = []
    if alg == ES256:
        entries.append(("SIGNATURE", _entry(signature[: len(signature) // 2])))
    elif alg == PS256:
        entries.append(("SIGNATURE", _entry(signature)))
    for uci in ucis:
        entries.append(("UCI", _entry(uci.encode())))
        if country is not None:
            entries.append(("COUNTRYCODEUCI", _entry((country + uci).encode())))
    return entries
