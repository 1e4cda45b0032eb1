"""The PluginContext the server builds: decrypted credentials, base URL override, durable state,
saved credentials merged and encrypted."""

from __future__ import annotations

from pathlib import Path

import httpx

from cashout_server.db.models import Connection
from cashout_server.domain.accounts.services import credential_values, plugin_context
from cashout_server.ids import new_id
from cashout_server.plugins import create_plugin_manager
from cashout_server.runtime import Runtime, build_runtime
from cashout_server.settings import Settings


async def _connection(runtime: Runtime, settings: dict[str, str]) -> Connection:
    async with runtime.session() as session:
        row = Connection(
            public_id=new_id("connection"),
            platform="scripted",
            name="ctx",
            settings=settings,
            credentials_encrypted=runtime.keyring.encrypt({"api_key": "old", "refresh_token": "r1"}),
        )
        session.add(row)
        await session.commit()
        return row


async def test_context_carries_what_the_plugin_needs(settings: Settings, scripted: object) -> None:
    runtime = build_runtime(settings, registry=create_plugin_manager(extra=[("scripted", scripted)]))
    try:
        row = await _connection(runtime, {"region": "eu", "base_url": "http://127.0.0.1:9/v2"})
        async with plugin_context(runtime, row) as ctx:
            assert ctx.connection.credentials == {"api_key": "old", "refresh_token": "r1"}
            assert ctx.connection.settings == {"region": "eu"}, "base_url is the core's, not the plugin's"
            assert isinstance(ctx.http, httpx.AsyncClient) and str(ctx.http.base_url) == "http://127.0.0.1:9/v2/"
            assert ctx.public_base_url == runtime.settings.server.base_url
            assert ctx.log.name == "cashout.plugin.scripted"
            assert "old" not in repr(ctx) and "r1" not in str(ctx.connection)
            await ctx.state.set("cursor", "abc")
            await ctx.save_credentials({"api_key": "new"})
        async with plugin_context(runtime, row) as again:
            assert await again.state.get("cursor") == "abc", "state survives between calls"
            await again.state.set("cursor", None)
            assert await again.state.get("cursor") is None
        async with runtime.session() as session:
            stored = await session.get_one(Connection, row.id)
            assert credential_values(runtime, stored) == {"api_key": "new", "refresh_token": "r1"}, "merged"
            assert "new" not in (stored.credentials_encrypted or "")
    finally:
        await runtime.close()


async def test_readyz_refuses_a_database_behind_the_code(tmp_path: Path, scripted: object) -> None:
    from cashout_server.app import create_app
    from cashout_server.settings import load_settings

    settings = load_settings(server={"data_dir": tmp_path / "empty"})
    runtime = build_runtime(settings, registry=create_plugin_manager(load_entrypoints=False))
    try:
        app = create_app(runtime=runtime, scheduler=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.get("/healthz")).status_code == 200, "liveness needs no database"
            r = await client.get("/readyz")
            assert r.status_code == 503
            assert "migration None" in r.json()["detail"]
    finally:
        await runtime.close()
