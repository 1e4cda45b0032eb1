"""The TUI against the real server app: what a person sees after each step."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from textual.widgets import DataTable, Input, Static
from tui.pilot_support import SIZE, column, make_app, open_first_item, settle, text_of, type_into, wait_for

from cashout_server.domain.delivery.worker import DeliveryWorker
from cashout_tui.app import CashoutApp, ItemsScreen, NewItemScreen
from cashout_tui.client import CashoutClient, Item

CL_CONNECTION = {"platform": "craigslist", "name": "CL", "settings": {"area": "sfo", "category": "fuo"}}


async def item_with_photo_and_listing(client: CashoutClient, png: bytes) -> Item:
    item = await client.create_item({"title": "Walnut bookshelf", "list_price_minor": 8900, "sku": "BK-7"})
    await client.upload_photo(item["id"], png, filename="shelf.png", content_type="image/png")
    connection = await client.create_connection(
        CL_CONNECTION["platform"], CL_CONNECTION["name"], settings=dict(CL_CONNECTION["settings"])
    )
    await client.create_listing(item["id"], connection["id"])
    return item


async def test_items_list_shows_items_with_prices(tui_client: CashoutClient) -> None:
    await tui_client.create_item({"title": "Oak side table", "list_price_minor": 4500, "sku": "T-1"})
    await tui_client.create_item({"title": "Brass lamp", "list_price_minor": 123456, "currency": "USD"})
    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ItemsScreen)
        table = app.screen.query_one("#items", DataTable)
        assert column(table, "title") == ["Oak side table", "Brass lamp"]
        assert column(table, "price") == ["45.00 USD", "1,234.56 USD"]
        assert column(table, "sku") == ["T-1", ""]
        assert column(table, "status") == ["draft", "draft"]
        assert column(table, "photos") == ["0", "0"]
        assert "2 items" in text_of(app.screen.query_one("#status", Static))
        assert "owner@example.com" in (app.sub_title or "")

        # Refresh picks up an item created elsewhere.
        await tui_client.create_item({"title": "Wool rug", "list_price_minor": 99})
        await pilot.press("r")
        await settle(pilot)
        assert column(table, "title") == ["Oak side table", "Brass lamp", "Wool rug"]
        assert column(table, "price")[-1] == "0.99 USD"


async def test_new_item_form_creates_item(tui_client: CashoutClient) -> None:
    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, NewItemScreen)
        await type_into(pilot, "#title", "Teak chair")
        await type_into(pilot, "#price", "12.50")
        await type_into(pilot, "#sku", "CH-1")
        await pilot.click("#create")
        await settle(pilot)

        assert isinstance(app.screen, ItemsScreen)
        stored = (await tui_client.list_items()).data
        assert [(i["title"], i["list_price_minor"], i["sku"], i["currency"]) for i in stored] == [
            ("Teak chair", 1250, "CH-1", "USD")
        ]
        table = app.screen.query_one("#items", DataTable)
        assert column(table, "title") == ["Teak chair"]
        assert column(table, "price") == ["12.50 USD"]
        assert table.ordered_rows[table.cursor_row].key.value == stored[0]["id"]


async def test_new_item_form_rejects_bad_price(tui_client: CashoutClient) -> None:
    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        await type_into(pilot, "#title", "Teak chair")
        await type_into(pilot, "#price", "12.5.0")
        await pilot.click("#create")
        await settle(pilot)

        assert isinstance(app.screen, NewItemScreen)
        error = text_of(app.screen.query_one("#form-error", Static))
        assert "Price must be a number like 12.50, not '12.5.0'" in error
        assert app.screen.query_one("#price", Input).has_focus

        # The bad field has the focus with its text selected: typing replaces it.
        await pilot.press(*"12.005")
        assert app.screen.query_one("#price", Input).value == "12.005"
        await pilot.press("enter")
        await settle(pilot)
        assert "at most 2 decimal places" in text_of(app.screen.query_one("#form-error", Static))
        assert (await tui_client.list_items()).data == []

        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ItemsScreen)
        assert app.screen.query_one("#items", DataTable).row_count == 0
        assert (await tui_client.list_items()).data == []


async def test_new_item_form_shows_server_problem(tui_client: CashoutClient) -> None:
    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        await type_into(pilot, "#title", "Teak chair")
        await type_into(pilot, "#price", "10")
        await type_into(pilot, "#floor", "20")  # the server refuses a floor above the list price
        await pilot.click("#create")
        await settle(pilot)

        assert isinstance(app.screen, NewItemScreen)
        error = text_of(app.screen.query_one("#form-error", Static))
        assert "Unprocessable" in error
        assert "(422)" in error
        assert "floor_price_minor must not be above list_price_minor" in error
        assert not app.screen.query_one("#create").disabled
        assert (await tui_client.list_items()).data == []


async def test_item_screen_shows_photos_and_listings(tui_client: CashoutClient, png: bytes) -> None:
    item = await item_with_photo_and_listing(tui_client, png)
    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert column(app.screen.query_one("#items", DataTable), "photos") == ["1"]
        screen = await open_first_item(pilot)
        assert screen.item_id == item["id"]

        fields = text_of(screen.query_one("#item-fields", Static))
        assert "Walnut bookshelf" in fields
        assert "89.00 USD" in fields
        assert "BK-7" in fields

        photos = screen.query_one("#photos", DataTable)
        assert column(photos, "filename") == ["shelf.png"]
        assert column(photos, "dimensions") == ["64x48"]
        assert column(photos, "format") == ["PNG"]

        listings = screen.query_one("#listings", DataTable)
        assert column(listings, "connection") == ["CL"]
        assert column(listings, "platform") == ["craigslist"]
        assert column(listings, "status") == ["draft"]
        assert "Draft on craigslist" in text_of(screen.query_one("#outcome", Static))

        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ItemsScreen)


async def test_publish_assisted_listing_shows_instructions_and_copy(
    tui_client: CashoutClient, worker: DeliveryWorker
) -> None:
    item = await tui_client.create_item(
        {"title": "Mid-century armchair", "list_price_minor": 15000, "description": "Solid teak frame."}
    )
    await tui_client.create_connection("craigslist", "CL", settings={"area": "sfo", "category": "fuo"})
    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first_item(pilot)
        listings = screen.query_one("#listings", DataTable)
        assert listings.row_count == 0

        await pilot.press("l")  # list on the chosen (only) connection
        await settle(pilot)
        assert column(listings, "status") == ["draft"]
        assert "Created a draft listing on CL" in text_of(screen.query_one("#outcome", Static))

        # Publishing only queues it: the screen says so at once and follows it.
        await pilot.press("p")
        await wait_for(pilot, lambda: column(listings, "status") == ["queued"], "the listing to show queued")
        assert column(listings, "delivery") == ["publish queued"]
        assert "Queued for craigslist" in text_of(screen.query_one("#outcome", Static))
        assert "Waiting for the delivery worker" in text_of(screen.query_one("#progress", Static))

        # The server's delivery worker runs: Craigslist by-owner postings are made by a person.
        await worker.run_once()
        await settle(pilot)
        stored = (await tui_client.list_listings(item_id=item["id"])).data
        assert [listing["status"] for listing in stored] == ["needs_action"]
        assert column(listings, "status") == ["needs_action"]
        assert column(listings, "delivery") == ["publish done"]
        assert column(listings, "attempts") == ["1"]
        assert "Deliveries settled" in text_of(screen.query_one("#progress", Static))
        outcome = text_of(screen.query_one("#outcome", Static))
        assert "Needs action on craigslist: Post this listing by hand" in outcome
        assert "Go to: https://post.craigslist.org/c/sfo" in outcome
        assert "Ready-to-paste copy:" in outcome
        assert "title: Mid-century armchair" in outcome
        assert "Solid teak frame." in outcome
        action = stored[0]["action"]
        assert action is not None
        for value in action.get("copy", {}).values():
            for line in value.splitlines():
                assert line.strip() in outcome

        # The person posts it by hand and confirms with the URL.
        url = "https://sfbay.craigslist.org/sfc/fuo/d/armchair/7712345678.html"
        await type_into(pilot, "#confirm-url", url)
        await pilot.click("#confirm")
        await settle(pilot)
        assert column(listings, "status") == ["published"]
        assert column(listings, "url") == [url]
        assert f"Published on craigslist: {url}" in text_of(screen.query_one("#outcome", Static))
        assert (await tui_client.get_listing(stored[0]["id"]))["status"] == "published"


async def test_publish_conflict_is_shown_and_app_keeps_running(
    tui_client: CashoutClient, worker: DeliveryWorker
) -> None:
    item = await tui_client.create_item({"title": "Desk", "list_price_minor": 5000})
    connection = await tui_client.create_connection("craigslist", "CL", settings={"area": "sfo", "category": "fuo"})
    listing = await tui_client.create_listing(item["id"], connection["id"])
    await tui_client.publish_listing(listing["id"])
    await worker.run_once()  # now needs_action: publishing again is a conflict
    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first_item(pilot)
        await pilot.press("p")
        await settle(pilot)
        outcome = text_of(screen.query_one("#outcome", Static))
        assert outcome.startswith("Could not publish the listing: Conflict (409): ")
        assert "Could not publish the listing" in text_of(screen.query_one("#status", Static))
        assert app.is_running
        assert app.screen is screen


async def test_invalid_token_is_shown_and_app_keeps_running(
    make_client: Callable[[str], CashoutClient], tokens
) -> None:
    app = CashoutApp(make_client("cashout_pat_this-is-not-a-token"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        status = text_of(app.screen.query_one("#status", Static))
        assert status.startswith("Could not load items: Unauthorized (401): ")
        assert "token" in status
        assert "token rejected" in (app.sub_title or "")
        assert isinstance(app.screen, ItemsScreen)

        await pilot.press("r")
        await settle(pilot)
        assert app.is_running
        assert "Unauthorized (401)" in text_of(app.screen.query_one("#status", Static))


async def test_revoked_token_is_shown(
    make_client: Callable[[str], CashoutClient], http: httpx.AsyncClient, tokens
) -> None:
    owner = {"Authorization": f"Bearer {tokens.owner}"}
    issued = (await http.post("/api/v1/tokens", json={"name": "tui", "scope": "read"}, headers=owner)).json()
    client = make_client(issued["token"])
    assert (await client.me())["email"] == "owner@example.com"
    assert (await http.delete(f"/api/v1/tokens/{issued['id']}", headers=owner)).status_code == 204

    app = CashoutApp(client)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        status = text_of(app.screen.query_one("#status", Static))
        assert "Unauthorized (401): the token is not valid or has been revoked" in status
        assert issued["token"] not in status
        assert app.is_running


async def test_unreachable_server_is_shown(unused_port: int) -> None:
    client = CashoutClient(f"http://127.0.0.1:{unused_port}", "cashout_pat_whatever")
    try:
        app = CashoutApp(client)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            status = text_of(app.screen.query_one("#status", Static))
            assert status.startswith(
                f"Could not load items: cannot reach the server at http://127.0.0.1:{unused_port}: "
            )
            assert "server unreachable" in (app.sub_title or "")
            assert app.is_running
    finally:
        await client.aclose()


async def test_item_deleted_elsewhere_shows_not_found(tui_client: CashoutClient) -> None:
    item = await tui_client.create_item({"title": "Stool", "list_price_minor": 1000})
    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first_item(pilot)
        await tui_client.delete_item(item["id"])
        await pilot.press("r")
        await settle(pilot)
        assert "Could not load the item: Not Found (404): no item with id" in text_of(
            screen.query_one("#status", Static)
        )
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ItemsScreen)
        assert app.screen.query_one("#items", DataTable).row_count == 0
