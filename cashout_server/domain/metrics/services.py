"""Fetching metric points per connection on its interval and storing each point once.

A point is unique on ``(connection, subject, external_id, name, at)``; fetching overlapping
windows (or two processes syncing at once) stores it once: the insert skips rows that exist
(``ON CONFLICT DO NOTHING`` on PostgreSQL and SQLite).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cashout_server.contract import Capability, MetricPoint, PluginError
from cashout_server.db.models import Connection, MetricSample, ServerState
from cashout_server.domain.accounts.services import call_with_refresh
from cashout_server.hooks import HookNotImplemented
from cashout_server.runtime import Runtime

log = logging.getLogger("cashout.metrics")

DEFAULT_INTERVAL = 3600
"""Seconds between syncs of an account when neither it nor its plugin says otherwise."""
_KEY_COLUMNS = ("connection_id", "subject", "external_id", "name", "at")
_BATCH = 500
_MAX_VALUE = 2**63 - 1


def state_key(connection: Connection) -> str:
    """The ``server_state`` key holding the connection's last sync time."""
    return f"metrics.sync.{connection.public_id}"


def interval_of(runtime: Runtime, connection: Connection) -> int:
    """Seconds between syncs: the connection's ``metrics_interval``, else its plugin's, else an hour."""
    desc = runtime.registry.platforms.get(connection.platform)
    return connection.metrics_interval or (desc.metrics_interval if desc is not None else None) or DEFAULT_INTERVAL


async def last_sync(session: AsyncSession, connection: Connection) -> datetime | None:
    """When the connection's metrics were last synced (``None``: never)."""
    row = await session.get(ServerState, state_key(connection))
    return datetime.fromisoformat(row.value) if row is not None else None


async def _mark_sync(session: AsyncSession, connection: Connection, when: datetime) -> None:
    row = await session.get(ServerState, state_key(connection))
    if row is None:
        session.add(ServerState(key=state_key(connection), value=when.isoformat()))
    else:
        row.value = when.isoformat()


def _valid(point: object) -> bool:
    return (
        isinstance(point, MetricPoint)
        and 0 < len(point.subject) <= 20
        and 0 < len(point.external_id) <= 200
        and 0 < len(point.name) <= 60
        and -_MAX_VALUE <= point.value <= _MAX_VALUE
        and point.at.tzinfo is not None
    )


async def store_points(
    session: AsyncSession, connection: Connection, points: Sequence[MetricPoint], *, fetched_at: datetime
) -> int:
    """Insert the points not stored yet (the caller commits).

    Returns:
        How many rows were new.
    """
    rows: list[dict[str, Any]] = [
        {
            "connection_id": connection.id,
            "subject": p.subject,
            "external_id": p.external_id,
            "name": p.name,
            "value": p.value,
            "at": p.at,
            "fetched_at": fetched_at,
        }
        for p in points
    ]
    dialect = session.get_bind().dialect.name
    stored = 0
    for start in range(0, len(rows), _BATCH):
        chunk = rows[start : start + _BATCH]
        if dialect == "postgresql":
            pg = postgresql.insert(MetricSample).values(chunk).on_conflict_do_nothing(index_elements=_KEY_COLUMNS)
            stored += len((await session.execute(pg.returning(MetricSample.id))).all())
        elif dialect == "sqlite":
            lite = sqlite.insert(MetricSample).values(chunk).on_conflict_do_nothing(index_elements=_KEY_COLUMNS)
            stored += len((await session.execute(lite.returning(MetricSample.id))).all())
        else:  # pragma: no cover - cashout supports SQLite and PostgreSQL only
            raise RuntimeError(f"unsupported database dialect {dialect!r}")
    return stored


async def sync_connection(runtime: Runtime, connection: Connection, *, now: datetime) -> dict[str, int]:
    """Fetch the connection's metrics since its last sync and store them once each.

    Returns:
        Counts: fetched, stored, duplicates, invalid.

    Raises:
        PluginError, HookNotImplemented: the plugin failed (the sync time is not advanced).
    """
    async with runtime.session() as session:
        since = await last_sync(session, connection)
    points = await call_with_refresh(runtime, connection, "fetch_metrics", since=since)
    good = [p for p in points if _valid(p)]
    async with runtime.session() as session:
        stored = await store_points(session, connection, good, fetched_at=now)
        await _mark_sync(session, connection, now)
        await session.commit()
    return {
        "fetched": len(points),
        "stored": stored,
        "duplicates": len(good) - stored,
        "invalid": len(points) - len(good),
    }


async def sync_all(runtime: Runtime, *, now: datetime) -> dict[str, int]:
    """Sync every active connection whose plugin offers metrics and whose interval has passed.

    A failing plugin is logged and counted; the other connections still sync.

    Returns:
        Counts: accounts, fetched, stored, duplicates, invalid, failed.
    """
    counts = {"accounts": 0, "fetched": 0, "stored": 0, "duplicates": 0, "invalid": 0, "failed": 0}
    async with runtime.session() as session:
        connections = list(
            await session.scalars(select(Connection).where(Connection.status == "active").order_by(Connection.id))
        )
        due: list[Connection] = []
        for connection in connections:
            if not runtime.registry.supports(connection.platform, Capability.METRICS):
                continue
            last = await last_sync(session, connection)
            if last is not None and now - last < timedelta(seconds=interval_of(runtime, connection)):
                continue
            due.append(connection)
    for connection in due:
        counts["accounts"] += 1
        try:
            result = await sync_connection(runtime, connection, now=now)
        except (PluginError, HookNotImplemented) as exc:
            counts["failed"] += 1
            log.warning("syncing metrics of %s failed: %s", connection.public_id, exc)
            continue
        except Exception:
            counts["failed"] += 1
            log.exception("syncing metrics of %s crashed", connection.public_id)
            continue
        for name, value in result.items():
            counts[name] += value
    return counts
