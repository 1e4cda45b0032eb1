"""pytest fixtures for plugin authors, registered through the ``pytest11`` entry point.

Installed with cashout, so any plugin's test suite can use them without imports:

* ``cashout_state``: a fresh in-memory per-connection state store.
* ``cashout_context``: a factory for a real :class:`~cashout_server.contract.PluginContext`
  (``async with cashout_context("myplatform", base_url=fake.url, credentials={...}) as ctx``).
* ``cashout_listing``: a factory for realistic listings whose photos are real JPEG files in the
  test's temporary folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cashout_server.contract import ListingRequest
from cashout_server.testing import MemoryState, make_context, sample_listing


@pytest.fixture
def cashout_state() -> MemoryState:
    """A fresh in-memory state store."""
    return MemoryState()


@pytest.fixture
def cashout_context(cashout_state: MemoryState) -> Callable[..., Any]:
    """``make_context`` sharing this test's state store unless another is given."""

    def factory(platform: str, **kwargs: Any) -> Any:
        kwargs.setdefault("state", cashout_state)
        return make_context(platform, **kwargs)

    return factory


@pytest.fixture
def cashout_listing(tmp_path: Path) -> Callable[..., ListingRequest]:
    """``sample_listing`` writing its photos under this test's temporary folder."""

    def factory(**kwargs: Any) -> ListingRequest:
        kwargs.setdefault("photo_dir", tmp_path)
        return sample_listing(**kwargs)

    return factory
