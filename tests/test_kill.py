"""Kill the server with SIGKILL in the middle of delivering 600 publications, restart it, and count.

Per seed: 200 items listed on 3 fake platforms (which never deduplicate and sometimes throttle,
fail, or apply a create and then hang past the client's timeout) are queued; a server delivers
them and is killed at a random moment; a new server starts on the same data and runs until
quiet. Then: no platform holds two postings for one publication, every publication is
published (or ``unknown`` and visible to a person), and SQLite's integrity check passes.

The default run takes two seeds; ``make test-slow`` (``pytest -m slow``) runs twenty more.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cashout_test_support import ServerProcess, queue_publications, start_server

from cashout_server.db.migrate import upgrade
from cashout_server.domain.users.services import ensure_owner
from cashout_server.plugins import create_plugin_manager
from cashout_server.runtime import build_runtime
from cashout_server.settings import load_settings
from cashout_server.testing.fakeplatform import FakePlatformPlugin, FakePlatformServer, Faults

PLATFORMS = (("fake_a", 8), ("fake_b", 6), ("fake_c", 4))
ITEMS = 200
SEEDS = [pytest.param(seed, marks=[pytest.mark.slow] if seed >= 2 else []) for seed in range(22)]

SERVER_ENV = {
    "CASHOUT_PLUGIN_MODULES": "cashout_server.testing.fake_platforms",
    "CASHOUT_FAKE_PLATFORMS": ",".join(f"{name}:{limit}" for name, limit in PLATFORMS),
    "CASHOUT_PLUGINS": "none",  # only the fakes: no installed plugin is needed here
    "CASHOUT_HTTP_TIMEOUT": "0.5",
    "CASHOUT_DELIVERY_BACKOFF_BASE": "0.05",
    "CASHOUT_DELIVERY_BACKOFF_CAP": "0.5",
    "CASHOUT_DELIVERY_BREAKER_COOLDOWN": "0.5",
    "CASHOUT_DELIVERY_POLL_INTERVAL": "0.2",
    "CASHOUT_DELIVERY_MAX_ATTEMPTS": "100",
}


@pytest.fixture
def fakes(request: pytest.FixtureRequest) -> Iterator[list[FakePlatformServer]]:
    seed: int = request.node.callspec.params["seed"]
    rng = random.Random(seed)
    servers = [
        FakePlatformServer(
            faults=Faults(
                latency=rng.uniform(0.005, 0.03),
                rate_429=0.03,
                rate_503=0.05,
                retry_after=0,
                hang_after_commit=0.03,
                hang_seconds=1.5,
                max_concurrency=limit,
            ),
            seed=seed * 10 + n,
            name=name,
        ).start()
        for n, (name, limit) in enumerate(PLATFORMS)
    ]
    yield servers
    for server in servers:
        server.stop()


def _prepare(data: Path, fakes: list[FakePlatformServer]) -> tuple[str, int]:
    """Migrate a fresh data folder, create the owner, and queue every publication (no server running)."""

    settings = load_settings(server={"data_dir": data})
    data.mkdir(mode=0o700)
    upgrade(settings.database_url)

    async def run() -> tuple[str, int]:
        registry = create_plugin_manager(load_entrypoints=False, extra=[("fakes", FakePlatformPlugin(PLATFORMS))])
        runtime = build_runtime(settings, registry=registry)
        try:
            async with runtime.session() as session:
                owner = await ensure_owner(session, "owner@example.com")
                assert owner is not None
                await session.commit()
            queued = await queue_publications(runtime, [(fake.name, fake.url) for fake in fakes], ITEMS)
        finally:
            await runtime.close()
        return owner.secret, queued

    return asyncio.run(run())


def _creates(fakes: list[FakePlatformServer]) -> int:
    return sum(1 for fake in fakes for m in fake.mutations if m.result in ("created", "hung"))


def _wait_until_quiet(server: ServerProcess, token: str, timeout: float = 180) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=f"{server.url}/api/v1", headers=headers, timeout=30) as api:
        while time.monotonic() < deadline:
            counts: dict[str, int] = api.get("/deliveries/counts").json()["by_state"]
            if not any(counts.get(state) for state in ("queued", "in_flight", "awaiting_approval")):
                return counts
            time.sleep(0.25)
    raise AssertionError(f"deliveries never went quiet: {counts}\n{server.log()[-3000:]}")


def _listings(db: Path) -> list[tuple[str, str, str | None, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT l.status, l.idempotency_key, l.external_id, c.platform FROM listings l "
            "JOIN connections c ON c.id = l.connection_id"
        ).fetchall()


def _integrity(db: Path) -> tuple[str, list[object]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0], conn.execute("PRAGMA foreign_key_check").fetchall()


@pytest.mark.parametrize("seed", SEEDS)
def test_sigkill_during_delivery_loses_nothing_and_duplicates_nothing(
    seed: int, tmp_path: Path, fakes: list[FakePlatformServer]
) -> None:
    data = tmp_path / "data"
    log = tmp_path / "server.log"
    # 1. Queue every publication before any server runs, so the kill lands inside delivery.
    token, expected = _prepare(data, fakes)
    assert expected == ITEMS * len(PLATFORMS)

    # 2. Deliver, and SIGKILL the server at a random point of the delivery.
    rng = random.Random(seed)
    kill_after = rng.randint(1, expected - 1)
    victim = start_server(data, log, **SERVER_ENV)
    deadline = time.monotonic() + 120
    while _creates(fakes) < kill_after and time.monotonic() < deadline and victim.proc.poll() is None:
        time.sleep(0.002)
    victim.stop(kill=True)
    assert victim.proc.returncode == -9
    at_kill = _creates(fakes)

    # 3. Restart on the same data and let it finish.
    survivor = start_server(data, log, **SERVER_ENV)
    try:
        counts = _wait_until_quiet(survivor, token)
    finally:
        survivor.stop()

    duplicates = [fake.duplicates() for fake in fakes]
    assert duplicates == [{}, {}, {}], f"seed {seed}: duplicate creates {duplicates} (killed after {at_kill})"
    rows = _listings(data / "cashout.db")
    assert len(rows) == expected
    statuses = {status for status, *_ in rows}
    assert statuses <= {"published", "unknown"}, f"seed {seed}: lost publications: {statuses} {counts}"
    live = {fake.name: fake.live() for fake in fakes}
    for status, key, external_id, platform in rows:
        if status == "published":
            assert key in live[platform] and live[platform][key].id == external_id, (seed, platform, key)
    for fake in fakes:
        keys = {key for _, key, _, platform in rows if platform == fake.name}
        assert set(fake.live()) <= keys, "every posting belongs to a publication the server knows"
    assert _integrity(data / "cashout.db") == ("ok", [])
