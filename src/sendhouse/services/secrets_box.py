"""Encryption at rest of secrets the database must keep (DKIM private keys).

A Fernet key (AES-128-CBC + HMAC-SHA256) is derived from the server's secret key with HKDF, so a
database dump alone does not reveal the secrets, and rotating the secret key makes them unreadable.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sendhouse.config import Settings
from sendhouse.errors import AppError

_INFO = b"sendhouse secrets box v1"


@lru_cache(maxsize=16)
def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(settings: Settings, plaintext: str) -> str:
    """Encrypt a secret for storage (an opaque URL-safe token)."""
    return _fernet(settings.resolved_secret_key()).encrypt(plaintext.encode()).decode("ascii")


def open_sealed(settings: Settings, token: str) -> str:
    """Decrypt what `seal` stored; a changed secret key or tampered token is an AppError."""
    try:
        return _fernet(settings.resolved_secret_key()).decrypt(token.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        raise AppError(
            "A stored secret could not be decrypted (was the secret key changed?)", code="SECRET_UNREADABLE"
        ) from None
