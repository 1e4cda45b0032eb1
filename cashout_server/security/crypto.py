"""Encryption at rest for platform credentials (Fernet, with MultiFernet for key rotation).

Keys come from ``CASHOUT_SECRET_KEYS`` (comma-separated, newest first) or from
``<data_dir>/secret.key`` (one key per line, newest first), created with mode 0600 on first use.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from cashout_server.settings import Settings

KEY_FILE = "secret.key"


class CredentialsUndecryptable(RuntimeError):
    """Stored credentials cannot be decrypted with the configured keys."""


class KeyRing:
    """The configured Fernet keys; encrypts with the newest, decrypts with any."""

    def __init__(self, keys: list[bytes], *, source: str) -> None:
        if not keys:
            raise ValueError("at least one key is required")
        self.keys = keys
        self.source = source
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def encrypt(self, values: Mapping[str, str]) -> str:
        """Encrypt a mapping of credential values to a token string."""
        return self._fernet.encrypt(json.dumps(dict(values), sort_keys=True).encode()).decode()

    def decrypt(self, token: str) -> dict[str, str]:
        """Decrypt a token from :meth:`encrypt`.

        Raises:
            CredentialsUndecryptable: no configured key decrypts it.
        """
        try:
            data = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise CredentialsUndecryptable("stored credentials do not decrypt with the configured keys") from None
        return {str(k): str(v) for k, v in data.items()}

    def rotate(self, token: str) -> str:
        """Re-encrypt ``token`` with the newest key."""
        return self._fernet.rotate(token.encode()).decode()


def _parse_keys(raw: str, where: str) -> list[bytes]:
    keys = [k.strip().encode() for k in raw.replace("\n", ",").split(",") if k.strip()]
    for key in keys:
        try:
            Fernet(key)
        except ValueError:
            raise ValueError(f"{where}: not a valid Fernet key (32 url-safe base64-encoded bytes)") from None
    return keys


def write_key_file(path: Path, keys: list[bytes]) -> None:
    """Write ``keys`` to ``path`` with mode 0600, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(b"\n".join(keys) + b"\n")
    os.replace(tmp, path)
    os.chmod(path, 0o600)


def load_keyring(settings: Settings, *, create: bool = True) -> KeyRing:
    """Load the key ring from the environment or the key file, creating the file if allowed."""
    if settings.security.secret_keys is not None:
        return KeyRing(
            _parse_keys(settings.security.secret_keys.get_secret_value(), "CASHOUT_SECRET_KEYS"), source="env"
        )
    path = settings.data_dir / KEY_FILE
    if path.exists():
        return KeyRing(_parse_keys(path.read_text(), str(path)), source=str(path))
    if not create:
        raise FileNotFoundError(f"no encryption key at {path}")
    keys = [Fernet.generate_key()]
    write_key_file(path, keys)
    return KeyRing(keys, source=str(path))
