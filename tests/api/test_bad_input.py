"""Every write route answers bad input with a 4xx problem+json, never a 500, and changes nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]
WRITES = {"post", "put", "patch", "delete"}


async def _write_routes(api: Client) -> list[tuple[str, str]]:
    doc = (await api.get("/schema/openapi.json")).json()
    return [(m, p) for p, item in doc["paths"].items() for m in item if m in WRITES]


async def _ids(api: Client) -> dict[str, str]:
    item = (await api.post("/api/v1/items", json={"title": "Desk", "list_price_minor": 5000})).json()
    return {"item_id": item["id"]}


def _fill(template: str, ids: dict[str, str], *, bad: bool) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        return "not-an-id" if bad or name not in ids else ids[name]

    return re.sub(r"\{([^}]+)\}", sub, template)


def _assert_problem(r: Any, where: str) -> None:
    assert 400 <= r.status_code < 500, f"{where}: {r.status_code} {r.text[:200]}"
    if r.status_code != 405:
        assert r.headers["content-type"].startswith("application/problem+json"), where
        body = r.json()
        assert body["status"] == r.status_code and body["detail"], where


BODIES: list[tuple[str, bytes | None, dict[str, str]]] = [
    ("malformed json", b'{"title": ', {"content-type": "application/json"}),
    (
        "wrong types",
        b'{"title": 12, "list_price_minor": "lots", "name": [], "email": 5}',
        {"content-type": "application/json"},
    ),
    ("unknown fields", b'{"surprise": true}', {"content-type": "application/json"}),
    ("not an object", b"[1, 2, 3]", {"content-type": "application/json"}),
]


@pytest.mark.parametrize(("label", "body", "headers"), BODIES, ids=[b[0] for b in BODIES])
async def test_bad_bodies(api: Client, label: str, body: bytes | None, headers: dict[str, str]) -> None:
    ids = await _ids(api)
    before = (await api.get("/api/v1/items")).json()
    for method, template in await _write_routes(api):
        if method == "delete":
            continue  # deletes take no body
        path = _fill(template, ids, bad=False)
        r = await api.request(method.upper(), path, content=body, headers=headers)
        _assert_problem(r, f"{label}: {method} {template}")
    after = (await api.get("/api/v1/items")).json()
    assert after == before, "bad input changed data"


async def test_bad_ids(api: Client) -> None:
    for method, template in await _write_routes(api):
        if "{" not in template:
            continue
        r = await api.request(method.upper(), _fill(template, {}, bad=True), json={})
        _assert_problem(r, f"bad id: {method} {template}")
        assert r.status_code in (400, 404, 415), f"{method} {template}: {r.status_code}"


async def test_oversize_json_body_is_413(api: Client) -> None:
    huge = b'{"title": "' + b"x" * 2_000_000 + b'", "list_price_minor": 1}'
    r = await api.post("/api/v1/items", content=huge, headers={"content-type": "application/json"})
    _assert_problem(r, "oversize")
    assert r.status_code == 413


async def test_field_rules_are_422_with_reason(api: Client) -> None:
    r = await api.post("/api/v1/items", json={"title": "A", "list_price_minor": 100, "floor_price_minor": 200})
    assert r.status_code == 422 and "floor_price_minor" in r.json()["detail"]
    r = await api.post("/api/v1/items", json={"title": "A", "list_price_minor": 100, "identifiers": {"upc": "12"}})
    assert r.status_code == 422 and "UPC" in r.json()["detail"]
    r = await api.post("/api/v1/items", json={"title": "A", "list_price_minor": -1})
    assert r.status_code == 400 and r.json()["errors"]
    r = await api.post("/api/v1/items", json={"title": "A", "list_price_minor": 1, "currency": "dollars"})
    assert r.status_code == 400
    r = await api.get("/api/v1/items", params={"cursor": "garbage!"})
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
    r = await api.get("/api/v1/items", params={"limit": "0"})
    assert r.status_code == 400
