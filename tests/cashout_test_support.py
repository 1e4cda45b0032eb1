"""Helpers shared by test modules (on sys.path through pytest's ``pythonpath`` setting)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Any

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


# --- a real `cashout serve` process --------------------------------------------------------

import re  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import httpx  # noqa: E402

CASHOUT = Path(sys.executable).with_name("cashout")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class ServerProcess:
    """A running ``cashout serve``: its URL, its process and its log file."""

    url: str
    proc: subprocess.Popen[str]
    log_path: Path
    token: str | None
    """The first-start admin token (``None`` when the data folder already had an owner)."""

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text()

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (graceful) or SIGKILL (a crash), and wait for the process to end."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(data_dir: Path, log_path: Path, **env_extra: str) -> ServerProcess:
    """Start ``cashout serve`` on a free port with a clean ``CASHOUT_*`` environment; wait until ready."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASHOUT_")}
    env.update(CASHOUT_DATA_DIR=str(data_dir), CASHOUT_PORT=str(port), CASHOUT_LOG_LEVEL="WARNING", **env_extra)
    log = log_path.open("a")
    proc = subprocess.Popen([str(CASHOUT), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"cashout serve exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError(f"cashout serve did not become ready:\n{log_path.read_text()}")
    match = re.search(r"(cashout_pat_\S+)", log_path.read_text())
    return ServerProcess(url=url, proc=proc, log_path=log_path, token=match.group(1) if match else None)


# --- many publications at once, through the services (no HTTP) -----------------------------


async def queue_publications(runtime: Any, platforms: Sequence[tuple[str, str]], items: int) -> int:
    """Create ``items`` items, list each on every ``(platform, base_url)`` account, queue all for publication.

    One transaction: the outbox rows commit with the listings. Returns the publications queued.
    """
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from cashout_server.db.models import Item, Listing
    from cashout_server.domain.accounts.services import create_connection
    from cashout_server.domain.listings.services import create_listing, publish
    from cashout_server.ids import new_id

    queued = 0
    async with runtime.session() as session:
        connections = [
            await create_connection(
                session,
                runtime,
                platform=platform,
                name=platform,
                settings={"base_url": base_url},
                credentials={},
                created_by_id=None,
            )
            for platform, base_url in platforms
        ]
        for n in range(items):
            item = Item(public_id=new_id("item"), title=f"Item {n}", condition="used_good", list_price_minor=1000 + n)
            session.add(item)
            await session.flush()
            for connection in connections:
                created = await create_listing(session, runtime, item=item, connection=connection, options={})
                listing = await session.scalar(
                    select(Listing)
                    .where(Listing.id == created.id)
                    .options(selectinload(Listing.item), selectinload(Listing.connection))
                )
                assert listing is not None
                await publish(session, runtime, listing)
                queued += 1
        await session.commit()
    return queued
