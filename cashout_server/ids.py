"""Stable public identifiers: a type prefix plus a time-ordered, random ULID-style body.

Public ids never change and never expose row numbers; ``itm_01JD...`` tells a reader what it
names. Bodies are 26 Crockford base32 characters (48 bits of milliseconds, 80 random bits).
"""

from __future__ import annotations

import re
import secrets
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_BODY = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")

PREFIXES = {
    "user": "usr",
    "token": "tok",
    "connection": "con",
    "item": "itm",
    "photo": "pho",
    "listing": "lst",
    "delivery": "dlv",
    "approval": "apr",
    "sale": "sal",
    "lead": "led",
    "message": "msg",
    "payment": "pay",
    "job_run": "run",
    "rule": "rul",
}


def new_id(kind: str) -> str:
    """Return a new public id for ``kind`` (a key of :data:`PREFIXES`)."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return f"{PREFIXES[kind]}_{''.join(reversed(chars))}"


def is_valid(kind: str, public_id: str) -> bool:
    """Whether ``public_id`` is well-formed for ``kind`` (says nothing of existence)."""
    prefix, _, body = public_id.partition("_")
    return prefix == PREFIXES[kind] and bool(_BODY.match(body))
