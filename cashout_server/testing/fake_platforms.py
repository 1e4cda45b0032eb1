"""The fake platforms as a plugin module, for a server process started by a test or a benchmark.

Load it with ``CASHOUT_PLUGIN_MODULES=cashout_server.testing.fake_platforms``; it declares the
platforms named in ``CASHOUT_FAKE_PLATFORMS`` (``name:max_concurrency`` pairs, comma-separated;
default ``fake_a:4,fake_b:4,fake_c:4``). Each connection's ``base_url`` points at its
:class:`~cashout_server.testing.fakeplatform.FakePlatformServer`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cashout_server import Absent, Delisted, ListingRequest, PlatformDescriptor, PluginContext, Published, Rejected
from cashout_server import hookimpl as _hookimpl
from cashout_server.testing.fakeplatform import FakePlatformPlugin


def _configured() -> list[tuple[str, int]]:
    spec = os.environ.get("CASHOUT_FAKE_PLATFORMS", "fake_a:4,fake_b:4,fake_c:4")
    out = []
    for part in spec.split(","):
        name, _, limit = part.strip().partition(":")
        out.append((name, int(limit or 4)))
    return out


_PLUGIN = FakePlatformPlugin(_configured())


@_hookimpl
def platforms() -> Sequence[PlatformDescriptor]:
    """The configured fake platforms."""
    return _PLUGIN.platforms()


@_hookimpl
async def publish(ctx: PluginContext, listing: ListingRequest) -> Published | Rejected:
    """See :meth:`FakePlatformPlugin.publish`."""
    return await _PLUGIN.publish(ctx, listing)


@_hookimpl
async def check_status(ctx: PluginContext, listing: ListingRequest) -> Published | Absent:
    """See :meth:`FakePlatformPlugin.check_status`."""
    return await _PLUGIN.check_status(ctx, listing)


@_hookimpl
async def update_listing(ctx: PluginContext, listing: ListingRequest) -> Published | Rejected:
    """See :meth:`FakePlatformPlugin.update_listing`."""
    return await _PLUGIN.update_listing(ctx, listing)


@_hookimpl
async def delist(ctx: PluginContext, listing: ListingRequest) -> Delisted | Rejected:
    """See :meth:`FakePlatformPlugin.delist`."""
    return await _PLUGIN.delist(ctx, listing)
