"""Items: create, read, update, filters and cursor pagination."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]


async def test_item_round_trip_with_money_and_identifiers(api: Client) -> None:
    r = await api.post(
        "/api/v1/items",
        json={
            "title": "Nintendo Switch OLED",
            "sku": "SW-001",
            "list_price_minor": 27999,
            "floor_price_minor": 24000,
            "cost_basis_minor": 15000,
            "currency": "USD",
            "condition": "like_new",
            "identifiers": {"upc": "0454-9699 5002 ", "asin": "b098rkwhhz"},
            "quantity": 2,
        },
    )
    assert r.status_code == 201, r.text
    item = r.json()
    assert item["identifiers"] == {"upc": "045496995002", "asin": "B098RKWHHZ"}
    assert item["list_price_minor"] == 27999 and item["currency"] == "USD"
    assert item["created_at"].endswith(("Z", "+00:00"))
    r = await api.patch(f"/api/v1/items/{item['id']}", json={"list_price_minor": 25999, "brand": "Nintendo"})
    assert r.status_code == 200
    updated = r.json()
    assert updated["list_price_minor"] == 25999 and updated["brand"] == "Nintendo"
    assert updated["floor_price_minor"] == 24000, "fields not sent stay as they were"
    r = await api.patch(f"/api/v1/items/{item['id']}", json={"brand": None})
    assert r.json()["brand"] is None
    r = await api.patch(f"/api/v1/items/{item['id']}", json={"list_price_minor": 100})
    assert r.status_code == 422, "floor above list price is refused"
    assert (await api.get(f"/api/v1/items/{item['id']}")).json()["list_price_minor"] == 25999


async def test_duplicate_sku_is_refused(api: Client) -> None:
    assert (await api.post("/api/v1/items", json={"title": "A", "sku": "X1", "list_price_minor": 1})).status_code == 201
    r = await api.post("/api/v1/items", json={"title": "B", "sku": "X1", "list_price_minor": 1})
    assert r.status_code == 422 and "X1" in r.json()["detail"]


async def test_filters_and_pagination_visit_every_item_once(api: Client) -> None:
    for n in range(7):
        status = "active" if n % 2 else "draft"
        await api.post(
            "/api/v1/items",
            json={
                "title": f"Camera lens {n}" if n < 3 else f"Tripod {n}",
                "list_price_minor": 100 + n,
                "status": status,
            },
        )
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/api/v1/items", params=params)).json()
        seen += [i["title"] for i in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 7 and len(set(seen)) == 7
    lens = (await api.get("/api/v1/items", params={"q": "LENS camera"})).json()["data"]
    assert sorted(i["title"] for i in lens) == ["Camera lens 0", "Camera lens 1", "Camera lens 2"]
    active = (await api.get("/api/v1/items", params={"status": "active"})).json()["data"]
    assert len(active) == 3 and all(i["status"] == "active" for i in active)
    assert (await api.get("/api/v1/items", params={"q": "100%"})).json()["data"] == []


async def test_delete_item(api: Client) -> None:
    item = (await api.post("/api/v1/items", json={"title": "Gone", "list_price_minor": 1})).json()
    assert (await api.delete(f"/api/v1/items/{item['id']}")).status_code == 204
    r = await api.get(f"/api/v1/items/{item['id']}")
    assert r.status_code == 404 and r.json()["type"].endswith("/not-found")
