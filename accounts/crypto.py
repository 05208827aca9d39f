"""Encryption at rest for tokens: Fernet keys from the environment, rotation by MultiFernet."""

import base64
import functools
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models


@functools.cache
def _fernet() -> MultiFernet:
    keys = list(settings.GATEHOUSE_TOKEN_KEYS)
    if not keys:
        # Development only (production refuses to start without keys): derive from SECRET_KEY.
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"gatehouse-token-keys"
        ).derive(settings.SECRET_KEY.encode())
        keys = [base64.urlsafe_b64encode(derived).decode()]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode() if value else ""


def decrypt(value: str) -> str:
    if not value:
        return ""
    try:
        return _fernet().decrypt(value.encode()).decode()
    except InvalidToken as exc:
        raise ValueError(
            "A stored token could not be decrypted: is its key missing from GATEHOUSE_TOKEN_KEYS?"
        ) from exc


def rotate(value: str) -> str:
    """Re-encrypt a stored value under the newest key (after prepending a new key)."""
    return _fernet().rotate(value.encode()).decode() if value else ""


def token_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class EncryptedTextField(models.TextField):
    """Text stored Fernet-encrypted; Python code sees the plain value."""

    def from_db_value(self, value, expression, connection):
        return decrypt(value) if value else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return encrypt(value) if value else value
