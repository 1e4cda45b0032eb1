"""Fixtures for the automation tests: a registry with limited platforms and a shop."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from automation_support import LimitedPlatform, Shop  # noqa: E402

from cashout_server import Capability  # noqa: E402
from cashout_server.plugins import PluginRegistry, create_plugin_manager  # noqa: E402
from cashout_server.runtime import Runtime  # noqa: E402


@pytest.fixture
def relistable() -> LimitedPlatform:
    return LimitedPlatform("relistable", [Capability.PUBLISH, Capability.DELIST])


@pytest.fixture
def handmade() -> LimitedPlatform:
    return LimitedPlatform("handmade", [Capability.PUBLISH])


@pytest.fixture
def registry(scripted: Any, relistable: LimitedPlatform, handmade: LimitedPlatform) -> PluginRegistry:
    return create_plugin_manager(
        load_entrypoints=False, extra=[("scripted", scripted), ("relistable", relistable), ("handmade", handmade)]
    )


@pytest.fixture
def shop(runtime: Runtime) -> Shop:
    return Shop(runtime)
