from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import cashout_facebook
import pytest

from cashout_server.testing import ConformanceSuite, ConformanceTarget


class TestFacebookCatalogConforms(ConformanceSuite):
    """Catalog mode, against the fake Graph API."""

    @pytest.fixture
    def target(self, fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str]) -> ConformanceTarget:
        return ConformanceTarget(
            plugin=cashout_facebook,
            platform="facebook",
            base_url=fake.url,
            settings=catalog_settings,
            credentials=credentials,
        )


class TestFacebookFeedConforms(ConformanceSuite):
    """Feed mode, against the fake Graph API."""

    @pytest.fixture
    def target(self, fake: Any, feed_settings: dict[str, str], credentials: dict[str, str]) -> ConformanceTarget:
        return ConformanceTarget(
            plugin=cashout_facebook,
            platform="facebook",
            base_url=fake.url,
            settings=feed_settings,
            credentials=credentials,
        )


class TestFacebookMarketplaceConforms(ConformanceSuite):
    """Marketplace mode: assisted, no credentials."""

    @pytest.fixture
    def target(self, fake: Any, marketplace_settings: dict[str, str]) -> ConformanceTarget:
        return ConformanceTarget(
            plugin=cashout_facebook,
            platform="facebook",
            base_url=fake.url,
            settings=marketplace_settings,
            listing_options={"category": "Furniture"},
        )


def test_plugin_is_registered_under_the_cashout_entry_point_group() -> None:
    found = {ep.name: ep for ep in entry_points(group="cashout")}
    assert "facebook" in found
    plugin = found["facebook"].load()
    assert plugin is cashout_facebook
    assert [d.name for d in plugin.platforms()] == ["facebook"]


def test_the_plugin_shows_up_in_the_plugin_listing(tmp_path: Path) -> None:
    # Through the CLI, as an operator sees it: plugins may import only the plugin surface.
    cli = Path(sys.executable).with_name("cashout")
    env = {**os.environ, "CASHOUT_DATA_DIR": str(tmp_path / "data"), "CASHOUT_PLUGINS": "facebook"}
    done = subprocess.run(  # noqa: S603 - the installed cashout CLI with fixed arguments
        [str(cli), "plugins", "list", "--json"], capture_output=True, text=True, env=env, timeout=120, check=True
    )
    (info,) = json.loads(done.stdout)
    assert info["name"] == "facebook"
    assert info["distribution"] == "cashout-facebook"
    assert info["errors"] == []
    assert set(info["hooks"]) == {
        "platforms",
        "publish",
        "check_status",
        "update_listing",
        "delist",
        "render_feed",
        "refresh_credentials",
        "fetch_leads",
        "send_reply",
        "handle_webhook",
    }
    (platform,) = info["platforms"]
    assert platform["name"] == "facebook"
    assert platform["capabilities"] == [
        "assisted",
        "delist",
        "feed",
        "leads",
        "publish",
        "reply",
        "update",
        "webhooks",
    ]
    assert platform["default_base_url"] == "https://graph.facebook.com"


class TestFacebookPageConforms(ConformanceSuite):
    """Marketplace mode with a Page for Messenger leads (leads, reply and webhooks declared)."""

    @pytest.fixture
    def target(
        self, fake: Any, marketplace_settings: dict[str, str], page_credentials: dict[str, str]
    ) -> ConformanceTarget:
        return ConformanceTarget(
            plugin=cashout_facebook,
            platform="facebook",
            base_url=fake.url,
            settings=marketplace_settings,
            credentials=page_credentials,
            listing_options={"category": "Furniture"},
        )
