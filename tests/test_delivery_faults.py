"""Delivery against real loopback platforms that throttle, fail, and apply-then-hang: nothing twice, nothing lost."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from cashout_test_support import queue_publications
from sqlalchemy import func, select

from cashout_server.db.models import Connection, Delivery, Listing
from cashout_server.domain.delivery.services import OPEN_STATES
from cashout_server.domain.delivery.worker import DeliveryWorker
from cashout_server.plugins import PluginRegistry, create_plugin_manager
from cashout_server.runtime import Runtime, build_runtime
from cashout_server.settings import Settings
from cashout_server.testing.fakeplatform import FakePlatformPlugin, FakePlatformServer, Faults

PLATFORMS = (("fake_a", 6), ("fake_b", 4), ("fake_c", 2))


@pytest.fixture
def registry() -> PluginRegistry:
    return create_plugin_manager(load_entrypoints=False, extra=[("fakes", FakePlatformPlugin(PLATFORMS))])


@pytest.fixture
async def runtime(settings: Settings, registry: PluginRegistry) -> AsyncIterator[Runtime]:
    # A short client timeout so "applied, then hung" turns into a timeout quickly.
    fast = dataclasses.replace(
        settings,
        plugins=settings.plugins.model_copy(update={"http_timeout": 0.4}),
        delivery=settings.delivery.model_copy(update={"backoff_base": 0.01, "backoff_cap": 0.05}),
    )
    rt = build_runtime(fast, registry=registry)
    yield rt
    await rt.close()


def _fakes(faults: Faults, seed: int) -> Iterator[list[FakePlatformServer]]:
    fakes = [
        FakePlatformServer(faults=dataclasses.replace(faults, max_concurrency=limit), seed=seed + n, name=name)
        for n, (name, limit) in enumerate(PLATFORMS)
    ]
    for fake in fakes:
        fake.start()
    try:
        yield fakes
    finally:
        for fake in fakes:
            fake.stop()


async def _queue(runtime: Runtime, fakes: list[FakePlatformServer], per_platform: int) -> None:
    await queue_publications(runtime, [(fake.name, fake.url) for fake in fakes], per_platform)


async def _until_quiet(runtime: Runtime, worker: DeliveryWorker, make_due: Any, *, cycles: int = 60) -> None:
    for _ in range(cycles):
        async with runtime.session() as session:
            open_count = await session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.state.in_([s.value for s in OPEN_STATES]))
            )
        if not open_count:
            return
        await make_due()
        worker.breakers.clear()  # the breaker's cooldown elapses between cycles
        await worker.run_once()
    raise AssertionError("deliveries never settled")


async def _statuses(runtime: Runtime) -> dict[str, int]:
    async with runtime.session() as session:
        rows = (await session.execute(select(Listing.status, func.count()).group_by(Listing.status))).all()
    return {row[0]: row[1] for row in rows}


async def _published_refs(runtime: Runtime) -> dict[str, set[str]]:
    async with runtime.session() as session:
        rows = (
            await session.execute(
                select(Connection.platform, Listing.idempotency_key, Listing.external_id)
                .join(Connection, Connection.id == Listing.connection_id)
                .where(Listing.status == "published")
            )
        ).all()
    out: dict[str, set[str]] = {}
    for platform, key, external_id in rows:
        assert external_id
        out.setdefault(platform, set()).add(key)
    return out


@pytest.fixture
def hanging_fakes() -> Iterator[list[FakePlatformServer]]:
    yield from _fakes(Faults(latency=0.005, hang_after_commit=0.10, hang_seconds=1.0), seed=11)


async def test_commit_then_timeout_never_duplicates(
    runtime: Runtime, worker: DeliveryWorker, make_due: Any, hanging_fakes: list[FakePlatformServer]
) -> None:
    await _queue(runtime, hanging_fakes, per_platform=100)  # 300 publications
    await _until_quiet(runtime, worker, make_due)
    hung = sum(1 for fake in hanging_fakes for m in fake.mutations if m.result == "hung")
    assert hung >= 15, f"the fault must actually happen (~10% of 300; got {hung})"
    assert [fake.duplicates() for fake in hanging_fakes] == [{}, {}, {}]
    assert await _statuses(runtime) == {"published": 300}
    published = await _published_refs(runtime)
    for fake in hanging_fakes:
        assert set(fake.live()) == published[fake.name], "every posting is the one its listing records"


@pytest.fixture
def flaky_fakes() -> Iterator[list[FakePlatformServer]]:
    yield from _fakes(Faults(latency=0.002, rate_429=0.15, rate_503=0.15, retry_after=0), seed=5)


async def test_throttling_and_errors_are_retried_until_everything_is_published_once(
    runtime: Runtime, worker: DeliveryWorker, make_due: Any, flaky_fakes: list[FakePlatformServer]
) -> None:
    await _queue(runtime, flaky_fakes, per_platform=40)
    await _until_quiet(runtime, worker, make_due)
    results = [m.result for fake in flaky_fakes for m in fake.mutations]
    assert results.count("429") >= 5 and results.count("503") >= 5
    assert [fake.duplicates() for fake in flaky_fakes] == [{}, {}, {}]
    assert await _statuses(runtime) == {"published": 120}


@pytest.fixture
def strict_fakes() -> Iterator[list[FakePlatformServer]]:
    yield from _fakes(Faults(latency=0.03), seed=1)


async def test_declared_concurrency_is_never_exceeded(
    runtime: Runtime, worker: DeliveryWorker, make_due: Any, strict_fakes: list[FakePlatformServer]
) -> None:
    await _queue(runtime, strict_fakes, per_platform=30)
    await _until_quiet(runtime, worker, make_due)
    assert all(fake.max_in_flight <= limit for fake, (_, limit) in zip(strict_fakes, PLATFORMS, strict=True))
    assert strict_fakes[0].max_in_flight > 1, "deliveries to one platform do run side by side"
    assert not [m for fake in strict_fakes for m in fake.mutations if m.result == "429"], "the fake never had to refuse"
    assert await _statuses(runtime) == {"published": 90}


async def test_a_failing_platform_does_not_slow_the_others(
    runtime: Runtime, worker: DeliveryWorker, strict_fakes: list[FakePlatformServer]
) -> None:
    # fake_c always answers 503: its breaker opens, and fake_a and fake_b deliver everything in one cycle.
    strict_fakes[2].faults = Faults(rate_503=1.0, max_concurrency=2)
    await _queue(runtime, strict_fakes, per_platform=20)
    await worker.run_once()
    statuses = await _statuses(runtime)
    assert statuses["published"] == 40
    assert worker.breaker("fake_c").state == "open"
    assert len(strict_fakes[2].mutations) <= runtime.settings.delivery.breaker_threshold + 2


@pytest.mark.postgres
async def test_two_workers_on_postgresql_share_the_outbox_and_the_limits(
    settings: Settings, registry: PluginRegistry, strict_fakes: list[FakePlatformServer], make_due: Any
) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("several workers need PostgreSQL (make test-postgres runs this)")
    # Two runtimes with their own engines and running workers: two server replicas on one database.
    quick = dataclasses.replace(settings, delivery=settings.delivery.model_copy(update={"poll_interval": 0.02}))
    first, second = build_runtime(quick, registry=registry), build_runtime(quick, registry=registry)
    workers = [DeliveryWorker(first, worker_id="replica-1"), DeliveryWorker(second, worker_id="replica-2")]
    try:
        for worker in workers:
            await worker.start()
        await queue_publications(first, [(fake.name, fake.url) for fake in strict_fakes], 30)
        for _ in range(600):
            await asyncio.sleep(0.05)
            async with first.session() as session:
                left = await session.scalar(select(func.count()).select_from(Delivery).where(Delivery.state != "done"))
            if not left:
                break
        async with first.session() as session:
            attempts = list(await session.scalars(select(Delivery.attempts)))
            claimed_by = set(await session.scalars(select(Delivery.claimed_by)))
    finally:
        for worker in workers:
            await worker.stop()
        await first.close()
        await second.close()
    assert [fake.duplicates() for fake in strict_fakes] == [{}, {}, {}]
    assert attempts == [1] * 90, "no delivery was claimed twice"
    assert claimed_by == {"replica-1", "replica-2"}, "both replicas delivered"
    assert all(fake.max_in_flight <= limit for fake, (_, limit) in zip(strict_fakes, PLATFORMS, strict=True))
