"""``credentials.refresh``: refresh before expiry, one at a time, only ``ReauthRequired`` needs a person."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cashout_server import PluginContext, RateLimited, ReauthRequired, TransientError, hookimpl
from cashout_server.db.models import Connection
from cashout_server.domain.accounts.services import credential_values
from cashout_server.domain.jobs.credentials import credential_expiry, refresh_due, refresh_expiring_credentials
from cashout_server.ids import new_id
from cashout_server.plugins import create_plugin_manager
from cashout_server.runtime import Runtime, build_runtime
from cashout_server.settings import Settings

pytestmark = pytest.mark.db


@pytest.fixture
def plugin(scripted_cls: type[Any]) -> Any:
    """The scripted platform of tests/conftest.py with scripted refresh answers."""

    class RefreshingPlatform(scripted_cls):  # type: ignore[misc,valid-type]
        """Scripted refresh answers: a dict is returned, an exception raised; each call takes ``delay``."""

        def __init__(self) -> None:
            super().__init__()
            self.refresh_results: list[object] = []
            self.refreshes = 0
            self.concurrent = 0
            self.max_concurrent = 0

        @hookimpl
        async def refresh_credentials(self, ctx: PluginContext) -> dict[str, str]:
            self.refreshes += 1
            self.concurrent += 1
            self.max_concurrent = max(self.max_concurrent, self.concurrent)
            try:
                await asyncio.sleep(self.delay)
                result = self.refresh_results.pop(0) if self.refresh_results else {"api_key": f"fresh-{self.refreshes}"}
                if isinstance(result, BaseException):
                    raise result
                assert isinstance(result, dict)
                return result
            finally:
                self.concurrent -= 1

    return RefreshingPlatform()


@pytest.fixture
async def rt(settings: Settings, plugin: Any) -> AsyncIterator[Runtime]:
    runtime = build_runtime(settings, registry=create_plugin_manager(extra=[("scripted", plugin)]))
    yield runtime
    await runtime.close()


async def connect(runtime: Runtime, credentials: dict[str, str]) -> int:
    async with runtime.session() as session:
        row = Connection(
            public_id=new_id("connection"),
            platform="scripted",
            name="shop",
            settings={},
            credentials_encrypted=runtime.keyring.encrypt(credentials),
        )
        session.add(row)
        await session.commit()
        return row.id


async def load(runtime: Runtime, connection_id: int) -> tuple[str, dict[str, str]]:
    async with runtime.session() as session:
        row = await session.scalar(select(Connection).where(Connection.id == connection_id))
        assert row is not None
        return row.status, credential_values(runtime, row)


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


async def test_credentials_near_expiry_are_refreshed_and_the_refresh_token_kept(rt: Runtime, plugin: Any) -> None:
    soon = await connect(rt, {"api_key": "old", "refresh_token": "rt-1", "expires_at": iso(timedelta(minutes=3))})
    later = await connect(rt, {"api_key": "old", "refresh_token": "rt-2", "expires_at": iso(timedelta(days=2))})
    never = await connect(rt, {"api_key": "static"})
    counts = await refresh_expiring_credentials(rt)
    assert counts["checked"] == 2 and counts["refreshed"] == 1 and plugin.refreshes == 1
    status, creds = await load(rt, soon)
    # The answer had no new refresh token (and no expiry): the old one is kept, merged.
    assert status == "active" and creds["api_key"] == "fresh-1" and creds["refresh_token"] == "rt-1"
    assert (await load(rt, later))[1]["api_key"] == "old"
    assert (await load(rt, never))[1] == {"api_key": "static"}


async def test_an_expires_in_answer_starts_its_lifetime_at_the_refresh(rt: Runtime, plugin: Any) -> None:
    obtained = datetime.now(UTC) - timedelta(hours=1)
    row = await connect(rt, {"api_key": "old", "expires_in": "3700", "obtained_at": obtained.isoformat()})
    plugin.refresh_results = [{"api_key": "new", "expires_in": "3600"}]
    assert (await refresh_expiring_credentials(rt))["refreshed"] == 1
    creds = (await load(rt, row))[1]
    expiry = credential_expiry(creds)
    assert expiry is not None and not refresh_due(*expiry, datetime.now(UTC))
    # Run again: nothing is due, nothing is refreshed.
    assert (await refresh_expiring_credentials(rt))["refreshed"] == 0 and plugin.refreshes == 1


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ReauthRequired("invalid_grant: the refresh token was revoked"), "needs_reauth"),
        (RateLimited("slow down", retry_after=30), "active"),
        (TransientError("503 from the token endpoint"), "active"),
    ],
)
async def test_only_reauth_required_marks_the_connection(
    rt: Runtime, plugin: Any, error: Exception, status: str
) -> None:
    row = await connect(rt, {"api_key": "old", "refresh_token": "rt", "expires_at": iso(timedelta(minutes=1))})
    plugin.refresh_results = [error]
    counts = await refresh_expiring_credentials(rt)
    got_status, creds = await load(rt, row)
    assert got_status == status and creds["api_key"] == "old"
    assert counts["needs_reauth" if status == "needs_reauth" else "failed"] == 1


async def test_concurrent_refreshes_of_one_connection_call_the_platform_once(rt: Runtime, plugin: Any) -> None:
    # The job and a delivery's AuthExpired path refresh at the same moment: one call, both get the new key.
    await connect(rt, {"api_key": "old", "refresh_token": "rt", "expires_at": iso(timedelta(minutes=1))})
    plugin.delay = 0.2
    first, second = await asyncio.gather(refresh_expiring_credentials(rt), refresh_expiring_credentials(rt))
    assert plugin.refreshes == 1 and plugin.max_concurrent == 1
    assert first["refreshed"] + second["refreshed"] == 2


def test_the_margin_is_a_tenth_of_the_lifetime_and_at_least_ten_minutes() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    day = timedelta(days=1)
    assert refresh_due(now + timedelta(hours=2), day, now)  # 2 h left of a day: inside 2.4 h
    assert not refresh_due(now + timedelta(hours=3), day, now)
    assert refresh_due(now + timedelta(minutes=9), timedelta(hours=1), now)
    assert not refresh_due(now + timedelta(minutes=11), timedelta(hours=1), now)
    assert credential_expiry({"expires_at": "2026-01-01T10:00:00Z"}) == (
        datetime(2026, 1, 1, 10, tzinfo=UTC),
        None,
    )
    assert credential_expiry({"expires_in": "60"}) is None, "expires_in without obtained_at says nothing"
