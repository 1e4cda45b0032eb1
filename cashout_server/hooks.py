"""The async call layer over pluggy.

pluggy never awaits: an ``async def`` hook implementation returns a coroutine. This module
calls implementations itself and awaits what they return.

* :func:`call_targeted` calls exactly one plugin, the one serving a platform.
* :func:`call_fanout` calls every implementation concurrently; one failing plugin never breaks
  the others, its error is returned beside the other results.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pluggy import HookImpl

from cashout_server.contract import PluginError
from cashout_server.plugins import PluginRegistry

log = logging.getLogger("cashout.hooks")


class HookNotImplemented(LookupError):
    """The platform's plugin does not implement the hook (its descriptor should not claim it)."""


class PluginCrashed(Exception):
    """A plugin raised something outside the contract's errors: a bug in the plugin.

    For a write hook the core cannot know whether the platform applied the request, so it
    treats this like ``OutcomeUnknown``.
    """

    def __init__(self, plugin: str, hook: str, error: BaseException) -> None:
        super().__init__(f"plugin {plugin!r} crashed in {hook}(): {type(error).__name__}: {error}")
        self.plugin = plugin
        self.hook = hook
        self.error = error


@dataclass(frozen=True, slots=True)
class FanoutResult:
    """One plugin's answer to a fan-out call: a value or an error, never both."""

    plugin: str
    value: Any = None
    error: BaseException | None = None


def _impls(registry: PluginRegistry, hook: str) -> list[HookImpl]:
    caller = getattr(registry.pm.hook, hook, None)
    if caller is None:
        raise HookNotImplemented(f"no hook named {hook!r}")
    return list(caller.get_hookimpls())


async def _invoke(registry: PluginRegistry, impl: HookImpl, hook: str, kwargs: dict[str, Any]) -> Any:
    args = {name: kwargs[name] for name in impl.argnames}
    started = time.perf_counter()
    outcome = "ok"
    try:
        result = impl.function(**args)
        if inspect.isawaitable(result):
            result = await result
        return result
    except BaseException as exc:
        outcome = type(exc).__name__
        raise
    finally:
        if registry.trace:
            log.info(
                "hook %s on %s: %s in %.1f ms",
                hook,
                impl.plugin_name,
                outcome,
                (time.perf_counter() - started) * 1000,
            )


async def call_targeted(registry: PluginRegistry, platform: str, hook: str, **kwargs: Any) -> Any:
    """Call ``hook`` on the one plugin serving ``platform`` and await its result.

    Raises:
        KeyError: no installed plugin serves ``platform``.
        HookNotImplemented: the plugin does not implement ``hook``.
        PluginError: whatever contract error the plugin raised, unchanged.
        PluginCrashed: the plugin raised anything else.
    """
    owner = registry.platform_owner[platform]
    for impl in _impls(registry, hook):
        if impl.plugin is owner:
            try:
                return await _invoke(registry, impl, hook, kwargs)
            except (PluginError, asyncio.CancelledError):
                raise
            except Exception as exc:
                log.exception("plugin %s crashed in %s()", impl.plugin_name, hook)
                raise PluginCrashed(impl.plugin_name, hook, exc) from exc
    raise HookNotImplemented(f"the plugin serving {platform!r} does not implement {hook}()")


async def call_fanout(
    registry: PluginRegistry, hook: str, *, only: Sequence[object] | None = None, **kwargs: Any
) -> list[FanoutResult]:
    """Call every implementation of ``hook`` concurrently and collect results and errors.

    Args:
        registry: the plugin registry.
        hook: the hook name.
        only: restrict to these plugin objects (``None``: all).
        **kwargs: the hook's arguments by name.

    Returns:
        One :class:`FanoutResult` per implementation, in registration order.
    """
    impls = [i for i in _impls(registry, hook) if only is None or i.plugin in only]
    results = await asyncio.gather(*(_invoke(registry, impl, hook, kwargs) for impl in impls), return_exceptions=True)
    out: list[FanoutResult] = []
    for impl, result in zip(impls, results, strict=True):
        if isinstance(result, BaseException):
            if isinstance(result, asyncio.CancelledError):
                raise result
            log.warning("plugin %s failed in %s(): %s", impl.plugin_name, hook, type(result).__name__)
            out.append(FanoutResult(plugin=impl.plugin_name, error=result))
        else:
            out.append(FanoutResult(plugin=impl.plugin_name, value=result))
    return out
