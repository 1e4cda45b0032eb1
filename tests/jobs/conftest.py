"""Fixtures for the scheduler tests: a fresh PostgreSQL database for the multi-process runs."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cashout_test_support import PG_ADMIN_URL, require_postgres
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    # counting_jobs is imported by these tests and, through PYTHONPATH, by server processes they start.
    sys.path.insert(0, str(HERE))


async def _admin(sql: str) -> None:
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@pytest.fixture
def fresh_pg_database() -> Iterator[str]:
    """An empty PostgreSQL database of its own (dropped afterwards)."""
    require_postgres()
    name = f"cashout_test_jobs_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
