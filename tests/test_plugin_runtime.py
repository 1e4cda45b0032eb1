"""The plugin manager factory, entry points, allow-list, check_pending, and the async call layer."""

from __future__ import annotations

import logging
from importlib import metadata
from typing import Any

import pluggy
import pytest

from cashout_server import (
    Capability,
    InboundEmail,
    InboundMessage,
    PlatformDescriptor,
    PriceQuery,
    hookimpl,
)
from cashout_server.hooks import FanoutResult, HookNotImplemented, PluginCrashed, call_fanout, call_targeted
from cashout_server.plugins import create_plugin_manager
from cashout_server.testing import make_context


def test_factory_builds_isolated_managers(scripted: Any) -> None:
    a = create_plugin_manager(extra=[("scripted", scripted)])
    b = create_plugin_manager()
    assert "scripted" in a.platforms and "scripted" not in b.platforms


def test_builtin_plugins_come_from_entry_points() -> None:
    names = {ep.name for ep in metadata.entry_points(group="cashout")}
    registry = create_plugin_manager()
    assert set(registry.plugins) == names
    for info in registry.plugins.values():
        assert info.distribution and info.version, "entry-point plugins report their distribution"
        assert info.errors == (), f"installed plugin {info.name} has invalid descriptors: {info.errors}"
        assert info.platforms, f"installed plugin {info.name} serves no platform"


def test_allow_list_limits_what_loads() -> None:
    registry = create_plugin_manager(allow="no-such-plugin")
    assert registry.plugins == {}


def test_check_pending_rejects_a_misspelt_hook() -> None:
    class Typo:
        @hookimpl
        def publsh(self, ctx: Any, listing: Any) -> None: ...

    with pytest.raises(pluggy.PluginValidationError):
        create_plugin_manager(load_entrypoints=False, extra=[("typo", Typo())])


def test_invalid_descriptors_and_missing_hooks_are_reported_not_served() -> None:
    class Broken:
        @hookimpl
        def platforms(self) -> list[PlatformDescriptor]:
            return [
                PlatformDescriptor(name="Bad Name", display_name="x", capabilities=frozenset()),
                PlatformDescriptor(name="claims", display_name="Claims", capabilities=frozenset({Capability.PUBLISH})),
            ]

    registry = create_plugin_manager(load_entrypoints=False, extra=[("broken", Broken())])
    assert registry.platforms == {}
    errors = registry.plugins["broken"].errors
    assert any("must match" in e for e in errors)
    assert any("does not implement publish()" in e for e in errors)


def test_duplicate_platform_names_are_refused(scripted: Any, scripted_cls: Any) -> None:
    other = scripted_cls()
    registry = create_plugin_manager(load_entrypoints=False, extra=[("a", scripted), ("b", other)])
    assert registry.platform_owner["scripted"] is scripted
    assert any("already served" in e for e in registry.plugins["b"].errors)


async def test_targeted_calls_reach_only_the_owner(scripted: Any) -> None:
    class Other:
        calls = 0

        @hookimpl
        async def price_lookup(self, ctx: Any, query: Any) -> list[Any]:
            Other.calls += 1
            return []

    registry = create_plugin_manager(load_entrypoints=False, extra=[("scripted", scripted), ("other", Other())])
    async with make_context("scripted", base_url="http://127.0.0.1:9") as ctx:
        quotes = await call_targeted(registry, "scripted", "price_lookup", ctx=ctx, query=PriceQuery(title="lamp"))
        assert quotes[0].price.amount_minor == 1999
        assert Other.calls == 0
        with pytest.raises(KeyError):
            await call_targeted(registry, "missing", "publish", ctx=ctx, listing=None)


async def test_crashes_are_wrapped_and_missing_hooks_named() -> None:
    class Crashy:
        @hookimpl
        def platforms(self) -> list[PlatformDescriptor]:
            return [PlatformDescriptor(name="crashy", display_name="C", capabilities=frozenset({Capability.LEADS}))]

        @hookimpl
        async def fetch_leads(self, ctx: Any, since: Any) -> list[Any]:
            raise ZeroDivisionError("oops")

    registry = create_plugin_manager(load_entrypoints=False, extra=[("crashy", Crashy())])
    async with make_context("crashy", base_url="http://127.0.0.1:9") as ctx:
        with pytest.raises(PluginCrashed) as info:
            await call_targeted(registry, "crashy", "fetch_leads", ctx=ctx, since=None)
        assert isinstance(info.value.error, ZeroDivisionError)
        with pytest.raises(HookNotImplemented):
            await call_targeted(registry, "crashy", "fetch_metrics", ctx=ctx, since=None)


async def test_fanout_isolates_failures(scripted: Any) -> None:
    class Failing:
        @hookimpl
        def parse_lead_email(self, email: InboundEmail) -> InboundMessage | None:
            raise ValueError("cannot parse")

    registry = create_plugin_manager(load_entrypoints=False, extra=[("scripted", scripted), ("failing", Failing())])
    email = InboundEmail(
        message_id="<1@x>",
        from_address="buyer@scripted.test",
        from_name=None,
        to_addresses=("me@x",),
        subject="Lamp",
        text="Still available?",
    )
    results = await call_fanout(registry, "parse_lead_email", email=email)
    by_name = {r.plugin: r for r in results}
    assert isinstance(by_name["failing"].error, ValueError)
    value = by_name["scripted"].value
    assert isinstance(value, InboundMessage) and value.body == "Still available?"
    assert all(isinstance(r, FanoutResult) for r in results)


async def test_trace_logs_calls_without_arguments(scripted: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cashout.hooks")
    registry = create_plugin_manager(load_entrypoints=False, extra=[("scripted", scripted)], trace=True)
    async with make_context("scripted", base_url="http://127.0.0.1:9", credentials={"api_key": "TOPSECRET"}) as ctx:
        await call_targeted(registry, "scripted", "fetch_leads", ctx=ctx, since=None)
    assert "hook fetch_leads on scripted: ok" in caplog.text
    assert "TOPSECRET" not in caplog.text
