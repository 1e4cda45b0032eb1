"""Personal access tokens: ``cashout_pat_`` + 43 random characters; stored as SHA-256 only.

Tokens are 256-bit random values, so a fast hash is safe for storage and lets a request find its
token with one indexed lookup. The prefix lets secret scanners and people recognise a leaked token.
"""

from __future__ import annotations

import enum
import hashlib
import secrets

TOKEN_PREFIX = "cashout_pat_"  # noqa: S105 - a public prefix, not a secret


class Scope(enum.StrEnum):
    """What a token may do: read only, change data, or also administer users and tokens."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    def allows(self, needed: Scope) -> bool:
        """Whether this scope includes ``needed``."""
        order = [Scope.READ, Scope.WRITE, Scope.ADMIN]
        return order.index(self) >= order.index(needed)


class Role(enum.StrEnum):
    """A user's role: the owner (one, created at first start), admins and members."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"

    @property
    def is_admin(self) -> bool:
        """Owners and admins administer users and everyone's tokens."""
        return self in (Role.OWNER, Role.ADMIN)


def generate_token() -> str:
    """A new token string (shown to the user once)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of ``token``."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_hint(token: str) -> str:
    """A non-secret reminder of which token this is (prefix and last four characters)."""
    return f"{TOKEN_PREFIX}...{token[-4:]}"
