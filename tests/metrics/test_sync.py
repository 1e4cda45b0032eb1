"""Metric sync: each point stored once across syncs, intervals respected, a failing plugin isolated, the API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from cashout_server import (
    Capability,
    MetricPoint,
    PlatformDescriptor,
    PluginContext,
    TransientError,
    hookimpl,
)
from cashout_server.db.models import Connection, MetricSample
from cashout_server.domain.metrics.services import sync_all
from cashout_server.ids import new_id
from cashout_server.plugins import PluginRegistry, create_plugin_manager
from cashout_server.runtime import Runtime

pytestmark = pytest.mark.db

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = datetime(2026, 5, 30, tzinfo=UTC)


class MetricsPlatform:
    """Returns ``points`` from ``fetch_metrics`` (or raises ``error``) and records each ``since``."""

    def __init__(self, name: str, *, interval: int | None = None) -> None:
        self.name = name
        self.interval = interval
        self.points: list[MetricPoint] = []
        self.error: Exception | None = None
        self.since: list[datetime | None] = []

    @hookimpl
    def platforms(self) -> list[PlatformDescriptor]:
        return [
            PlatformDescriptor(
                name=self.name,
                display_name=self.name,
                capabilities=frozenset({Capability.METRICS}),
                metrics_interval=self.interval,
            )
        ]

    @hookimpl
    async def fetch_metrics(self, ctx: PluginContext, since: datetime | None) -> Sequence[MetricPoint]:
        self.since.append(since)
        if self.error is not None:
            raise self.error
        return list(self.points)


def point(external_id: str, name: str, value: int, hour: int) -> MetricPoint:
    return MetricPoint(
        subject="listing", external_id=external_id, name=name, value=value, at=DAY + timedelta(hours=hour)
    )


@pytest.fixture
def stats() -> MetricsPlatform:
    return MetricsPlatform("stats")


@pytest.fixture
def hourly() -> MetricsPlatform:
    return MetricsPlatform("hourly", interval=600)


@pytest.fixture
def registry(stats: MetricsPlatform, hourly: MetricsPlatform) -> PluginRegistry:
    return create_plugin_manager(load_entrypoints=False, extra=[("stats", stats), ("hourly", hourly)])


async def _connection(runtime: Runtime, platform: str, **fields: object) -> Connection:
    async with runtime.session() as session:
        row = Connection(public_id=new_id("connection"), platform=platform, name=platform, **fields)
        session.add(row)
        await session.commit()
        return row


async def _count(runtime: Runtime) -> int:
    async with runtime.session() as session:
        return int(await session.scalar(select(func.count()).select_from(MetricSample)) or 0)


async def test_points_are_stored_once_across_overlapping_syncs(runtime: Runtime, stats: MetricsPlatform) -> None:
    await _connection(runtime, "stats")
    stats.points = [point("x", "views", 3, 1), point("x", "clicks", 1, 1)]
    first = await sync_all(runtime, now=NOW)
    assert first == {"accounts": 1, "fetched": 2, "stored": 2, "duplicates": 0, "invalid": 0, "failed": 0}

    stats.points = [*stats.points, point("x", "views", 5, 2), point("x", "views", 5, 2)]
    second = await sync_all(runtime, now=NOW + timedelta(hours=1))
    assert second["stored"] == 1 and second["duplicates"] == 3
    assert await _count(runtime) == 3
    assert stats.since == [None, NOW], "each fetch asks for what came after the last sync"


async def test_the_interval_is_respected_per_connection(
    runtime: Runtime, stats: MetricsPlatform, hourly: MetricsPlatform
) -> None:
    await _connection(runtime, "stats")  # the default: hourly
    await _connection(runtime, "hourly")  # the plugin says every 10 minutes
    await _connection(runtime, "stats", metrics_interval=120)  # the account says every 2 minutes
    await _connection(runtime, "stats", status="needs_reauth")  # not active: never synced

    assert (await sync_all(runtime, now=NOW))["accounts"] == 3
    assert (await sync_all(runtime, now=NOW + timedelta(minutes=1)))["accounts"] == 0
    assert (await sync_all(runtime, now=NOW + timedelta(minutes=3)))["accounts"] == 1
    assert (await sync_all(runtime, now=NOW + timedelta(minutes=11)))["accounts"] == 2
    assert (await sync_all(runtime, now=NOW + timedelta(minutes=61)))["accounts"] == 3
    assert len(stats.since) == 2 + 1 + 1 + 2 and len(hourly.since) == 3


async def test_a_failing_plugin_does_not_stop_the_others_and_is_retried(
    runtime: Runtime, stats: MetricsPlatform, hourly: MetricsPlatform
) -> None:
    await _connection(runtime, "stats")
    await _connection(runtime, "hourly")
    stats.error = TransientError("the platform is down")
    hourly.points = [point("p", "views", 7, 3)]
    counts = await sync_all(runtime, now=NOW)
    assert counts["failed"] == 1 and counts["stored"] == 1
    stats.error = None
    stats.points = [point("s", "views", 1, 3)]
    again = await sync_all(runtime, now=NOW + timedelta(minutes=1))
    assert again["accounts"] == 1 and again["stored"] == 1, "the failed account is due again at once"


async def test_malformed_points_are_counted_not_stored(runtime: Runtime, stats: MetricsPlatform) -> None:
    await _connection(runtime, "stats")
    stats.points = [
        point("x", "views", 1, 1),
        MetricPoint(subject="listing", external_id="x", name="views", value=2, at=datetime(2026, 5, 30, 5)),  # noqa: DTZ001 - a naive time is the defect under test
        MetricPoint(subject="listing", external_id="x", name="n" * 61, value=2, at=DAY),
    ]
    counts = await sync_all(runtime, now=NOW)
    assert counts["stored"] == 1 and counts["invalid"] == 2


async def test_the_metrics_api_filters_and_pages(
    api: httpx.AsyncClient, runtime: Runtime, stats: MetricsPlatform
) -> None:
    con = await _connection(runtime, "stats")
    stats.points = [point("a", "views", n, n) for n in range(5)] + [point("b", "clicks", 9, 1)]
    await sync_all(runtime, now=NOW)

    first = (
        await api.get("/api/v1/metrics", params={"connection_id": con.public_id, "name": "views", "limit": 3})
    ).json()
    assert [p["value"] for p in first["data"]] == [0, 1, 2] and first["next_cursor"]
    assert first["data"][0]["connection_id"] == con.public_id and first["data"][0]["external_id"] == "a"
    rest = (
        await api.get("/api/v1/metrics", params={"name": "views", "limit": 3, "cursor": first["next_cursor"]})
    ).json()
    assert [p["value"] for p in rest["data"]] == [3, 4] and rest["next_cursor"] is None

    window = {"since": (DAY + timedelta(hours=1)).isoformat(), "until": (DAY + timedelta(hours=3)).isoformat()}
    found = (await api.get("/api/v1/metrics", params={"external_id": "a", **window})).json()["data"]
    assert [p["value"] for p in found] == [1, 2]
    assert [
        p["name"]
        for p in (await api.get("/api/v1/metrics", params={"subject": "listing", "name": "clicks"})).json()["data"]
    ] == ["clicks"]

    missing = await api.get("/api/v1/metrics", params={"connection_id": "con_nope"})
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    naive = await api.get("/api/v1/metrics", params={"since": "2026-05-30T00:00:00"})
    assert naive.status_code == 400 and "time zone" in naive.json()["detail"]
