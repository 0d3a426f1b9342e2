"""User passwords, hashed with argon2id (memory-hard, the OWASP recommendation).

The library's defaults (RFC 9106 "low memory": 64 MiB, 3 passes, 4 lanes) are above OWASP's
minimum of 19 MiB. A stored hash carries its own parameters, so raising them later only needs
:func:`needs_rehash` at the next successful login.

Passwords are compared in Unicode NFKC form, so the same password typed on another keyboard
(Arabic presentation forms, full-width digits) still matches.
"""

from __future__ import annotations

import functools
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from llmforge.errors import UsageError

MAX_PASSWORD_CHARS = 1024  # longer input is refused before hashing: no work for an attacker's megabytes

_HASHER = PasswordHasher()


def check_new_password(password: str, min_length: int) -> None:
    """Refuse a password too short (``auth.min_password_length``), too long or blank."""
    if not password.strip():
        raise UsageError("the password is empty")
    if len(password) > MAX_PASSWORD_CHARS:
        raise UsageError(f"the password is longer than {MAX_PASSWORD_CHARS} characters")
    if len(password) < min_length:
        raise UsageError(f"the password must have at least {min_length} characters (setting "
                         "auth.min_password_length)")


def hash_password(password: str) -> str:
    """The argon2id hash to store (salted, with its parameters in the string)."""
    if not password or len(password) > MAX_PASSWORD_CHARS:
        raise UsageError(f"a password has 1 to {MAX_PASSWORD_CHARS} characters")
    return _HASHER.hash(_normal(password))


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (the comparison is the library's, in
    constant time); False, never an exception, for a wrong, empty or overlong password."""
    if not password or len(password) > MAX_PASSWORD_CHARS:
        return False
    try:
        return _HASHER.verify(password_hash, _normal(password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash was made with other parameters than today's (rehash at login)."""
    return _HASHER.check_needs_rehash(password_hash)


@functools.cache
def dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so the answer takes as long as for
    a real user and its timing does not tell which names exist."""
    return _HASHER.hash("not a real password, only spends the time a real check takes")


def _normal(password: str) -> str:
    return unicodedata.normalize("NFKC", password)
