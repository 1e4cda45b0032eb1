"""Building the plugin manager: entry-point discovery, allow-list, validation.

Built-in plugins (``plugins/<name>/``) are separate distributions registered under the
``cashout`` entry-point group, exactly like third-party ones; nothing here names them.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import msgspec
import pluggy

from cashout_server import hookspecs
from cashout_server.contract import Capability, PlatformDescriptor, required_hook, validate_descriptor

log = logging.getLogger("cashout.plugins")


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One registered plugin: where it came from and what it serves."""

    name: str
    """Entry-point name (or the registration name for plugins added in code)."""
    distribution: str | None
    version: str | None
    module: str
    hooks: tuple[str, ...]
    platforms: tuple[PlatformDescriptor, ...] = ()
    errors: tuple[str, ...] = ()


@dataclass(slots=True)
class PluginRegistry:
    """The plugin manager plus what the core derived from it at start-up."""

    pm: pluggy.PluginManager
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    platforms: dict[str, PlatformDescriptor] = field(default_factory=dict)
    platform_owner: dict[str, object] = field(default_factory=dict)
    """Platform name to the plugin object that serves it (for targeted calls)."""
    trace: bool = False
    """Log every hook call with plugin, outcome and duration (never arguments: they hold secrets)."""

    def descriptor(self, platform: str) -> PlatformDescriptor:
        """Return the descriptor of ``platform`` or raise ``KeyError``."""
        return self.platforms[platform]

    def supports(self, platform: str, capability: Capability) -> bool:
        """Whether ``platform`` is installed and declares ``capability``."""
        desc = self.platforms.get(platform)
        return desc is not None and capability in desc.capabilities


def _dist_of(ep: metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = ep.dist
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


def _parse_allow_list(allow: str | Sequence[str] | None) -> set[str] | None:
    if allow is None:
        return None
    if isinstance(allow, str):
        allow = allow.split(",")
    return {a.strip() for a in allow if a.strip()}


def create_plugin_manager(
    *,
    load_entrypoints: bool = True,
    allow: str | Sequence[str] | None = None,
    extra: Iterable[tuple[str, object]] = (),
    modules: str | Sequence[str] | None = None,
    trace: bool = False,
) -> PluginRegistry:
    """Build an isolated plugin manager and collect the platforms its plugins serve.

    Args:
        load_entrypoints: load every plugin registered under the ``cashout`` entry-point group.
        allow: only load these entry-point names (a comma-separated string or a sequence);
            ``None`` loads all. ``CASHOUT_PLUGINS`` feeds this.
        extra: ``(name, plugin)`` pairs registered in code (tests, embedding).
        modules: importable module names registered as plugins besides the entry points
            (a comma-separated string or a sequence; ``CASHOUT_PLUGIN_MODULES`` feeds this): a
            plugin under development, or a test harness, without packaging it.
        trace: log every hook call with its outcome and duration (``CASHOUT_TRACE_PLUGINS``).

    Returns:
        A registry with the manager, plugin info and platform descriptors.

    Raises:
        pluggy.PluginValidationError: a plugin implements a hook that matches no spec, or with
            arguments the spec does not have (``check_pending``).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = PluginRegistry(pm=pm, trace=trace)
    allowed = _parse_allow_list(allow)
    sources: dict[str, tuple[str | None, str | None]] = {}

    if load_entrypoints:
        seen: set[str] = set()
        for ep in metadata.entry_points(group=hookspecs.PROJECT):
            if ep.name in seen:
                continue
            seen.add(ep.name)
            if allowed is not None and ep.name not in allowed:
                log.info("plugin %s not in the allow-list; skipped", ep.name)
                continue
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
            sources[ep.name] = _dist_of(ep)
    for name, plugin in extra:
        pm.register(plugin, name=name)
        sources[name] = (None, None)
    for module_name in sorted(_parse_allow_list(modules) or ()):
        pm.register(importlib.import_module(module_name), name=module_name)
        sources[module_name] = (None, None)

    pm.check_pending()

    for name, plugin in pm.list_name_plugin():
        if plugin is hookspecs or name is None:
            continue
        _collect(registry, name, plugin, sources.get(name, (None, None)))
    return registry


def _collect(registry: PluginRegistry, name: str, plugin: object, source: tuple[str | None, str | None]) -> None:
    hooks = tuple(sorted(impl_name for impl_name in _hook_names(registry.pm, plugin)))
    descriptors: list[PlatformDescriptor] = []
    errors: list[str] = []
    if "platforms" in hooks:
        try:
            returned: Any = getattr(plugin, "platforms")()  # noqa: B009 - hook function by name
            for desc in returned or ():
                problems = validate_descriptor(desc)
                if problems:
                    errors.extend(problems)
                    continue
                for cap in desc.capabilities:
                    needed = required_hook(cap)
                    if needed and needed not in hooks:
                        problems.append(f"{desc.name}: declares {cap} but does not implement {needed}()")
                if desc.name in registry.platforms:
                    problems.append(f"platform {desc.name!r} is already served by another plugin")
                if problems:
                    errors.extend(problems)
                    continue
                descriptors.append(desc)
                registry.platforms[desc.name] = desc
                registry.platform_owner[desc.name] = plugin
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the server
            errors.append(f"platforms() raised {type(exc).__name__}: {exc}")
    for problem in errors:
        log.error("plugin %s: %s", name, problem)
    module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
    registry.plugins[name] = PluginInfo(
        name=name,
        distribution=source[0],
        version=source[1],
        module=module,
        hooks=hooks,
        platforms=tuple(descriptors),
        errors=tuple(errors),
    )


def _hook_names(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    callers = pm.get_hookcallers(plugin) or []
    return [caller.name for caller in callers]


def descriptor_to_dict(desc: PlatformDescriptor) -> dict[str, Any]:
    """A JSON-ready view of a descriptor (capabilities sorted for stable output)."""
    data: dict[str, Any] = msgspec.to_builtins(desc)
    data["capabilities"] = sorted(data["capabilities"])
    data["approval_required"] = sorted(data["approval_required"])
    return data
