"""Seed a fresh cashout database for the load benchmark with SQLAlchemy Core bulk inserts.

Schema through :func:`cashout_server.db.migrate.upgrade`, the owner and an admin token through
:func:`cashout_server.domain.users.services.ensure_owner` (as ``cashout serve`` does on first
start), then items, connections, listings, deliveries, leads and lead messages in batches.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, create_engine, insert
from sqlalchemy.engine import Connection as SyncConnection
from sqlalchemy.engine import make_url

from cashout_server.db.engine import create_engine as create_async_engine
from cashout_server.db.migrate import upgrade
from cashout_server.db.models import Connection, Delivery, Item, Lead, LeadMessage, Listing
from cashout_server.domain.users.services import ensure_owner
from cashout_server.ids import new_id

PLATFORMS = ("bench_a", "bench_b", "bench_c")
"""Connections' platforms: no plugin by these names is installed, so no job reaches a network."""
BATCH = 5000


@dataclass(frozen=True, slots=True)
class Sizes:
    """How many rows of each kind to create."""

    items: int = 10_000
    listings: int = 30_000
    leads: int = 10_000
    messages: int = 100_000


@dataclass(frozen=True, slots=True)
class Seeded:
    """What :func:`seed` made: the owner's admin token and the row counts."""

    token: str
    counts: dict[str, int]


def _sync_url(url: str) -> str:
    parsed = make_url(url)
    driver = "sqlite+pysqlite" if parsed.drivername.startswith("sqlite") else "postgresql+psycopg"
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


async def _owner_token(url: str) -> str:
    engine = create_async_engine(url)
    try:
        from sqlalchemy.ext.asyncio import async_sessionmaker

        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            issued = await ensure_owner(session, "owner@bench.invalid")
            await session.commit()
    finally:
        await engine.dispose()
    if issued is None:
        raise RuntimeError("the database already has users: seed a fresh one")
    return issued.secret


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(conn: SyncConnection, table: Table, rows: Iterator[dict[str, Any]]) -> int:
    count = 0
    for batch in _batches(rows):
        conn.execute(insert(table), batch)
        count += len(batch)
    return count


def _fill(url: str, sizes: Sizes) -> dict[str, int]:
    rng = random.Random(5)
    now = datetime.now(UTC)
    words = ["vintage", "lamp", "chair", "walnut", "desk", "camera", "lens", "bike", "jacket", "boots", "table"]
    engine = create_engine(_sync_url(url))
    counts: dict[str, int] = {}
    try:
        with engine.begin() as conn:
            counts["connections"] = _insert(
                conn,
                Connection.__table__,  # type: ignore[arg-type]
                (
                    {"id": i + 1, "public_id": new_id("connection"), "platform": p, "name": p, "settings": {}}
                    for i, p in enumerate(PLATFORMS)
                ),
            )
            counts["items"] = _insert(
                conn,
                Item.__table__,  # type: ignore[arg-type]
                (
                    {
                        "id": i,
                        "public_id": new_id("item"),
                        "sku": f"SKU-{i:06d}",
                        "title": " ".join(rng.choices(words, k=4)) + f" #{i}",
                        "description": "A well-kept thing, pickup downtown. " * 3,
                        "condition": "used_good",
                        "category": rng.choice(["furniture", "electronics", "clothing"]),
                        "brand": "Acme",
                        "identifiers": {"upc": f"{i:012d}"},
                        "quantity": 1,
                        "currency": "USD",
                        "cost_basis_minor": 1000,
                        "list_price_minor": 2500 + i % 1000,
                        "floor_price_minor": 2000,
                        "status": "active",
                        "negotiation": {},
                        "facts": {"pickup": "downtown"},
                    }
                    for i in range(1, sizes.items + 1)
                ),
            )
            per_item = max(1, min(len(PLATFORMS), -(-sizes.listings // max(sizes.items, 1))))
            listing_rows = [
                (lid, item, conn_id)
                for lid, (item, conn_id) in enumerate(
                    ((item, c) for item in range(1, sizes.items + 1) for c in range(1, per_item + 1)), start=1
                )
                if lid <= sizes.listings
            ]
            counts["listings"] = _insert(
                conn,
                Listing.__table__,  # type: ignore[arg-type]
                (
                    {
                        "id": lid,
                        "public_id": new_id("listing"),
                        "item_id": item,
                        "connection_id": conn_id,
                        "status": "published",
                        "idempotency_key": f"bench-listing-{lid}",
                        "external_id": f"ext-{lid}",
                        "url": f"https://example.invalid/listing/{lid}",
                        "options": {},
                        "published_at": now,
                    }
                    for lid, item, conn_id in listing_rows
                ),
            )
            counts["deliveries"] = _insert(
                conn,
                Delivery.__table__,  # type: ignore[arg-type]
                (
                    {
                        "id": lid,
                        "public_id": new_id("delivery"),
                        "connection_id": conn_id,
                        "listing_id": lid,
                        "action": "publish",
                        "idempotency_key": f"bench-delivery-{lid}",
                        "payload": {},
                        "state": "done",
                        "attempts": 1,
                        "finished_at": now,
                    }
                    for lid, _item, conn_id in listing_rows
                ),
            )
            counts["leads"] = _insert(
                conn,
                Lead.__table__,  # type: ignore[arg-type]
                (
                    {
                        "id": n,
                        "public_id": new_id("lead"),
                        "platform": PLATFORMS[n % len(PLATFORMS)],
                        "thread_id": f"thread-{n}",
                        "connection_id": n % len(PLATFORMS) + 1,
                        "item_id": n % max(sizes.items, 1) + 1 if sizes.items else None,
                        "buyer_name": f"Buyer {n}",
                        "state": rng.choice(["new", "open", "negotiating"]),
                        "score": rng.randrange(101),
                        "score_explanation": {},
                        "flags": {},
                        "negotiation": {},
                        "last_message_at": now - timedelta(minutes=n),
                    }
                    for n in range(1, sizes.leads + 1)
                ),
            )
            counts["lead_messages"] = _insert(
                conn,
                LeadMessage.__table__,  # type: ignore[arg-type]
                (
                    {
                        "id": m,
                        "public_id": new_id("message"),
                        "lead_id": m % max(sizes.leads, 1) + 1,
                        "platform": PLATFORMS[(m % max(sizes.leads, 1) + 1) % len(PLATFORMS)],
                        "external_id": f"msg-{m}",
                        "direction": "in" if m % 2 else "out",
                        "body": "Is this still available? I can pick it up tomorrow.",
                        "sent_at": now - timedelta(seconds=m),
                        "status": "received" if m % 2 else "sent",
                        "author": "buyer" if m % 2 else "seller",
                    }
                    for m in range(1, sizes.messages + 1)
                ),
            )
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                for table in ("connections", "items", "listings", "deliveries", "leads", "lead_messages"):
                    # Fixed table names, no input: rows were inserted with explicit ids.
                    sql = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"  # noqa: S608
                    conn.exec_driver_sql(sql)
                conn.exec_driver_sql("ANALYZE")
        else:
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()
    return counts


def seed(url: str, sizes: Sizes) -> Seeded:
    """Migrate a fresh database at ``url``, create the owner and fill it.

    Args:
        url: the async SQLAlchemy URL the server will use (``sqlite+aiosqlite``/``postgresql+asyncpg``).
        sizes: how many rows to create.

    Returns:
        The owner's admin token (a secret: never print it) and the row counts.
    """
    upgrade(url)
    token = asyncio.run(_owner_token(url))
    return Seeded(token=token, counts=_fill(url, sizes))
