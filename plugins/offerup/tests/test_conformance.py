from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import cashout_offerup
import pytest

from cashout_server.testing import ConformanceSuite, ConformanceTarget


class TestOfferUpConforms(ConformanceSuite):
    """Assisted only: nothing is sent anywhere, so the base URL is never used."""

    @pytest.fixture
    def target(self, settings: dict[str, str]) -> ConformanceTarget:
        return ConformanceTarget(
            plugin=cashout_offerup,
            platform="offerup",
            base_url="http://127.0.0.1:9",
            settings=settings,
            listing_options={"category": "Home & Garden"},
        )


def test_plugin_is_registered_under_the_cashout_entry_point_group() -> None:
    found = {ep.name: ep for ep in entry_points(group="cashout")}
    assert "offerup" in found
    plugin = found["offerup"].load()
    assert plugin is cashout_offerup
    assert [d.name for d in plugin.platforms()] == ["offerup"]


def test_the_plugin_shows_up_in_the_plugin_listing(tmp_path: Path) -> None:
    # Through the CLI, as an operator sees it: plugins may import only the plugin surface.
    cli = Path(sys.executable).with_name("cashout")
    env = {**os.environ, "CASHOUT_DATA_DIR": str(tmp_path / "data"), "CASHOUT_PLUGINS": "offerup"}
    done = subprocess.run(  # noqa: S603 - the installed cashout CLI with fixed arguments
        [str(cli), "plugins", "list", "--json"], capture_output=True, text=True, env=env, timeout=120, check=True
    )
    (info,) = json.loads(done.stdout)
    assert info["name"] == "offerup"
    assert info["distribution"] == "cashout-offerup"
    assert info["errors"] == []
    assert set(info["hooks"]) == {
        "platforms",
        "publish",
        "check_status",
        "update_listing",
        "delist",
        "parse_lead_email",
    }
    (platform,) = info["platforms"]
    assert platform["capabilities"] == ["assisted", "delist", "publish", "update"]
