"""Models and migrations agree, on SQLite and on PostgreSQL; upgrade and downgrade both work."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.command import downgrade
from alembic.runtime.migration import MigrationContext
from cashout_test_support import PG_ADMIN_URL, require_postgres
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from cashout_server.db.migrate import alembic_config, head_revision, upgrade
from cashout_server.db.models import Base


async def _diff(url: str) -> list[object]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:

            def compare(sync_conn: object) -> list[object]:
                ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})  # type: ignore[arg-type]
                return list(compare_metadata(ctx, Base.metadata))

            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


async def _revision(url: str) -> str | None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
    finally:
        await engine.dispose()


def _check(url: str) -> None:
    upgrade(url)
    assert asyncio.run(_revision(url)) == head_revision()
    assert asyncio.run(_diff(url)) == [], "models and migrations disagree: run alembic revision --autogenerate"
    downgrade(alembic_config(url), "base")
    assert asyncio.run(_revision(url)) is None
    upgrade(url)
    assert asyncio.run(_diff(url)) == []


def test_models_match_migrations_on_sqlite(tmp_path: Path) -> None:
    _check(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")


@pytest.fixture
def fresh_pg_database() -> Iterator[str]:
    require_postgres()
    name = f"cashout_mig_{uuid.uuid4().hex[:10]}"

    async def run(sql: str) -> None:
        engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.postgres
def test_models_match_migrations_on_postgresql(fresh_pg_database: str) -> None:
    _check(fresh_pg_database)
