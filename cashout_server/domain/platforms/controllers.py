"""``/api/v1/plugins``: installed plugins and the platforms they serve."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, get

from cashout_server.deps import RuntimeDep
from cashout_server.plugins import PluginInfo, descriptor_to_dict


class PluginOut(msgspec.Struct, kw_only=True):
    """One installed plugin. ``platforms`` are its descriptors (capabilities, fields, limits, fees)."""

    name: str
    distribution: str | None
    version: str | None
    module: str
    hooks: list[str]
    platforms: list[dict[str, Any]]
    errors: list[str]


def plugin_out(info: PluginInfo) -> PluginOut:
    """The API view of a plugin."""
    return PluginOut(
        name=info.name,
        distribution=info.distribution,
        version=info.version,
        module=info.module,
        hooks=list(info.hooks),
        platforms=[descriptor_to_dict(d) for d in info.platforms],
        errors=list(info.errors),
    )


class PluginController(Controller):
    """Installed platform plugins."""

    path = "/api/v1/plugins"
    tags = ["plugins"]

    @get("/", operation_id="listPlugins")
    async def list_plugins(self, runtime: RuntimeDep) -> dict[str, list[PluginOut]]:
        """Every installed plugin, its version and what each platform it serves can do."""
        return {"data": [plugin_out(i) for i in sorted(runtime.registry.plugins.values(), key=lambda i: i.name)]}
