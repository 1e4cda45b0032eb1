"""Every operation in the served OpenAPI document is protected, and scopes and roles hold."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from cashout_server.db.models import ApiToken
from cashout_server.runtime import Runtime
from cashout_server.security.tokens import hash_token

Tokens = Any  # the conftest fixture's dataclass (owner, admin, member, read)

Client = AsyncTestClient[Litestar]
PUBLIC = {"/healthz", "/readyz", "/paid"}
CAPABILITY_URLS = {"/media/{name}", "/feeds/{connection_id}/{token}"}
"""Fetched by platforms, which cannot send a token: the URL itself is the secret."""
SAFE = {"get", "head", "options"}
SIGNED_WEBHOOKS = {"/webhooks/stripe", "/webhooks/{platform}/{connection_id}"}
"""Called by platforms, which sign the body instead of sending a token: unsigned calls are refused."""


async def _operations(client: Client) -> list[tuple[str, str, str]]:
    doc = (await client.get("/schema/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    ops = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in {"get", "post", "put", "patch", "delete", "head", "options"}:
                assert op.get("operationId"), f"{method} {path} has no operationId"
                concrete = re.sub(r"\{[^}]+\}", "itm_00000000000000000000000000", path)
                ops.append((method, concrete, path))
    return ops


async def test_every_operation_needs_a_token(client: Client) -> None:
    ops = await _operations(client)
    assert len(ops) >= 20
    for method, path, template in ops:
        r = await client.request(method.upper(), path)
        if template in PUBLIC:
            assert r.status_code in (200, 503), template
            continue
        if template in CAPABILITY_URLS:
            assert r.status_code in (400, 404), f"{template} answered {r.status_code} to a made-up secret"
            continue
        if template in SIGNED_WEBHOOKS:
            assert r.status_code in (400, 403, 404, 503), f"{template} answered {r.status_code} unsigned"
            continue
        assert r.status_code == 401, f"{method} {template} answered {r.status_code} without a token"
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == 401


async def test_read_token_cannot_write_anywhere(client: Client, tokens: Tokens) -> None:
    client.headers["Authorization"] = f"Bearer {tokens.read}"
    for method, path, template in await _operations(client):
        if method in SAFE or template in PUBLIC | CAPABILITY_URLS | SIGNED_WEBHOOKS:
            continue
        r = await client.request(method.upper(), path, json={})
        assert r.status_code == 403, f"{method} {template} answered {r.status_code} to a read-only token"
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_read_token_can_read(client: Client, tokens: Tokens) -> None:
    client.headers["Authorization"] = f"Bearer {tokens.read}"
    assert (await client.get("/api/v1/items")).status_code == 200
    assert (await client.get("/api/v1/users/me")).json()["email"] == "owner@example.com"


async def test_members_cannot_administer(client: Client, tokens: Tokens) -> None:
    client.headers["Authorization"] = f"Bearer {tokens.member}"
    assert (await client.get("/api/v1/users")).status_code == 403
    r = await client.post("/api/v1/users", json={"email": "x@example.com"})
    assert r.status_code == 403
    r = await client.post("/api/v1/tokens", json={"name": "x", "scope": "admin"})
    assert r.status_code == 403
    client.headers["Authorization"] = f"Bearer {tokens.admin}"
    assert (await client.post("/api/v1/users", json={"email": "x@example.com"})).status_code == 201
    assert len((await client.get("/api/v1/users")).json()["data"]) == 4


async def test_bad_tokens_are_rejected(client: Client, tokens: Tokens, runtime: Runtime) -> None:
    for header in ("Bearer nope", "Basic abc", f"Bearer {tokens.owner}x", "Bearer cashout_pat_unknown"):
        client.headers["Authorization"] = header
        assert (await client.get("/api/v1/items")).status_code == 401, header
    async with runtime.session() as session:
        row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(tokens.member)))
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        await session.commit()
    client.headers["Authorization"] = f"Bearer {tokens.member}"
    r = await client.get("/api/v1/items")
    assert r.status_code == 401 and "expired" in r.json()["detail"]


async def test_tokens_are_stored_hashed_and_revocable(client: Client, tokens: Tokens, runtime: Runtime) -> None:
    client.headers["Authorization"] = f"Bearer {tokens.member}"
    r = await client.post("/api/v1/tokens", json={"name": "script", "scope": "read"})
    assert r.status_code == 201
    issued: dict[str, Any] = r.json()
    assert issued["token"].startswith("cashout_pat_")
    listed = (await client.get("/api/v1/tokens")).json()["data"]
    assert all("token" not in t for t in listed)
    assert {t["user_id"] for t in listed} == {listed[0]["user_id"]}, "members see only their own tokens"
    async with runtime.session() as session:
        stored = [row.token_hash for row in await session.scalars(select(ApiToken))]
    assert issued["token"] not in stored and hash_token(issued["token"]) in stored
    client.headers["Authorization"] = f"Bearer {issued['token']}"
    assert (await client.get("/api/v1/items")).status_code == 200
    client.headers["Authorization"] = f"Bearer {tokens.member}"
    assert (await client.delete(f"/api/v1/tokens/{issued['id']}")).status_code == 204
    client.headers["Authorization"] = f"Bearer {issued['token']}"
    assert (await client.get("/api/v1/items")).status_code == 401


async def test_schema_and_health_are_public(client: Client) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    page = await client.get("/schema")
    assert page.status_code == 200 and "<html" in page.text.lower()


async def test_admins_manage_users_and_the_owner_is_protected(client: Client, tokens: Tokens) -> None:
    client.headers["Authorization"] = f"Bearer {tokens.admin}"
    users = {u["email"]: u for u in (await client.get("/api/v1/users")).json()["data"]}
    member, owner = users["member@example.com"], users["owner@example.com"]
    r = await client.patch(f"/api/v1/users/{owner['id']}", json={"disabled": True})
    assert r.status_code == 422 and "owner" in r.json()["detail"]
    r = await client.patch(f"/api/v1/users/{member['id']}", json={"role": "owner"})
    assert r.status_code == 422
    r = await client.patch(f"/api/v1/users/{member['id']}", json={"disabled": True, "name": "Sam"})
    assert r.json()["disabled"] is True and r.json()["name"] == "Sam"
    client.headers["Authorization"] = f"Bearer {tokens.member}"
    r = await client.get("/api/v1/items")
    assert r.status_code == 401 and "disabled" in r.json()["detail"], "a disabled user's tokens stop working"


async def test_users_see_themselves_but_not_others(client: Client, tokens: Tokens) -> None:
    client.headers["Authorization"] = f"Bearer {tokens.member}"
    me = (await client.get("/api/v1/users/me")).json()
    assert (await client.get(f"/api/v1/users/{me['id']}")).json()["email"] == "member@example.com"
    client.headers["Authorization"] = f"Bearer {tokens.admin}"
    owner = next(u for u in (await client.get("/api/v1/users")).json()["data"] if u["role"] == "owner")
    client.headers["Authorization"] = f"Bearer {tokens.member}"
    assert (await client.get(f"/api/v1/users/{owner['id']}")).status_code == 404
    mine = (await client.get("/api/v1/tokens")).json()["data"][0]
    assert (await client.get(f"/api/v1/tokens/{mine['id']}")).json()["hint"].startswith("cashout_pat_...")
