"""Applying and inspecting Alembic migrations from code (``cashout db upgrade`` and start-up)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

import cashout_server


def migrations_dir() -> Path:
    """Where the migration scripts are: inside the installed package, or the source checkout."""
    package = Path(cashout_server.__file__).resolve().parent
    for candidate in (package / "_migrations", package.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("migration scripts not found (expected migrations/ beside cashout_server/)")


def alembic_config(url: str) -> Config:
    """An Alembic config for ``url`` (the URL is passed in memory, never written to disk)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["database_url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision``. Synchronous: call it outside a running event loop."""
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    """The newest migration in the scripts."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The migration the database is at (``None`` for an empty database)."""
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
