"""Encryption at rest for secrets (the customer's Intacct password).

Keys come from ``settings.FIELD_ENCRYPTION_KEYS``, newest first: the first key encrypts, every key
decrypts, so a key is rotated by putting a new one in front, running ``manage.py
rotate_encryption_keys``, and only then dropping the old one.

A decrypted value is a :class:`Secret`: it prints as ``••••`` in reprs, logs, templates and error
pages, refuses to be pickled (so it never travels as a task argument), and hands its plaintext out
only through :meth:`Secret.reveal`.
"""

from __future__ import annotations

import hmac
from functools import lru_cache
from typing import NoReturn

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "MASK",
    "InvalidToken",
    "Secret",
    "decrypt",
    "encrypt",
    "is_current",
    "rotate",
    "try_decrypt",
]

MASK = "••••"


class Secret:
    """A plaintext secret that does not show itself.

    ``str()`` gives ``"•••• (set)"`` (empty when unset), ``repr()`` never shows the value, and
    ``reveal()`` is the one, greppable way to the plaintext (to sign in to Intacct).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"a Secret wraps a str, not {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __str__(self) -> str:
        return f"{MASK} (set)" if self._value else ""

    def __repr__(self) -> str:
        return f"Secret('{MASK}')" if self._value else "Secret('')"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        # Constant: a hash of the value would say something about it.
        return hash(Secret)

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Secret:
        return self

    def __reduce__(self) -> NoReturn:
        # Pickles end up in task queues, caches and sessions.
        raise TypeError("A Secret is never pickled: pass the row's id and read it there.")


@lru_cache(maxsize=8)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty: encrypted fields need a key.")
    return MultiFernet([Fernet(key) for key in keys])


@lru_cache(maxsize=8)
def _first_fernet(key: str) -> Fernet:
    return Fernet(key)


def _keys() -> tuple[str, ...]:
    return tuple(settings.FIELD_ENCRYPTION_KEYS)


def encrypt(plaintext: str) -> str:
    """The Fernet token of ``plaintext``, made with the first key."""
    return _multi_fernet(_keys()).encrypt(plaintext.encode()).decode("ascii")


def decrypt(token: str) -> str:
    """The plaintext of ``token``, trying every key; raises :class:`InvalidToken` if none fits."""
    return _multi_fernet(_keys()).decrypt(token.encode("ascii")).decode()


def try_decrypt(value: str) -> str | None:
    """The plaintext if ``value`` is a token one of our keys made, else ``None``."""
    try:
        return decrypt(value)
    except (InvalidToken, UnicodeError):
        return None


def is_current(token: str) -> bool:
    """Whether ``token`` was made with the first key (rotation has nothing to do)."""
    keys = _keys()
    if not keys:
        return False
    try:
        _first_fernet(keys[0]).decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeError):
        return False
    return True


def rotate(token: str) -> str:
    """``token`` re-encrypted with the first key, keeping its timestamp; raises
    :class:`InvalidToken` if no key decrypts it."""
    return _multi_fernet(_keys()).rotate(token.encode("ascii")).decode("ascii")
