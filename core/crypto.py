"""Field encryption (AES-GCM) and keyed lookup hashes (HMAC-SHA256) for personal data.

Identity numbers and phones are stored only as ciphertext plus a keyed hash: the hash lets
us find "the person with CCCD 0011..." without the plaintext being in the database, and
without the hash being reversible by someone who has the database but not the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"


class FieldCipher:
    def __init__(self, data_key_b64: str, hash_key: str) -> None:
        key = base64.b64decode(data_key_b64)
        if len(key) != 32:
            raise ValueError("KHAIBAO_DATA_KEY must be 32 bytes, base64-encoded")
        self._aead = AESGCM(key)
        self._hash_key = hashlib.sha256(b"khaibao-lookup:" + hash_key.encode()).digest()

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """Ciphertext as text. `context` binds it to its field, so a phone's ciphertext cannot
        be pasted into the identity-number field and decrypted there."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return base64.urlsafe_b64encode(_VERSION + nonce + sealed).decode()

    def decrypt(self, token: str, *, context: str) -> str:
        raw = base64.urlsafe_b64decode(token.encode())
        if raw[:1] != _VERSION:
            raise ValueError("unknown ciphertext version")
        return self._aead.decrypt(raw[1:13], raw[13:], context.encode()).decode()

    def lookup_hash(self, value: str, *, context: str) -> str:
        """A keyed hash for equality lookups; the same value in another field hashes apart."""
        return hmac.digest(self._hash_key, f"{context}\x00{value}".encode(), "sha256").hex()
