"""The TUI and the delivery outbox, against the real app and a scripted platform: what a person sees
while the server's delivery worker (driven by the test) sends, retries, waits for approval and
takes listings down after a sale.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Select
from tui.pilot_support import SIZE, column, make_app, open_first_item, screen_text, settle, type_into, wait_for

from cashout_server import TransientError
from cashout_server.domain.delivery.worker import DeliveryWorker
from cashout_server.plugins import PluginRegistry
from cashout_server.runtime import Runtime
from cashout_tui.app import CashoutApp, ItemScreen, ItemsScreen
from cashout_tui.client import CashoutClient, Connection, Item, Listing
from cashout_tui.common import NoteScreen, Polling
from cashout_tui.outbox import ApprovalsScreen, OutboxScreen
from cashout_tui.sale import SaleScreen

MakeDue = Callable[[], Awaitable[None]]


@pytest.fixture
def registry(registry_with_scripted: PluginRegistry) -> PluginRegistry:
    return registry_with_scripted


async def scripted_connection(client: CashoutClient, name: str = "S") -> Connection:
    return await client.create_connection("scripted", name, credentials={"api_key": "k"})


async def item_listed(
    client: CashoutClient, title: str = "Road bike", connections: int = 1
) -> tuple[Item, list[Listing]]:
    item = await client.create_item({"title": title, "list_price_minor": 30000})
    listings = []
    for n in range(connections):
        connection = await scripted_connection(client, f"Account {n + 1}")
        listings.append(await client.create_listing(item["id"], connection["id"]))
    return item, listings


async def kill_delivery(
    client: CashoutClient, listing_id: str, scripted: Any, worker: DeliveryWorker, make_due: MakeDue, attempts: int
) -> None:
    """Publish through a platform that fails every time until the server gives up (a dead letter)."""
    scripted.publish_results = [TransientError(f"HTTP 503 #{n}") for n in range(attempts)]
    await client.publish_listing(listing_id)
    await worker.run_once()
    for _ in range(attempts - 1):
        await make_due()
        worker.breakers.clear()  # the breaker's cooldown passes too
        await worker.run_once()


async def test_publish_shows_queued_then_each_attempt_until_published(
    tui_client: CashoutClient, scripted: Any, worker: DeliveryWorker, make_due: MakeDue
) -> None:
    _, (listing,) = await item_listed(tui_client)
    scripted.publish_results = [TransientError("HTTP 503 from the platform")]
    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first_item(pilot)
        table = screen.query_one("#listings", DataTable)
        assert column(table, "status") == ["draft"]
        assert column(table, "delivery") == [""]

        # Publishing answers at once: queued, nothing tried yet, due now, and the screen follows it.
        await pilot.press("p")
        await wait_for(pilot, lambda: column(table, "status") == ["queued"], "queued")
        assert column(table, "delivery") == ["publish queued"]
        assert column(table, "attempts") == ["0"]
        assert column(table, "next") == ["due now"]
        outcome = screen_text(pilot, "#outcome")
        assert "Queued for scripted: the server's delivery worker sends it shortly." in outcome
        assert "Delivery: publish queued · 0 attempts · next due now" in outcome
        assert "Waiting for the delivery worker" in screen_text(pilot, "#progress")
        assert screen.query_one("#progress").has_class("busy")

        # The first attempt fails with a transient error: it is queued again, with the error and the next try.
        await worker.run_once()
        # (While the worker runs, a look may catch the listing "publishing": wait for where it comes to rest.)
        await wait_for(
            pilot,
            lambda: (
                [column(table, key) for key in ("status", "delivery", "attempts")]
                == [["queued"], ["publish queued"], ["1"]]
            ),
            "the first attempt to show",
        )
        assert column(table, "error") == ["attempt 1 failed: HTTP 503 from the platform"]
        assert re.fullmatch(r"due now|in \d+s", column(table, "next")[0])
        assert "last error: attempt 1 failed: HTTP 503 from the platform" in screen_text(pilot, "#outcome")
        assert re.search(r"check \d+ of 100: scripted publish queued", screen_text(pilot, "#progress"))

        # The retry succeeds: the listing settles as published after two attempts, and the following stops.
        await make_due()
        worker.breakers.clear()
        await worker.run_once()
        await settle(pilot)
        assert column(table, "status") == ["published"]
        assert column(table, "delivery") == ["publish done"]
        assert column(table, "attempts") == ["2"]
        assert column(table, "next") == [""]
        assert column(table, "url") == ["https://scripted.test/1"]
        assert screen_text(pilot, "#outcome") == "Published on scripted: https://scripted.test/1"
        assert screen_text(pilot, "#progress").startswith("Deliveries settled")
        assert not screen.query_one("#progress").has_class("busy")
        assert f"Listing {listing['id']} on scripted is published." in screen_text(pilot, "#status")
        assert (await tui_client.get_listing(listing["id"]))["status"] == "published"


async def test_following_is_bounded_and_never_blocks_the_screen(tui_client: CashoutClient) -> None:
    _, (listing,) = await item_listed(tui_client)
    app = CashoutApp(tui_client, polling=Polling(interval=0.2, limit=3))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first_item(pilot)
        await pilot.press("p")
        # No delivery worker runs: after three looks the screen stops following and says what to do.
        await settle(pilot)
        progress = screen_text(pilot, "#progress")
        assert progress == (
            "Still on its way after 3 checks: scripted publish queued (next due now). "
            "The server keeps trying; press r to refresh."
        )
        assert column(screen.query_one("#listings", DataTable), "status") == ["queued"]

        # Refreshing follows it again; leaving the screen meanwhile is immediate and stops the following.
        await pilot.press("r")
        await wait_for(
            pilot, lambda: "Waiting for the delivery worker" in screen_text(pilot, "#progress"), "following again"
        )
        await pilot.press("escape")
        assert isinstance(app.screen, ItemsScreen)
        await settle(pilot)
        assert not [w for w in app.workers if w.group == "watch" and w.is_running]
        assert (await tui_client.get_listing(listing["id"]))["status"] == "queued"


async def test_dead_delivery_is_in_the_outbox_and_retry_requeues_it(
    tui_client: CashoutClient, scripted: Any, worker: DeliveryWorker, make_due: MakeDue, runtime: Runtime
) -> None:
    attempts = runtime.settings.delivery.max_attempts
    _, (listing,) = await item_listed(tui_client)
    other_item, (queued,) = await item_listed(tui_client, "Lamp")
    await kill_delivery(tui_client, listing["id"], scripted, worker, make_due, attempts)
    dead = (await tui_client.get_listing(listing["id"]))["delivery"]
    assert dead is not None and dead["state"] == "dead"
    await tui_client.publish_listing(queued["id"])  # an ordinary queued one, to tell the filter works

    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "Outbox: 1 dead, 1 queued (o)" in screen_text(pilot, "#outbox-summary")

        # The item screen says the server gave up, and where to retry it.
        screen = await open_first_item(pilot)
        table = screen.query_one("#listings", DataTable)
        assert column(table, "status") == ["failed"]
        assert column(table, "delivery") == ["publish dead"]
        assert column(table, "attempts") == [str(attempts)]
        assert column(table, "error") == [f"gave up after {attempts} attempts: HTTP 503 #{attempts - 1}"]
        outcome = screen_text(pilot, "#outcome")
        assert "retry it from the outbox (o on the items screen)" in outcome
        await pilot.press("escape")
        await settle(pilot)

        await pilot.press("o")
        await settle(pilot)
        outbox = app.screen
        assert isinstance(outbox, OutboxScreen)
        deliveries = outbox.query_one("#deliveries", DataTable)
        assert column(deliveries, "state") == ["dead", "queued"]
        assert "Outbox: 1 dead · 1 queued" in screen_text(pilot, "#counts")

        await pilot.press("d")  # the dead letters only
        await settle(pilot)
        assert outbox.query_one("#state-filter", Select).value == "dead"
        assert column(deliveries, "id") == [dead["id"]]
        assert column(deliveries, "listing") == [listing["id"]]
        assert column(deliveries, "attempts") == [str(attempts)]
        assert column(deliveries, "error") == [f"gave up after {attempts} attempts: HTTP 503 #{attempts - 1}"]
        assert column(deliveries, "next") == [""]
        assert screen_text(pilot, "#status").startswith("Dead letters: 1 delivery")
        detail = screen_text(pilot, "#delivery-detail")
        assert f"{dead['id']}: publish on scripted for listing {listing['id']}" in detail
        assert "Press t to queue it again now." in detail
        for n in range(attempts):
            assert f"  {n + 1}. publish → TransientError: HTTP 503 #{n} (" in detail

        await pilot.press("t")
        await settle(pilot)
        assert column(deliveries, "state") == ["queued"]
        assert column(deliveries, "next") == ["due now"]
        assert f"Queued {dead['id']} again" in screen_text(pilot, "#status")
        assert "Outbox: 2 queued" in screen_text(pilot, "#counts")
        assert (await tui_client.get_delivery(dead["id"]))["state"] == "queued"
        assert (await tui_client.get_listing(listing["id"]))["status"] == "queued"

        # Retrying it again is a conflict, shown readably; the app keeps running.
        await pilot.press("t")
        await settle(pilot)
        assert screen_text(pilot, "#status") == "Only a dead or unknown delivery can be retried; this one is queued."

        await worker.run_once()
        assert (await tui_client.get_listing(listing["id"]))["status"] == "published"
        await pilot.press("r")
        await settle(pilot)
        assert deliveries.row_count == 0
        assert screen_text(pilot, "#delivery-detail") == "Nothing here."
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ItemsScreen)
        assert "Outbox: nothing waiting (o)" in screen_text(pilot, "#outbox-summary")
        assert other_item["id"]


async def test_outbox_cancels_a_queued_publication(tui_client: CashoutClient) -> None:
    _, (listing,) = await item_listed(tui_client)
    published = await tui_client.publish_listing(listing["id"])
    assert published["delivery"] is not None
    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        deliveries = app.screen.query_one("#deliveries", DataTable)
        assert column(deliveries, "state") == ["queued"]
        assert "Press c to cancel it." in screen_text(pilot, "#delivery-detail")
        await pilot.press("c")
        await settle(pilot)
        assert column(deliveries, "state") == ["cancelled"]
        assert screen_text(pilot, "#status").startswith(f"Cancelled {published['delivery']['id']}.")
        assert (await tui_client.get_listing(listing["id"]))["status"] == "draft"

        # Cancelling it again: the server's 409 is shown readably and the app keeps running.
        await pilot.press("c")
        await settle(pilot)
        status = screen_text(pilot, "#status")
        assert status.startswith("Could not cancel the delivery: Conflict (409): the delivery is cancelled;")
        assert app.is_running
        assert isinstance(app.screen, OutboxScreen)


async def test_approval_appears_and_is_approved_from_the_tui(
    tui_client: CashoutClient, worker: DeliveryWorker, scripted: Any
) -> None:
    item, (listing,) = await item_listed(tui_client, "Walnut desk")
    policy = await tui_client.update_connection(listing["connection_id"], {"approvals": {"publish": True}})
    assert policy.get("approvals", {}).get("publish") is True
    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first_item(pilot)
        table = screen.query_one("#listings", DataTable)
        await pilot.press("p")
        await settle(pilot)  # nothing to follow: it waits for a person
        assert column(table, "status") == ["queued"]
        assert column(table, "delivery") == ["publish awaiting_approval"]
        outcome = screen_text(pilot, "#outcome")
        assert "Waiting for approval before it goes to scripted." in outcome
        assert "A person must approve it first (a on the items screen)." in outcome
        await worker.run_once()
        assert scripted.calls == []

        await pilot.press("escape")
        await settle(pilot)
        assert "Approvals: 1 waiting (a)" in screen_text(pilot, "#outbox-summary")
        await pilot.press("a")
        await settle(pilot)
        approvals = app.screen
        assert isinstance(approvals, ApprovalsScreen)
        rows = approvals.query_one("#approvals", DataTable)
        assert column(rows, "summary") == ["Publish 'Walnut desk' at 300.00 USD on Account 1 (scripted)"]
        assert column(rows, "status") == ["pending"]
        assert "Press a to approve" in screen_text(pilot, "#approval-detail")

        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, NoteScreen)
        assert "Approve: Publish 'Walnut desk'" in screen_text(pilot, "#note-title")
        await pilot.press(*"price checked")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is approvals
        assert column(rows, "status") == ["approved"]
        assert column(rows, "note") == ["price checked"]
        assert screen_text(pilot, "#status").startswith("Approved: it is queued for delivery now.")
        assert (await tui_client.list_approvals()).data == []
        decided = (await tui_client.list_approvals(status="all")).data
        assert [(a["status"], a["note"]) for a in decided] == [("approved", "price checked")]

        await worker.run_once()
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ItemScreen)
        assert column(app.screen.query_one("#listings", DataTable), "status") == ["published"]
        assert item["id"] == app.screen.item_id


async def test_approval_rejected_with_a_note(tui_client: CashoutClient) -> None:
    _, (listing,) = await item_listed(tui_client, "Brass lamp")
    await tui_client.update_connection(listing["connection_id"], {"approvals": {"publish": True}})
    await tui_client.publish_listing(listing["id"])
    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        assert "Reject: Publish 'Brass lamp'" in screen_text(pilot, "#note-title")
        await type_into(pilot, "#note", "wrong price")
        await pilot.click("#note-ok")
        await settle(pilot)
        rows = app.screen.query_one("#approvals", DataTable)
        assert column(rows, "status") == ["rejected"]
        assert column(rows, "note") == ["wrong price"]
        assert screen_text(pilot, "#status").startswith("Rejected. Publish 'Brass lamp'")
        assert (await tui_client.get_listing(listing["id"]))["status"] == "draft"

        # Escape in the note dialog decides nothing.
        await pilot.press("f")  # approved
        await pilot.press("f")  # rejected
        await settle(pilot)
        assert column(rows, "status") == ["rejected"]
        await pilot.press("x")
        await settle(pilot)
        assert screen_text(pilot, "#status") == "It is already rejected."
        assert isinstance(app.screen, ApprovalsScreen)


async def test_mark_sold_records_the_sale_and_the_other_listings_come_down(
    tui_client: CashoutClient, worker: DeliveryWorker, scripted: Any
) -> None:
    item, listings = await item_listed(tui_client, "Camera", connections=3)
    for listing in listings:
        await tui_client.publish_listing(listing["id"])
    await worker.run_once()
    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first_item(pilot)
        table = screen.query_one("#listings", DataTable)
        assert column(table, "status") == ["published"] * 3

        await pilot.press("s")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, SaleScreen)
        assert "Mark sold: Camera (1 left, listed at 300.00 USD)" in screen_text(pilot, "#sale-title")
        assert dialog.query_one("#sale-quantity", Input).value == "1"
        await type_into(pilot, "#sale-price", "280")
        # Sold through the first account's listing: tab to the list, open it, pick the first one.
        await pilot.press("tab")
        assert dialog.query_one("#sale-listing", Select).has_focus
        await pilot.press("enter", "down", "enter")
        assert dialog.query_one("#sale-listing", Select).value == listings[0]["id"]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is screen, "the dialog to close")

        # At once: the sale, the item sold out, the first listing sold, takedowns queued for the others.
        await wait_for(pilot, lambda: "Status       sold" in screen_text(pilot, "#item-fields"), "the item to reload")
        assert "Sold 1 for 280.00 USD; 0 left. The item is sold out" in screen_text(pilot, "#outcome")
        assert column(table, "status") == ["sold", "published", "published"]
        assert column(table, "delivery")[1:] == ["delist queued", "delist queued"]
        sales = await tui_client.list_sales(item["id"])
        assert [(s["quantity"], s["price_minor"], s["quantity_left"]) for s in sales] == [(1, 28000, 0)]

        # One delivery cycle: the others come down, and the screen shows it.
        await worker.run_once()
        await settle(pilot)
        assert column(table, "status") == ["sold", "delisted", "delisted"]
        assert column(table, "delivery")[1:] == ["delist done", "delist done"]
        assert screen_text(pilot, "#progress").startswith("Deliveries settled")
        assert [name for name, _ in scripted.calls].count("delist") == 2


async def test_delist_queues_a_takedown_and_follows_it(tui_client: CashoutClient, worker: DeliveryWorker) -> None:
    _, (listing,) = await item_listed(tui_client, "Kettle")
    await tui_client.publish_listing(listing["id"])
    await worker.run_once()
    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first_item(pilot)
        table = screen.query_one("#listings", DataTable)
        assert column(table, "status") == ["published"]
        await pilot.press("d")
        await wait_for(pilot, lambda: column(table, "delivery") == ["delist queued"], "the takedown to be queued")
        assert column(table, "status") == ["published"]
        assert screen_text(pilot, "#outcome").startswith("Takedown queued.\nPublished on scripted:")
        await worker.run_once()
        await settle(pilot)
        assert column(table, "status") == ["delisted"]
        assert column(table, "delivery") == ["delist done"]
        assert screen_text(pilot, "#outcome") == "Delisted from scripted."


async def test_mark_sold_problem_is_shown_readably_and_the_app_keeps_running(tui_client: CashoutClient) -> None:
    item, _ = await item_listed(tui_client, "Chair")
    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        await open_first_item(pilot)
        await pilot.press("s")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, SaleScreen)

        # Checked before sending.
        await type_into(pilot, "#sale-price", "12.345")
        await pilot.press("enter")
        await settle(pilot)
        assert "Price can have at most 2 decimal places in USD." in screen_text(pilot, "#sale-error")

        # Refused by the server (409, only one unit left): its reason is shown, the dialog stays open.
        dialog.query_one("#sale-price", Input).value = ""
        quantity = dialog.query_one("#sale-quantity", Input)
        quantity.value = ""
        await type_into(pilot, "#sale-quantity", "2")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is dialog
        assert screen_text(pilot, "#sale-error") == (
            "Could not record the sale: Conflict (409): quantity must be between 1 and 1 (the units left)"
        )
        assert not dialog.query_one("#sale-ok").disabled
        assert await tui_client.list_sales(item["id"]) == []

        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ItemScreen)
        assert app.is_running
        assert (await tui_client.get_item(item["id"]))["quantity"] == 1
