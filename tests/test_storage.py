"""Storage settings that protect data: SQLite pragmas, UTC timestamps, public ids."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import text

from cashout_server.db.models import Item, UTCDateTime
from cashout_server.ids import is_valid, new_id
from cashout_server.runtime import Runtime


async def test_sqlite_runs_in_wal_with_foreign_keys(runtime: Runtime) -> None:
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas only")
    async with runtime.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == 1  # NORMAL


async def test_timestamps_come_back_as_utc(runtime: Runtime) -> None:
    async with runtime.session() as session:
        item = Item(public_id=new_id("item"), title="t", condition="new", list_price_minor=1)
        session.add(item)
        await session.commit()
    async with runtime.session() as session:
        loaded = await session.get_one(Item, item.id)
        assert loaded.created_at.utcoffset() is not None and loaded.created_at.utcoffset().total_seconds() == 0


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2026, 1, 1), None)  # type: ignore[arg-type]  # noqa: DTZ001


def test_public_ids_are_typed_sortable_and_unique() -> None:
    ids = [new_id("item") for _ in range(2000)]
    assert len(set(ids)) == 2000
    assert all(is_valid("item", i) for i in ids)
    assert not is_valid("listing", ids[0])
    assert ids[0][:8] <= ids[-1][:8], "time-ordered prefix"
