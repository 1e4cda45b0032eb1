from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import cashout_craigslist
import pytest

from cashout_server.testing import ConformanceSuite, ConformanceTarget


class TestCraigslistConforms(ConformanceSuite):
    """The bulk path, against the fake Bulk Posting Interface."""

    @pytest.fixture
    def target(self, fake: Any, credentials: dict[str, str]) -> ConformanceTarget:
        return ConformanceTarget(
            plugin=cashout_craigslist,
            platform="craigslist",
            base_url=fake.url,
            settings={"area": "nyc", "category": "fee", "reply_email": "replies@example.com"},
            credentials=credentials,
        )


class TestCraigslistAssistedConforms(ConformanceSuite):
    """The assisted path: a by-owner category and no bulk account."""

    @pytest.fixture
    def target(self, fake: Any) -> ConformanceTarget:
        return ConformanceTarget(
            plugin=cashout_craigslist,
            platform="craigslist",
            base_url=fake.url,
            settings={"area": "nyc", "category": "fuo"},
        )


def test_plugin_is_registered_under_the_cashout_entry_point_group() -> None:
    found = {ep.name: ep for ep in entry_points(group="cashout")}
    assert "craigslist" in found
    plugin = found["craigslist"].load()
    assert plugin is cashout_craigslist
    assert [d.name for d in plugin.platforms()] == ["craigslist"]
