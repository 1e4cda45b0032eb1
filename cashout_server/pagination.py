"""Cursor pagination over internal ids: stable under inserts, opaque to clients."""

from __future__ import annotations

import base64
from typing import Annotated, Generic, TypeVar

import msgspec
from litestar.params import QueryParameter
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from cashout_server.problems import ProblemError

T = TypeVar("T")
M = TypeVar("M")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="rows per page (1-200)")]
Cursor = Annotated[str | None, QueryParameter(description="next_cursor from the previous page", max_length=100)]


class Page(msgspec.Struct, Generic[T], kw_only=True):
    """One page of a list: ``next_cursor`` fetches the next page, ``null`` on the last."""

    data: list[T]
    next_cursor: str | None


def encode_cursor(last_id: int) -> str:
    """The cursor that continues after the row with internal id ``last_id``."""
    return base64.urlsafe_b64encode(f"v1:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The internal id to continue after (0 for the first page).

    Raises:
        ProblemError: 400 when the cursor is not one this server issued.
    """
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _, value = raw.partition(":")
        if version != "v1":
            raise ValueError(version)
        return int(value)
    except (ValueError, UnicodeDecodeError):
        raise ProblemError(
            400, "the cursor is not valid; use next_cursor from a previous page", slug="bad-cursor"
        ) from None


async def fetch_page(
    db: AsyncSession, query: Select[M], key: InstrumentedAttribute[int], limit: int, cursor: str | None
) -> tuple[list[M], str | None]:
    """Run ``query`` for one page ordered by ``key`` (an integer id column).

    Returns:
        The page's rows and the cursor of the next page (``None`` on the last page).
    """
    rows = list(await db.scalars(query.where(key > decode_cursor(cursor)).order_by(key).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(getattr(last, key.key))
