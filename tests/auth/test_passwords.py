from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from llmforge.auth.passwords import (MAX_PASSWORD_CHARS, check_new_password, hash_password, needs_rehash,
                                     verify_password)
from llmforge.errors import UsageError


def test_hash_is_salted_argon2id_with_enough_memory() -> None:
    first, second = hash_password("correct horse battery"), hash_password("correct horse battery")
    assert first.startswith("$argon2id$") and first != second
    params = dict(part.split("=") for part in first.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024  # OWASP: at least 19 MiB
    assert verify_password(first, "correct horse battery") and verify_password(second, "correct horse battery")
    assert not verify_password(first, "correct horse batterY")


def test_same_password_typed_in_another_unicode_form_matches() -> None:
    stored = hash_password("passphrase1234")
    assert verify_password(stored, "passphrase\uff11\uff12\uff13\uff14")  # full-width digits


@pytest.mark.parametrize("password", ["", "x" * (MAX_PASSWORD_CHARS + 1)])
def test_empty_and_overlong_passwords_never_verify(password: str) -> None:
    assert not verify_password(hash_password("correct horse battery"), password)
    with pytest.raises(UsageError):
        hash_password(password)


def test_garbage_hash_does_not_raise() -> None:
    assert not verify_password("not a hash", "correct horse battery")


def test_new_password_rules() -> None:
    check_new_password("x" * 12, 12)
    with pytest.raises(UsageError, match="at least 12 characters"):
        check_new_password("x" * 11, 12)
    with pytest.raises(UsageError, match="empty"):
        check_new_password("   ", 0)
    with pytest.raises(UsageError, match="longer than 1024"):
        check_new_password("x" * 1025, 12)


def test_hash_made_with_other_parameters_needs_rehash() -> None:
    assert not needs_rehash(hash_password("correct horse battery"))
    assert needs_rehash(PasswordHasher(time_cost=1, memory_cost=8 * 1024).hash("correct horse battery"))
