"""Connections: validated against the plugin's descriptor; credentials write-only and encrypted."""

from __future__ import annotations

import logging

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from cashout_server.plugins import PluginRegistry
from cashout_server.runtime import Runtime

Client = AsyncTestClient[Litestar]
SECRET = "sk-live-SUPERSECRET-4242"


@pytest.fixture
def registry(registry_with_scripted: PluginRegistry) -> PluginRegistry:
    return registry_with_scripted


async def test_credentials_never_leave_and_are_encrypted_at_rest(
    api: Client, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    r = await api.post(
        "/api/v1/connections", json={"platform": "scripted", "name": "Main", "credentials": {"api_key": SECRET}}
    )
    assert r.status_code == 201, r.text
    con = r.json()
    assert con["credentials_set"] == ["api_key"]
    assert con["settings"] == {"region": "us"}, "defaults from the descriptor are filled"
    for response in (
        r,
        await api.get(f"/api/v1/connections/{con['id']}"),
        await api.get("/api/v1/connections"),
        await api.patch(f"/api/v1/connections/{con['id']}", json={"name": "Renamed"}),
    ):
        assert SECRET not in response.text
    async with runtime.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT credentials_encrypted, settings FROM connections"))).one()
    assert SECRET not in str(stored) and stored[0].startswith("gAAAA"), "Fernet token at rest"
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"platform": "nope", "name": "x"}, "no installed plugin serves platform 'nope'"),
        ({"platform": "scripted", "name": "x"}, "credentials.api_key (API key) is required"),
        ({"platform": "scripted", "name": "x", "credentials": {"api_key": "k", "other": "v"}}, "unknown credentials"),
        (
            {"platform": "scripted", "name": "x", "credentials": {"api_key": "k"}, "settings": {"region": "mars"}},
            "one of us, eu",
        ),
        (
            {"platform": "scripted", "name": "x", "credentials": {"api_key": "k"}, "settings": {"base_url": "ftp://x"}},
            "base_url",
        ),
    ],
)
async def test_invalid_connections_are_refused(api: Client, body: dict[str, object], fragment: str) -> None:
    r = await api.post("/api/v1/connections", json=body)
    assert r.status_code == 422
    assert fragment in r.json()["detail"]


async def test_credentials_are_merged_on_update(api: Client, runtime: Runtime) -> None:
    con = (
        await api.post(
            "/api/v1/connections", json={"platform": "scripted", "name": "M", "credentials": {"api_key": "a"}}
        )
    ).json()
    r = await api.patch(f"/api/v1/connections/{con['id']}", json={"settings": {"region": "eu"}})
    assert r.json()["settings"] == {"region": "eu"} and r.json()["credentials_set"] == ["api_key"]
    r = await api.patch(f"/api/v1/connections/{con['id']}", json={"credentials": {"api_key": "b"}})
    assert r.status_code == 200
    async with runtime.engine.connect() as conn:
        token = (await conn.execute(text("SELECT credentials_encrypted FROM connections"))).scalar_one()
    assert runtime.keyring.decrypt(token) == {"api_key": "b"}
    assert (await api.delete(f"/api/v1/connections/{con['id']}")).status_code == 204


async def test_plugins_endpoint_lists_capabilities(api: Client) -> None:
    data = (await api.get("/api/v1/plugins")).json()["data"]
    scripted = next(p for p in data if p["name"] == "scripted")
    platform = scripted["platforms"][0]
    assert platform["name"] == "scripted"
    assert "publish" in platform["capabilities"] and platform["approval_required"] == ["ad_spend"]
    assert platform["credential_fields"][0] == {
        "name": "api_key",
        "label": "API key",
        "secret": True,
        "required": True,
        "help": "",
        "default": None,
        "choices": [],
    }
