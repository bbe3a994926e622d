"""People's accounts: creation and password login with argon2id (RFC 9106 parameters via argon2-cffi)."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from idp.base.settings import Settings
from idp.storage import Store
from idp.storage.models import User


@cache
def _hasher_for(time_cost: int, memory_kib: int, parallelism: int) -> tuple[PasswordHasher, str]:
    hasher = PasswordHasher(
        time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
    )
    return hasher, hasher.hash("porta-dummy-password-for-timing")


def _hasher() -> tuple[PasswordHasher, str]:
    """The argon2id hasher of the configured cost, and a dummy hash made with it.

    Hashing has no Context, so the cost comes from the environment
    (``PORTA_ARGON2_*``, read once per process by Settings.from_environment).
    """
    settings = Settings.from_environment()
    return _hasher_for(
        settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
    )


EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 8


class AccountError(ValueError):
    """A person-facing problem with account data (bad email, short password, taken email)."""


def hash_password(password: str) -> str:
    """The argon2id hash of a new password, after checking its length."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher()[0].hash(password)


def create_user(
    store: Store,
    email: str,
    password: str | None,
    name: str | None = None,
    *,
    password_hash: str | None = None,
) -> User:
    """Create a person with a hashed password (or one hashed before) and a minimal profile."""
    email = email.strip()
    if not EMAIL.match(email):
        raise AccountError(f"{email!r} is not an email address")
    if password_hash is None:
        password_hash = hash_password(password or "")
    if store.get_user_by_email(email) is not None:
        raise AccountError(f"an account for {email} already exists")
    profile: dict[str, Any] = {"email": email.lower(), "email_verified": False}
    if name:
        profile["name"] = name
        parts = name.split()
        if len(parts) > 1:
            profile["given_name"] = parts[0]
            profile["family_name"] = parts[-1]
    return store.create_user(email, password_hash, profile)


def authenticate(store: Store, email: str, password: str) -> User | None:
    """The person whose email and password these are, or None.

    An unknown email costs the same argon2 work as a wrong password, so timing
    does not reveal which accounts exist.
    """
    hasher, dummy = _hasher()
    user = store.get_user_by_email(email) if email else None
    try:
        hasher.verify(user.password_hash if user else dummy, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if hasher.check_needs_rehash(user.password_hash):
        store.set_password_hash(user, hasher.hash(password))
    return user
