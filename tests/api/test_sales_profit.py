"""Sales with price, fees, shipping, payment and lead; the profit per item; the list of all sales."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from sqlalchemy import select, update

from cashout_server import FeeModel, PlatformDescriptor, hookimpl
from cashout_server.db.models import Item, Lead, LeadEvent, Sale
from cashout_server.ids import new_id
from cashout_server.plugins import PluginRegistry, create_plugin_manager
from cashout_server.runtime import Runtime

Client = Any
FEES = FeeModel(percent_bps=1290, fixed_minor=30)
"""12.9 % + 0.30: a sale at 100.00 costs 13.20."""


@pytest.fixture
def registry(scripted_cls: type[Any]) -> PluginRegistry:
    class FeeScripted(scripted_cls):  # type: ignore[misc]
        @hookimpl
        def platforms(self) -> list[PlatformDescriptor]:
            (descriptor,) = super().platforms()
            return [msgspec.structs.replace(descriptor, fees=FEES)]

    return create_plugin_manager(extra=[("scripted", FeeScripted())])


async def _item(api: Client, title: str = "Road bike", **extra: Any) -> str:
    r = await api.post("/api/v1/items", json={"title": title, "list_price_minor": 30000, **extra})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _listing(api: Client, item_id: str) -> str:
    r = await api.post(
        "/api/v1/connections", json={"platform": "scripted", "name": "S", "credentials": {"api_key": "k"}}
    )
    assert r.status_code == 201, r.text
    r = await api.post("/api/v1/listings", json={"item_id": item_id, "connection_id": r.json()["id"]})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _lead(runtime: Runtime, item_id: str | None, platform: str = "facebook") -> str:
    async with runtime.session() as session:
        pk = await session.scalar(select(Item.id).where(Item.public_id == item_id)) if item_id else None
        lead = Lead(public_id=new_id("lead"), platform=platform, thread_id=new_id("message"), item_id=pk, state="open")
        session.add(lead)
        await session.commit()
        return lead.public_id


async def test_a_sale_records_price_platform_lead_fees_shipping_and_payment(api: Client, runtime: Runtime) -> None:
    item = await _item(api)
    lead = await _lead(runtime, item)
    body = {
        "price_minor": 27000,
        "platform": "facebook",
        "lead_id": lead,
        "fees_minor": 1350,
        "shipping_minor": 800,
        "payment_method": "cash",
        "payment_ref": "receipt 17",
        "note": "met at the station",
    }
    r = await api.post(f"/api/v1/items/{item}/sales", json=body)
    assert r.status_code == 201, r.text
    sale = r.json()
    assert {k: sale[k] for k in body} == body
    assert sale["quantity_left"] == 0 and sale["source"] == "manual"
    assert (await api.get(f"/api/v1/items/{item}")).json()["status"] == "sold"
    assert (await api.get(f"/api/v1/items/{item}/sales")).json()["data"] == [sale]
    async with runtime.session() as session:
        won = await session.scalar(select(Lead).where(Lead.public_id == lead))
        assert won is not None and won.state == "won"
        (event,) = await session.scalars(select(LeadEvent).where(LeadEvent.lead_id == won.id))
    assert event.kind == "sale" and event.data["sale_id"] == sale["id"] and event.data["price_minor"] == 27000


async def test_the_lead_gives_the_platform_when_none_is_named(api: Client, runtime: Runtime) -> None:
    item = await _item(api)
    lead = await _lead(runtime, None, platform="craigslist")
    r = await api.post(f"/api/v1/items/{item}/sales", json={"lead_id": lead, "price_minor": 100})
    assert r.status_code == 201, r.text
    assert r.json()["platform"] == "craigslist" and r.json()["lead_id"] == lead
    assert r.json()["fees_minor"] is None, "no listing, no fee model: unknown, not zero"


async def test_fees_come_from_the_platforms_fee_model_unless_given(api: Client) -> None:
    item = await _item(api, quantity=2)
    listing = await _listing(api, item)
    r = await api.post(f"/api/v1/items/{item}/sales", json={"listing_id": listing, "price_minor": 10000})
    assert r.status_code == 201, r.text
    assert r.json()["fees_minor"] == 1320 and r.json()["platform"] == "scripted"
    given = await api.post(
        f"/api/v1/items/{item}/sales", json={"listing_id": listing, "price_minor": 10000, "fees_minor": 0}
    )
    assert given.status_code == 201 and given.json()["fees_minor"] == 0, "the seller's figure wins"


async def test_bad_ids_and_values_are_problems(api: Client, runtime: Runtime) -> None:
    item = await _item(api)
    other = await _lead(runtime, await _item(api, "Other"))
    cases = [
        (f"/api/v1/items/{item}/sales", {"lead_id": "led_nope"}, 404),
        (f"/api/v1/items/{item}/sales", {"lead_id": other}, 422),
        (f"/api/v1/items/{item}/sales", {"listing_id": "lst_nope"}, 422),
        (f"/api/v1/items/{item}/sales", {"fees_minor": -1}, 400),
        (f"/api/v1/items/{item}/sales", {"shipping_minor": "five"}, 400),
        (f"/api/v1/items/{item}/sales", {"platform": "Face Book"}, 400),
        (f"/api/v1/items/{item}/sales", {"payment_method": ""}, 400),
        ("/api/v1/items/itm_nope/sales", {}, 404),
    ]
    for path, body, status in cases:
        r = await api.post(path, json=body)
        assert r.status_code == status, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert (await api.get(f"/api/v1/items/{item}")).json()["quantity"] == 1, "nothing was sold"
    assert (await api.get("/api/v1/items/itm_nope/profit")).status_code == 404


async def test_profit_is_price_less_fees_shipping_and_cost_basis(api: Client) -> None:
    item = await _item(api, "Socks", quantity=3, cost_basis_minor=400)
    first = await api.post(
        f"/api/v1/items/{item}/sales",
        json={"quantity": 2, "price_minor": 2000, "fees_minor": 260, "shipping_minor": 350},
    )
    second = await api.post(
        f"/api/v1/items/{item}/sales", json={"price_minor": 900, "fees_minor": 0, "shipping_minor": 0}
    )
    assert first.status_code == second.status_code == 201
    r = await api.get(f"/api/v1/items/{item}/profit")
    assert r.status_code == 200, r.text
    profit = r.json()
    assert {k: v for k, v in profit.items() if k != "sales"} == {
        "item_id": item,
        "currency": "USD",
        "quantity_sold": 3,
        "revenue_minor": 2900,
        "fees_minor": 260,
        "shipping_minor": 350,
        "cost_basis_minor": 1200,
        "profit_minor": 2900 - 260 - 350 - 1200,
        "unknown": [],
    }
    rows = [(s["sale_id"], s["cost_basis_minor"], s["profit_minor"]) for s in profit["sales"]]
    assert rows == [(first.json()["id"], 800, 2000 - 260 - 350 - 800), (second.json()["id"], 400, 900 - 400)]


async def test_unknown_parts_are_reported_not_counted_as_zero(api: Client) -> None:
    item = await _item(api, "Chair", quantity=2)
    await api.post(f"/api/v1/items/{item}/sales", json={"price_minor": 5000, "fees_minor": 0})
    await api.post(f"/api/v1/items/{item}/sales", json={"fees_minor": 100, "shipping_minor": 0})
    profit = (await api.get(f"/api/v1/items/{item}/profit")).json()
    assert profit["revenue_minor"] is None and profit["shipping_minor"] is None and profit["cost_basis_minor"] is None
    assert profit["fees_minor"] == 100 and profit["profit_minor"] is None
    assert profit["unknown"] == ["price", "shipping", "cost_basis"]
    assert [s["unknown"] for s in profit["sales"]] == [["shipping", "cost_basis"], ["price", "cost_basis"]]
    assert all(s["profit_minor"] is None for s in profit["sales"])

    unsold = await _item(api, "Table", cost_basis_minor=1000)
    nothing = (await api.get(f"/api/v1/items/{unsold}/profit")).json()
    assert (nothing["quantity_sold"], nothing["profit_minor"], nothing["sales"]) == (0, 0, [])


async def test_all_sales_filter_by_platform_item_and_time_in_pages(api: Client, runtime: Runtime) -> None:
    bike, lamp = await _item(api, "Bike", quantity=3), await _item(api, "Lamp")
    made = []
    for item, platform in [(bike, "facebook"), (lamp, "craigslist"), (bike, "craigslist"), (bike, "facebook")]:
        r = await api.post(f"/api/v1/items/{item}/sales", json={"platform": platform, "price_minor": 100})
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
    start = datetime(2026, 3, 1, tzinfo=UTC)
    async with runtime.session() as session:
        for n, public_id in enumerate(made):
            await session.execute(
                update(Sale).where(Sale.public_id == public_id).values(created_at=start + timedelta(days=n))
            )
        await session.commit()

    async def listed(**params: Any) -> list[str]:
        r = await api.get("/api/v1/sales", params=params)
        assert r.status_code == 200, r.text
        return [s["id"] for s in r.json()["data"]]

    assert await listed() == made
    assert await listed(platform="craigslist") == [made[1], made[2]]
    assert await listed(item_id=bike) == [made[0], made[2], made[3]]
    assert await listed(item_id=bike, platform="facebook") == [made[0], made[3]]
    assert await listed(since="2026-03-02T00:00:00Z", until="2026-03-04T00:00:00Z") == [made[1], made[2]]
    assert await listed(since="2026-03-02T00:00:00+01:00") == made[1:], "zones are honoured"
    page = (await api.get("/api/v1/sales", params={"limit": 3})).json()
    rest = (await api.get("/api/v1/sales", params={"limit": 3, "cursor": page["next_cursor"]})).json()
    assert [s["id"] for s in page["data"] + rest["data"]] == made and rest["next_cursor"] is None
    assert page["data"][1]["item_id"] == lamp and page["data"][1]["quantity_left"] == 0
    naive = await api.get("/api/v1/sales", params={"since": "2026-03-02T00:00:00"})
    assert naive.status_code == 422 and naive.headers["content-type"].startswith("application/problem+json")
    assert (await api.get("/api/v1/sales", params={"item_id": "itm_nope"})).status_code == 404
