"""Helpers shared by test modules (on sys.path through pytest's ``pythonpath`` setting)."""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

PG_ADMIN_URL = os.environ.get("CASHOUT_TEST_PG_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"


async def _pg_reachable(url: str) -> str | None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means unreachable
        return f"{type(exc).__name__}: {exc}"
    finally:
        await engine.dispose()


def require_postgres(url: str = PG_ADMIN_URL) -> None:
    """Skip (or, in CI, fail) when PostgreSQL is not reachable."""
    problem = asyncio.run(_pg_reachable(url))
    if problem is None:
        return
    if IN_CI:
        pytest.fail(f"PostgreSQL must be reachable in CI ({url}): {problem}")
    pytest.skip(f"PostgreSQL not reachable at {url}: {problem}")
