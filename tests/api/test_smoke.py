from litestar import Litestar
from litestar.testing import AsyncTestClient


async def test_create_and_fetch_item(api: AsyncTestClient[Litestar]) -> None:
    r = await api.post("/api/v1/items", json={"title": "Lamp", "list_price_minor": 2500})
    assert r.status_code == 201, r.text
    item = r.json()
    assert item["id"].startswith("itm_")
    r = await api.get(f"/api/v1/items/{item['id']}")
    assert r.json()["title"] == "Lamp"
