"""Passwords: the rule a new one must pass, and argon2id hashing, off the event loop."""

from __future__ import annotations

import asyncio
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD = 12
MAX_PASSWORD = 256  # hashing a megabyte of "password" costs the service, not the caller
# The commonest passwords of 12 characters or more: each passes a length rule alone.
_COMMON = frozenset(
    {
        "password1234",
        "passwordpassword",
        "123456789012",
        "qwertyuiopas",
        "qwerty123456",
        "1q2w3e4r5t6y",
        "letmein12345",
        "welcome12345",
        "iloveyou1234",
        "administrator",
        "changeme1234",
        "abcdefghijkl",
        "abc123456789",
        "police123456",
        "password123!",
    }
)

# argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): about 80 ms a hash on
# a 2-core server, where the library's default (64 MiB, 3 passes, 4 lanes) took 0.5 s; an
# attacker offline pays the memory per guess all the same. A stored hash with other
# parameters is rehashed with these at its next sign-in.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def password_problems(password: str, email: str = "") -> list[str]:
    """Why a password is too weak (nothing when it will do), in the words a form shows."""
    if len(password) < MIN_PASSWORD:
        return [
            f"a password needs at least {MIN_PASSWORD} characters (this one has {len(password)})"
        ]
    if len(password) > MAX_PASSWORD:
        return [f"a password may have at most {MAX_PASSWORD} characters"]
    lowered = password.lower()
    local = email.partition("@")[0].lower()
    problems = []
    if lowered in _COMMON or len(set(lowered)) < 5:
        problems.append("this password is too easy to guess: use a few unrelated words")
    elif len(local) >= 4 and local in lowered:
        problems.append("a password must not contain the e-mail address")
    return problems


async def hash_password(password: str) -> str:
    # Tens of milliseconds of CPU: off the event loop, so other requests go on meanwhile.
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


@lru_cache(maxsize=1)
def stand_in_hash() -> str:
    """A hash no password matches, checked for an unknown e-mail so that it costs the
    same time as a wrong password (the time would otherwise tell which accounts exist)."""
    return _hasher.hash("stand-in for an account that does not exist")


# --- accounts ------------------------------------------------------------------------


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
