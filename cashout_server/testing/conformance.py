"""The conformance suite every cashout platform plugin must pass.

Subclass :class:`ConformanceSuite` in your plugin's tests and provide a ``target`` fixture
returning a :class:`ConformanceTarget` that points at a fake of your platform. The suite checks
what the core relies on: valid descriptors, declared capabilities backed by hooks, typed results,
only contract errors, honoured limits and idempotent retries.
"""

from __future__ import annotations

import inspect
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from cashout_server.contract import (
    Capability,
    Delisted,
    NeedsAction,
    Pending,
    PlatformDescriptor,
    PluginError,
    Published,
    Rejected,
    required_hook,
    validate_descriptor,
)

_OUTCOME_TYPES = (Published, Pending, NeedsAction, Rejected)


@dataclass(frozen=True)
class ConformanceTarget:
    """What the suite runs against.

    Attributes:
        plugin: the plugin object (usually its module) as registered under the entry point.
        platform: which of its platforms to test.
        base_url: URL of a fake of the platform that accepts a valid listing.
        settings: connection settings that make publishing work against the fake.
        credentials: connection credentials the fake accepts.
        listing_options: per-listing options for the sample listing.
    """

    plugin: object
    platform: str
    base_url: str
    settings: Mapping[str, str] = field(default_factory=dict)
    credentials: Mapping[str, str] = field(default_factory=dict)
    listing_options: Mapping[str, str] = field(default_factory=dict)


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def _call(plugin: object, hook: str, **kwargs: Any) -> Any:
    function = getattr(plugin, hook)
    params = inspect.signature(function).parameters
    result = function(**{k: v for k, v in kwargs.items() if k in params})
    if inspect.isawaitable(result):
        result = await result
    return result


class ConformanceSuite:
    """Behaviour every platform plugin must show. Provide a ``target`` fixture."""

    @pytest.fixture
    def target(self) -> ConformanceTarget:
        """Override in your subclass."""
        raise NotImplementedError("provide a `target` fixture returning a ConformanceTarget")

    @staticmethod
    def _descriptor(target: ConformanceTarget) -> PlatformDescriptor:
        descriptors = list(getattr(target.plugin, "platforms")())  # noqa: B009 - hook by name
        for desc in descriptors:
            if isinstance(desc, PlatformDescriptor) and desc.name == target.platform:
                return desc
        raise AssertionError(f"platforms() does not describe {target.platform!r}")

    def test_descriptors_are_valid(self, target: ConformanceTarget) -> None:
        """Every descriptor passes the core's validation."""
        for desc in getattr(target.plugin, "platforms")():  # noqa: B009 - hook by name
            assert validate_descriptor(desc) == []

    def test_capabilities_have_hooks(self, target: ConformanceTarget) -> None:
        """A declared capability is backed by the hook the core will call for it."""
        desc = self._descriptor(target)
        for cap in desc.capabilities:
            hook = required_hook(cap)
            if hook:
                assert callable(getattr(target.plugin, hook, None)), f"{cap} declared but {hook}() missing"

    def test_secret_fields_are_marked(self, target: ConformanceTarget) -> None:
        """Fields that look like secrets are declared secret, so the core encrypts and masks them."""
        desc = self._descriptor(target)
        for f in (*desc.credential_fields, *desc.setting_fields):
            if any(word in f.name.lower() for word in ("password", "secret", "token", "api_key")):
                assert f.secret, f"field {f.name!r} looks secret but is not marked secret"

    async def test_publish_returns_a_typed_outcome(self, target: ConformanceTarget) -> None:
        """``publish`` returns one of the contract's outcomes for a valid listing."""
        from cashout_server.testing import make_context, sample_listing

        desc = self._descriptor(target)
        if Capability.PUBLISH not in desc.capabilities:
            pytest.skip("platform does not publish")
        async with make_context(
            target.platform, base_url=target.base_url, settings=target.settings, credentials=target.credentials
        ) as ctx:
            outcome = await _call(
                target.plugin, "publish", ctx=ctx, listing=sample_listing(options=target.listing_options)
            )
        assert isinstance(outcome, _OUTCOME_TYPES)

    async def test_publish_retry_is_idempotent(self, target: ConformanceTarget) -> None:
        """Publishing the same listing twice with one idempotency key gives the same result."""
        from cashout_server.testing import MemoryState, make_context, sample_listing

        desc = self._descriptor(target)
        if Capability.PUBLISH not in desc.capabilities:
            pytest.skip("platform does not publish")
        listing = sample_listing(options=target.listing_options)
        state = MemoryState()
        outcomes = []
        for _ in range(2):
            async with make_context(
                target.platform,
                base_url=target.base_url,
                settings=target.settings,
                credentials=target.credentials,
                state=state,
            ) as ctx:
                outcomes.append(await _call(target.plugin, "publish", ctx=ctx, listing=listing))
        first, second = outcomes
        assert type(first) is type(second)
        if isinstance(first, Published):
            assert first.external_id == second.external_id

    async def test_title_over_the_limit_is_never_a_crash(self, target: ConformanceTarget) -> None:
        """A title longer than the declared limit is shortened or rejected, never an exception."""
        from cashout_server.testing import make_context, sample_listing

        desc = self._descriptor(target)
        if Capability.PUBLISH not in desc.capabilities or desc.limits.title_max is None:
            pytest.skip("no publish or no title limit")
        listing = sample_listing(title="x" * (desc.limits.title_max + 50), options=target.listing_options)
        async with make_context(
            target.platform, base_url=target.base_url, settings=target.settings, credentials=target.credentials
        ) as ctx:
            outcome = await _call(target.plugin, "publish", ctx=ctx, listing=listing)
        assert isinstance(outcome, _OUTCOME_TYPES)

    async def test_unreachable_platform_raises_a_contract_error(self, target: ConformanceTarget) -> None:
        """Connection refused surfaces as a contract error (or an assisted outcome), never httpx's."""
        from cashout_server.testing import make_context, sample_listing

        desc = self._descriptor(target)
        if Capability.PUBLISH not in desc.capabilities:
            pytest.skip("platform does not publish")
        async with make_context(
            target.platform,
            base_url=f"http://127.0.0.1:{_closed_port()}",
            settings=target.settings,
            credentials=target.credentials,
        ) as ctx:
            try:
                outcome = await _call(
                    target.plugin, "publish", ctx=ctx, listing=sample_listing(options=target.listing_options)
                )
            except PluginError:
                return
        assert isinstance(outcome, (NeedsAction, Rejected))

    async def test_delist_returns_a_typed_outcome(self, target: ConformanceTarget) -> None:
        """``delist`` of a published listing returns ``Delisted``, ``NeedsAction`` or ``Rejected``."""
        from cashout_server.testing import make_context, sample_listing

        desc = self._descriptor(target)
        if Capability.DELIST not in desc.capabilities:
            pytest.skip("platform does not delist")
        listing = sample_listing(options=target.listing_options)
        async with make_context(
            target.platform, base_url=target.base_url, settings=target.settings, credentials=target.credentials
        ) as ctx:
            published = await _call(target.plugin, "publish", ctx=ctx, listing=listing)
            external_id = published.external_id if isinstance(published, Published) else None
            outcome = await _call(
                target.plugin,
                "delist",
                ctx=ctx,
                listing=sample_listing(options=target.listing_options, external_id=external_id),
            )
        assert isinstance(outcome, (Delisted, NeedsAction, Rejected))
