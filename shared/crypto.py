"""Secrets at rest: AES-256-GCM under the application's key ring.

`RESONANZ_ENCRYPTION_KEYS` holds one or more keys, comma-separated, each 32 random bytes
in base64url (`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`). The first
key encrypts; every key decrypts. Each ciphertext names its key by a short digest of it,
so rotation is: put a new key first, keep the old ones until every stored value has been
rewritten under the new key, then drop them.

A value is sealed to a context (the table, column and row it belongs to): a ciphertext
copied into another row does not decrypt there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"
NONCE_BYTES = 12
KEY_BYTES = 32
# Used only under RESONANZ_ENV=development when no key is configured.
DEVELOPMENT_KEY = base64.urlsafe_b64encode(b"resonanz-development-only-key!!!").decode()


class UndecryptableSecret(Exception):
    """A stored secret that no key of the ring opens (wrong key, or tampered with)."""


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class KeyRing:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._keys = {self.key_id(key): AESGCM(key) for key in keys}
        self._current = self.key_id(keys[0])

    @staticmethod
    def key_id(key: bytes) -> str:
        return hashlib.sha256(key).hexdigest()[:8]

    @classmethod
    def from_setting(cls, value: str) -> KeyRing:
        """Keys as the setting gives them; a ValueError says what is wrong."""
        keys = []
        for n, text in enumerate(part.strip() for part in value.split(",") if part.strip()):
            try:
                key = _b64decode(text)
            except (binascii.Error, ValueError):
                raise ValueError(f"key {n + 1} is not base64url") from None
            if len(key) != KEY_BYTES:
                raise ValueError(f"key {n + 1} has {len(key)} bytes, not {KEY_BYTES}")
            keys.append(key)
        return cls(keys)

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self._current].encrypt(nonce, plaintext.encode(), context.encode())
        return f"{VERSION}:{self._current}:{_b64encode(nonce + sealed)}"

    def decrypt(self, token: str, context: str) -> str:
        version, key_id, body = [*token.split(":", 2), "", ""][:3]
        cipher = self._keys.get(key_id)
        if version != VERSION or cipher is None:
            raise UndecryptableSecret(f"no key {key_id!r} in the ring")
        raw = _b64decode(body)
        try:
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
        except InvalidTag:
            raise UndecryptableSecret("the secret does not open under its key") from None

    def is_current(self, token: str) -> bool:
        """Whether `token` is sealed under the first key (rotation rewrites the others)."""
        return token.split(":", 2)[1:2] == [self._current]
