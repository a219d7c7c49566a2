"""Argon2id password hashing, run in a worker thread: it is deliberately slow CPU work that
must not stall the event loop."""

from __future__ import annotations

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# RFC 9106's second recommended option (64 MiB, t=3, p=4) is memory-hungry for a 2-core box
# serving many logins; 19 MiB / t=2 / p=1 is OWASP's argon2id minimum and still well above it.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_PASSWORD_LENGTH = 12
# A hash of a random string: verifying against it makes an unknown username cost as much time
# as a known one, so response times don't reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password-for-timing-only")


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def _verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await anyio.to_thread.run_sync(_verify)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
