"""Team members' passwords: the policy, and argon2id hashes (argon2-cffi, its default
parameters: 64 MiB, 3 passes, 4 lanes; about 50 ms of CPU).

Hashing runs in worker threads, a few at a time: each takes 64 MiB while it runs and
would otherwise stall every other request of the gateway. An unknown account is checked
against a dummy hash, so a wrong email costs what a wrong password costs."""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from resonanz.shared.errors import InvalidInput

MIN_LENGTH, MAX_LENGTH = 10, 256
CONCURRENT_HASHES = 4

_hasher = PasswordHasher()
_slots = asyncio.Semaphore(CONCURRENT_HASHES)


def check_policy(password: str, email: str | None) -> None:
    """10 to 256 characters, and not the member's email: else a 400 naming `password`."""
    problem = None
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        problem = f"must be {MIN_LENGTH} to {MAX_LENGTH} characters long"
    elif email is not None and password.strip().casefold() == email.strip().casefold():
        problem = "must not be your email address"
    elif "\x00" in password:
        problem = "may not contain NUL characters"
    if problem:
        raise InvalidInput(f"password {problem}",
                           details=[{"field": "password", "message": problem}])


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("no member has this password, it only costs the time of a check")


async def hash_password(password: str) -> str:
    async with _slots:
        return await asyncio.to_thread(_hasher.hash, password)


async def verify(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches; a missing hash (no such member, no password set) is
    checked against the dummy so that it takes as long and fails."""
    async with _slots:
        return await asyncio.to_thread(_verify, stored_hash, password)


def _verify(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
