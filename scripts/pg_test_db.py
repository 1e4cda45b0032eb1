"""Create or drop a throw-away PostgreSQL database for the test suite (used by make test-postgres)."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


async def _run(admin_url: str, sql: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def main() -> int:
    action, admin_url = sys.argv[1], sys.argv[2]
    base = admin_url.rsplit("/", 1)[0]
    if action == "create":
        name = f"cashout_test_{uuid.uuid4().hex[:12]}"
        try:
            asyncio.run(_run(admin_url, f'CREATE DATABASE "{name}"'))
        except Exception as exc:  # noqa: BLE001 - report any failure plainly
            print(f"cannot create a PostgreSQL test database at {admin_url}: {exc}", file=sys.stderr)
            return 1
        print(f"{base}/{name}")
        return 0
    name = sys.argv[3].rsplit("/", 1)[1]
    if not name.startswith("cashout_test_"):
        print(f"refusing to drop {name!r}: not a test database", file=sys.stderr)
        return 1
    asyncio.run(_run(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
