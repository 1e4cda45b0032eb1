"""The rules API (validation as problem+json) and the item's explained history."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from automation_support import NOW, Shop, days

from cashout_server.domain.automation.services import run_all
from cashout_server.runtime import Runtime

pytestmark = pytest.mark.db


async def _item(api: httpx.AsyncClient, **fields: Any) -> str:
    r = await api.post(
        "/api/v1/items",
        json={"title": "Lamp", "condition": "used_good", "list_price_minor": 5000, "floor_price_minor": 3000, **fields},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_create_read_update_delete_a_rule(api: httpx.AsyncClient) -> None:
    item = await _item(api)
    r = await api.post(
        "/api/v1/rules",
        json={"name": "weekly", "kind": "price_drop", "item_id": item, "params": {"percent": 5, "every_days": 7}},
    )
    assert r.status_code == 201, r.text
    rule = r.json()
    assert rule["id"].startswith("rul_") and rule["item_id"] == item and rule["enabled"] is True
    assert rule["params"] == {"percent": 5.0, "every_days": 7, "only_without_offers": False, "offer_days": 7}

    assert (await api.get(f"/api/v1/rules/{rule['id']}")).json()["name"] == "weekly"
    listed = (await api.get("/api/v1/rules", params={"item_id": item})).json()["data"]
    assert [r["id"] for r in listed] == [rule["id"]]

    r = await api.patch(
        f"/api/v1/rules/{rule['id']}", json={"enabled": False, "params": {"amount_minor": 500, "every_days": 3}}
    )
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is False and r.json()["params"]["amount_minor"] == 500

    r = await api.patch(f"/api/v1/rules/{rule['id']}", json={"item_id": None, "category": "lamps"})
    assert r.json()["item_id"] is None and r.json()["category"] == "lamps"

    assert (await api.delete(f"/api/v1/rules/{rule['id']}")).status_code == 204
    gone = await api.get(f"/api/v1/rules/{rule['id']}")
    assert gone.status_code == 404 and gone.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"kind": "price_drop", "params": {"percent": 10, "amount_minor": 100, "every_days": 7}}, "exactly one of"),
        ({"kind": "price_drop", "params": {"percent": 10}}, "params.every_days is required"),
        ({"kind": "price_drop", "params": {"percent": 150, "every_days": 7}}, "params.percent must be above 0"),
        ({"kind": "price_drop", "params": {"percent": 10, "every_days": 0}}, "params.every_days must be at least 1"),
        ({"kind": "price_drop", "params": {"percent": 10, "every_days": 7, "color": 1}}, "params.color is not a"),
        ({"kind": "price_drop", "params": {"percent": 10, "every_days": "7"}}, "must be a whole number"),
        ({"kind": "relist", "params": {}}, "params.after_days is required"),
        ({"kind": "follow_up", "params": {"after_hours": 24, "auto_send": "yes"}}, "params.auto_send must be true"),
        ({"kind": "follow_up", "params": {"after_hours": 0.5}}, "params.after_hours must be between"),
    ],
)
async def test_bad_parameters_are_explained_as_problems(
    api: httpx.AsyncClient, body: dict[str, Any], says: str
) -> None:
    r = await api.post("/api/v1/rules", json={"name": "r", "category": "lamps", **body})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["type"].endswith("/invalid-rule") and says in problem["detail"]
    assert (await api.get("/api/v1/rules")).json()["data"] == []


async def test_targets_and_kinds_are_checked(api: httpx.AsyncClient) -> None:
    item = await _item(api)
    drop = {"percent": 10, "every_days": 7}
    both = await api.post(
        "/api/v1/rules", json={"name": "r", "kind": "price_drop", "item_id": item, "category": "x", "params": drop}
    )
    assert both.status_code == 422 and "exactly one of item_id" in both.json()["detail"]
    neither = await api.post("/api/v1/rules", json={"name": "r", "kind": "price_drop", "params": drop})
    assert neither.status_code == 422
    unknown = await api.post(
        "/api/v1/rules", json={"name": "r", "kind": "price_drop", "item_id": "itm_nope", "params": drop}
    )
    assert unknown.status_code == 422 and "no item with id 'itm_nope'" in unknown.json()["detail"]
    kind = await api.post("/api/v1/rules", json={"name": "r", "kind": "discount", "category": "x", "params": {}})
    assert kind.status_code == 400 and kind.headers["content-type"].startswith("application/problem+json")

    rule = (
        await api.post("/api/v1/rules", json={"name": "r", "kind": "price_drop", "category": "x", "params": drop})
    ).json()
    bad = await api.patch(f"/api/v1/rules/{rule['id']}", json={"params": {"percent": 10}})
    assert bad.status_code == 422
    assert (await api.get(f"/api/v1/rules/{rule['id']}")).json()["params"]["percent"] == 10, "unchanged"


async def test_item_events_explain_what_a_rule_did(api: httpx.AsyncClient, shop: Shop, runtime: Runtime) -> None:
    con = await shop.connection()
    item = await shop.item()
    await shop.live(item, con, published_at=NOW - days(8))
    r = await api.post(
        "/api/v1/rules",
        json={
            "name": "weekly",
            "kind": "price_drop",
            "item_id": item.public_id,
            "params": {"percent": 10, "every_days": 7},
        },
    )
    rule = r.json()["id"]
    await run_all(runtime, now=NOW)

    page = (await api.get(f"/api/v1/items/{item.public_id}/events")).json()
    [event] = page["data"]
    assert event["kind"] == "price_drop" and event["rule_id"] == rule
    assert event["detail"].startswith("Dropped from $200 to $180 (10% every 7 days; floor not reached)")
    assert event["data"]["rule_name"] == "weekly"
    assert (await api.get(f"/api/v1/rules/{rule}")).json()["last_run_at"] is not None

    assert (await api.get("/api/v1/items/itm_nope/events")).status_code == 404
