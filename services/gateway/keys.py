"""API key format and digests. No I/O.

A key is `rsz_live_` + 30 base62 characters of secret (178 bits) + a 6-character
base62 CRC32 of the secret, like GitHub's tokens: a mistyped key fails the
checksum and is refused before any database lookup. Only an HMAC-SHA-256 of the
whole key under a server-side pepper is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import zlib

PREFIX = "rsz_live_"
ALPHABET = string.digits + string.ascii_letters
SECRET_LENGTH = 30
CHECKSUM_LENGTH = 6
KEY_PATTERN = re.compile(rf"^{PREFIX}([0-9A-Za-z]{{{SECRET_LENGTH + CHECKSUM_LENGTH}}})$")
VISIBLE_CHARS = len(PREFIX) + 6


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(ALPHABET[rest])
    return "".join(reversed(digits)).rjust(width, "0")


def _checksum(secret: str) -> str:
    return _base62(zlib.crc32(secret.encode()), CHECKSUM_LENGTH)


def generate_key() -> str:
    secret = "".join(secrets.choice(ALPHABET) for _ in range(SECRET_LENGTH))
    return f"{PREFIX}{secret}{_checksum(secret)}"


def is_well_formed(key: str) -> bool:
    match = KEY_PATTERN.match(key)
    if match is None:
        return False
    body = match.group(1)
    return hmac.compare_digest(_checksum(body[:SECRET_LENGTH]), body[SECRET_LENGTH:])


def digest(key: str, pepper: bytes) -> bytes:
    return hmac.new(pepper, key.encode(), hashlib.sha256).digest()


def visible_prefix(key: str) -> str:
    return key[:VISIBLE_CHARS]
