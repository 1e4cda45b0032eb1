"""The client's outbox, approval and sale calls: what they send, and what the real server answers."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from cashout_server import TransientError
from cashout_server.domain.delivery.worker import DeliveryWorker
from cashout_server.plugins import PluginRegistry
from cashout_server.runtime import Runtime
from cashout_tui.client import ApiError, CashoutClient, Item, Listing

MakeDue = Callable[[], Awaitable[None]]


@pytest.fixture
def registry(registry_with_scripted: PluginRegistry) -> PluginRegistry:
    return registry_with_scripted


def recording_client(answer: object, status: int = 200) -> tuple[CashoutClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=answer)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return CashoutClient("http://example.test", "t", http=http), seen


async def listed(client: CashoutClient, title: str = "Road bike", connections: int = 1) -> tuple[Item, list[Listing]]:
    item = await client.create_item({"title": title, "list_price_minor": 30000})
    listings = []
    for n in range(connections):
        connection = await client.create_connection("scripted", f"S{n}", credentials={"api_key": "k"})
        listings.append(await client.create_listing(item["id"], connection["id"]))
    return item, listings


# -- what is sent -------------------------------------------------------------------------------


async def test_outbox_calls_send_the_documented_requests() -> None:
    client, seen = recording_client({"data": [], "next_cursor": None})
    await client.list_deliveries(state="dead", platform="ebay", limit=10)
    await client.list_approvals()
    await client.list_approvals(status="all")
    await client.list_sales("itm_1")
    assert [(r.method, r.url.path, dict(r.url.params)) for r in seen] == [
        ("GET", "/api/v1/deliveries", {"state": "dead", "platform": "ebay", "limit": "10"}),
        ("GET", "/api/v1/approvals", {"status": "pending", "limit": "50"}),
        ("GET", "/api/v1/approvals", {"status": "all", "limit": "50"}),
        ("GET", "/api/v1/items/itm_1/sales", {}),
    ]


async def test_action_calls_send_their_bodies() -> None:
    client, seen = recording_client({"id": "x"})
    await client.retry_delivery("dlv_1")
    await client.cancel_delivery("dlv_1")
    await client.approve("apr_1", "fine")
    await client.reject("apr_2")
    await client.record_sale("itm_1", quantity=2, price_minor=1999, listing_id="lst_1", note="cash")
    await client.record_sale("itm_1")
    await client.update_connection("con_1", {"approvals": {"publish": True}})
    sent = [(r.method, r.url.path, json.loads(r.content) if r.content else None) for r in seen]
    assert sent == [
        ("POST", "/api/v1/deliveries/dlv_1/retry", None),
        ("POST", "/api/v1/deliveries/dlv_1/cancel", None),
        ("POST", "/api/v1/approvals/apr_1/approve", {"note": "fine"}),
        ("POST", "/api/v1/approvals/apr_2/reject", {"note": ""}),
        (
            "POST",
            "/api/v1/items/itm_1/sales",
            {"quantity": 2, "price_minor": 1999, "listing_id": "lst_1", "note": "cash"},
        ),
        ("POST", "/api/v1/items/itm_1/sales", {"quantity": 1, "price_minor": None, "listing_id": None, "note": ""}),
        ("PATCH", "/api/v1/connections/con_1", {"approvals": {"publish": True}}),
    ]


async def test_all_deliveries_follows_cursors() -> None:
    pages = {None: ({"id": "a"}, "c1"), "c1": ({"id": "b"}, None)}

    def handler(request: httpx.Request) -> httpx.Response:
        row, after = pages[request.url.params.get("cursor")]
        assert request.url.params["state"] == "queued"
        return httpx.Response(200, json={"data": [row], "next_cursor": after})

    client = CashoutClient("http://example.test", "t", http=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    assert [d["id"] for d in await client.all_deliveries(state="queued")] == ["a", "b"]


# -- against the real server --------------------------------------------------------------------


async def test_publish_queues_and_the_listing_carries_its_delivery(
    tui_client: CashoutClient, worker: DeliveryWorker
) -> None:
    _, (listing,) = await listed(tui_client)
    assert listing["delivery"] is None
    queued = await tui_client.publish_listing(listing["id"])
    assert queued["status"] == "queued"
    delivery = queued["delivery"]
    assert delivery is not None
    assert (delivery["action"], delivery["state"], delivery["attempts"], delivery["last_error"]) == (
        "publish",
        "queued",
        0,
        None,
    )
    assert delivery["next_attempt_at"] is not None

    await worker.run_once()
    published = await tui_client.get_listing(listing["id"])
    assert published["status"] == "published"
    assert published["delivery"] is not None
    assert (published["delivery"]["state"], published["delivery"]["attempts"]) == ("done", 1)

    # Delisting queues a takedown (202) in the outbox.
    taking_down = await tui_client.delist_listing(listing["id"])
    assert taking_down["status"] == "published"
    assert taking_down["delivery"] is not None
    assert (taking_down["delivery"]["action"], taking_down["delivery"]["state"]) == ("delist", "queued")
    await worker.run_once()
    assert (await tui_client.get_listing(listing["id"]))["status"] == "delisted"


async def test_delist_before_sending_cancels_the_publication(tui_client: CashoutClient) -> None:
    _, (listing,) = await listed(tui_client)
    await tui_client.publish_listing(listing["id"])
    withdrawn = await tui_client.delist_listing(listing["id"])
    assert withdrawn["status"] == "draft"
    assert withdrawn["delivery"] is not None and withdrawn["delivery"]["state"] == "cancelled"


async def test_deliveries_dead_letters_retry_and_counts(
    tui_client: CashoutClient, scripted: Any, worker: DeliveryWorker, make_due: MakeDue, runtime: Runtime
) -> None:
    attempts = runtime.settings.delivery.max_attempts
    _, (listing,) = await listed(tui_client)
    scripted.publish_results = [TransientError(f"HTTP 503 #{n}") for n in range(attempts)]
    await tui_client.publish_listing(listing["id"])
    await worker.run_once()
    for _ in range(attempts - 1):
        await make_due()
        worker.breakers.clear()
        await worker.run_once()

    dead = await tui_client.list_deliveries(state="dead")
    assert len(dead.data) == 1 and dead.next_cursor is None
    row = dead.data[0]
    assert (row["listing_id"], row["platform"], row["action"], row["attempts"]) == (
        listing["id"],
        "scripted",
        "publish",
        attempts,
    )
    assert row["last_error"] == f"gave up after {attempts} attempts: HTTP 503 #{attempts - 1}"
    assert "history" not in row or row["history"] is None
    assert (await tui_client.list_deliveries(state="queued")).data == []
    assert [d["id"] for d in await tui_client.all_deliveries(listing_id=listing["id"])] == [row["id"]]

    detail = await tui_client.get_delivery(row["id"])
    history = detail.get("history") or []
    assert [(a["number"], a["outcome"]) for a in history] == [(n + 1, "TransientError") for n in range(attempts)]
    assert (await tui_client.delivery_counts())["by_state"] == {"dead": 1}

    retried = await tui_client.retry_delivery(row["id"])
    assert retried["state"] == "queued"
    counts = await tui_client.delivery_counts()
    assert counts["by_state"] == {"queued": 1}
    assert counts["by_platform"] == {"scripted": {"queued": 1}}
    with pytest.raises(ApiError, match=r"^Conflict \(409\): the delivery is queued; only a dead or unknown"):
        await tui_client.retry_delivery(row["id"])

    cancelled = await tui_client.cancel_delivery(row["id"])
    assert cancelled["state"] == "cancelled"
    assert (await tui_client.get_listing(listing["id"]))["status"] == "draft"
    with pytest.raises(ApiError) as caught:
        await tui_client.cancel_delivery(row["id"])
    assert caught.value.status == 409
    with pytest.raises(ApiError, match=r"^Not Found \(404\)"):
        await tui_client.get_delivery("dlv_nope")


async def test_approvals_list_approve_and_reject(
    tui_client: CashoutClient, scripted: Any, worker: DeliveryWorker
) -> None:
    _, (first, second) = await listed(tui_client, connections=2)
    for listing in (first, second):
        connection = await tui_client.update_connection(listing["connection_id"], {"approvals": {"publish": True}})
        assert connection.get("approvals", {}).get("publish") is True
        assert (await tui_client.get_connection(listing["connection_id"])).get("approvals", {})["publish"] is True
        queued = await tui_client.publish_listing(listing["id"])
        assert queued["delivery"] is not None and queued["delivery"]["state"] == "awaiting_approval"

    waiting = await tui_client.all_approvals()
    assert [a["listing_id"] for a in waiting] == [first["id"], second["id"]]
    assert [a["status"] for a in waiting] == ["pending", "pending"]
    assert "Road bike" in waiting[0]["summary"]
    assert (await tui_client.list_approvals(limit=1)).next_cursor is not None

    approved = await tui_client.approve(waiting[0]["id"], "ok")
    assert (approved["status"], approved["note"]) == ("approved", "ok")
    rejected = await tui_client.reject(waiting[1]["id"], "wrong price")
    assert (rejected["status"], rejected["note"]) == ("rejected", "wrong price")
    with pytest.raises(ApiError, match=r"^Conflict \(409\): the approval is already rejected"):
        await tui_client.approve(waiting[1]["id"])

    assert (await tui_client.list_approvals()).data == []
    assert [a["status"] for a in await tui_client.all_approvals(status="all")] == ["approved", "rejected"]
    await worker.run_once()
    assert (await tui_client.get_listing(first["id"]))["status"] == "published"
    assert (await tui_client.get_listing(second["id"]))["status"] == "draft"


async def test_record_and_list_sales(tui_client: CashoutClient, worker: DeliveryWorker) -> None:
    item = await tui_client.create_item({"title": "Socks", "list_price_minor": 500, "quantity": 3})
    connections = [
        await tui_client.create_connection("scripted", f"A{n}", credentials={"api_key": "k"}) for n in (1, 2)
    ]
    listings = [await tui_client.create_listing(item["id"], c["id"]) for c in connections]
    for listing in listings:
        await tui_client.publish_listing(listing["id"])
    await worker.run_once()

    sale = await tui_client.record_sale(item["id"], quantity=2, price_minor=900, note="market stall")
    assert (sale["quantity"], sale["price_minor"], sale["currency"], sale["quantity_left"]) == (2, 900, "USD", 1)
    assert (sale["source"], sale["note"], sale["connection_id"]) == ("manual", "market stall", None)
    await worker.run_once()  # the live listings are updated with the units left

    with pytest.raises(ApiError) as caught:
        await tui_client.record_sale(item["id"], quantity=2)
    assert caught.value.status == 409
    assert caught.value.detail == "quantity must be between 1 and 1 (the units left)"

    last = await tui_client.record_sale(item["id"], listing_id=listings[0]["id"])
    assert last["quantity_left"] == 0
    assert last["connection_id"] == connections[0]["id"]
    assert (await tui_client.get_item(item["id"]))["status"] == "sold"
    await worker.run_once()
    assert [(await tui_client.get_listing(lst["id"]))["status"] for lst in listings] == ["sold", "delisted"]

    sales = await tui_client.list_sales(item["id"])
    assert [(s["quantity"], s["price_minor"]) for s in sales] == [(2, 900), (1, None)]
    with pytest.raises(ApiError, match=r"^Conflict \(409\): the item is already sold out"):
        await tui_client.record_sale(item["id"])
    with pytest.raises(ApiError, match=r"^Not Found \(404\)"):
        await tui_client.list_sales("itm_nope")
