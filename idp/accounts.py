"""People's accounts: creation and password login with argon2id (RFC 9106 parameters via argon2-cffi)."""

from __future__ import annotations

import re
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from idp.storage import Store
from idp.storage.models import User

# argon2-cffi's defaults follow RFC 9106's second recommended option and use argon2id.
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("porta-dummy-password-for-timing")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 8


class AccountError(ValueError):
    """A person-facing problem with account data (bad email, short password, taken email)."""


def create_user(store: Store, email: str, password: str, name: str | None = None) -> User:
    """Create a person with a hashed password and a minimal profile."""
    email = email.strip()
    if not EMAIL.match(email):
        raise AccountError(f"{email!r} is not an email address")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if store.get_user_by_email(email) is not None:
        raise AccountError(f"an account for {email} already exists")
    profile: dict[str, Any] = {"email": email.lower(), "email_verified": False}
    if name:
        profile["name"] = name
        parts = name.split()
        if len(parts) > 1:
            profile["given_name"] = parts[0]
            profile["family_name"] = parts[-1]
    return store.create_user(email, _hasher.hash(password), profile)


def authenticate(store: Store, email: str, password: str) -> User | None:
    """The person whose email and password these are, or None.

    An unknown email costs the same argon2 work as a wrong password, so timing
    does not reveal which accounts exist.
    """
    user = store.get_user_by_email(email) if email else None
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        store.set_password_hash(user, _hasher.hash(password))
    return user
