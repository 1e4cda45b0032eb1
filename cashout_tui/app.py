"""The Textual application: items, one item with its photos and listings, and a new-item form.

Every server call runs in a worker; its result comes back as a message the screen handles, and
an :class:`~cashout_tui.client.ApiError` is shown on the screen (and as a notification), never
raised, so the app keeps running whatever the server says.
"""

from __future__ import annotations

import asyncio
import re
from typing import cast

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, Select, Static

from cashout_tui.client import ApiError, CashoutClient, Condition, Connection, Item, ItemCreate, Listing, Photo, User
from cashout_tui.formatting import (
    PriceError,
    action_copy_text,
    describe_listing,
    format_bytes,
    format_money,
    parse_price,
)

__all__ = ["CashoutApp", "ItemScreen", "ItemsScreen", "NewItemScreen"]

CONDITIONS: list[tuple[str, Condition]] = [
    ("New", "new"),
    ("Like new", "like_new"),
    ("Used, good", "used_good"),
    ("Used, fair", "used_fair"),
    ("For parts", "for_parts"),
]
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


# -- messages: what workers report back ---------------------------------------------------------


class ApiFailed(Message, bubble=False):
    """A server call failed."""

    def __init__(self, doing: str, error: ApiError) -> None:
        super().__init__()
        self.doing = doing
        self.error = error


class SignedIn(Message, bubble=False):
    """The token is valid: it belongs to ``user``."""

    def __init__(self, user: User) -> None:
        super().__init__()
        self.user = user


class ItemsLoaded(Message, bubble=False):
    """The items list arrived."""

    def __init__(self, items: list[Item]) -> None:
        super().__init__()
        self.items = items


class ItemLoaded(Message, bubble=False):
    """One item and everything shown with it arrived."""

    def __init__(self, item: Item, photos: list[Photo], listings: list[Listing], connections: list[Connection]) -> None:
        super().__init__()
        self.item = item
        self.photos = photos
        self.listings = listings
        self.connections = connections


class ListingChanged(Message, bubble=False):
    """A listing was created, published or confirmed; ``note`` says what was done."""

    def __init__(self, listing: Listing, note: str = "") -> None:
        super().__init__()
        self.listing = listing
        self.note = note


class ItemCreated(Message, bubble=False):
    """The server stored the new item."""

    def __init__(self, item: Item) -> None:
        super().__init__()
        self.item = item


def _show_error(status: Static, doing: str, error: ApiError) -> str:
    text = f"{doing}: {error.message}"
    status.update(text)
    status.add_class("error")
    return text


def _show_info(status: Static, text: str) -> None:
    status.update(text)
    status.remove_class("error")


# -- items list ---------------------------------------------------------------------------------


class ItemsScreen(Screen[None]):
    """Every item: title, SKU, price, status and photo count."""

    BINDINGS = [
        Binding("r", "reload", "Refresh"),
        Binding("n", "new_item", "New item"),
        Binding("enter", "open_item", "Open"),
    ]

    def __init__(self, client: CashoutClient) -> None:
        super().__init__()
        self.client = client
        self.items: dict[str, Item] = {}
        self._select_after_load: str | None = None

    def compose(self) -> ComposeResult:
        """Lay out the screen."""
        yield Header()
        yield DataTable(id="items", cursor_type="row", zebra_stripes=True)
        yield Static("", id="status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        """Set up the widgets and start loading."""
        table = self.query_one("#items", DataTable)
        table.add_column("Title", key="title")
        table.add_column("SKU", key="sku")
        table.add_column("Price", key="price")
        table.add_column("Status", key="status")
        table.add_column("Photos", key="photos")
        self.load_items()

    @work(exclusive=True, group="items")
    async def load_items(self) -> None:
        """Fetch every item (in a worker) and report back."""
        _show_info(self.query_one("#status", Static), "Loading items…")
        try:
            items = await self.client.all_items()
        except ApiError as exc:
            self.post_message(ApiFailed("Could not load items", exc))
            return
        self.post_message(ItemsLoaded(items))

    def on_items_loaded(self, message: ItemsLoaded) -> None:
        """Show the items, keeping the cursor on the same item."""
        table = self.query_one("#items", DataTable)
        current = self._current_id()
        wanted = self._select_after_load or current
        self._select_after_load = None
        self.items = {item["id"]: item for item in message.items}
        table.clear()
        for item in message.items:
            table.add_row(
                item["title"],
                item["sku"] or "",
                format_money(item["list_price_minor"], item["currency"]),
                item["status"],
                str(item["photo_count"]),
                key=item["id"],
            )
        if wanted in self.items:
            table.move_cursor(row=table.get_row_index(wanted))
        count = len(message.items)
        hint = "enter opens an item, n adds one" if count else "no items yet: press n to add one"
        _show_info(self.query_one("#status", Static), f"{count} item{'s' if count != 1 else ''} — {hint}")

    def on_api_failed(self, message: ApiFailed) -> None:
        """Show a failed call's error; the app keeps running."""
        text = _show_error(self.query_one("#status", Static), message.doing, message.error)
        self.notify(text, severity="error", markup=False)

    def _current_id(self) -> str | None:
        table = self.query_one("#items", DataTable)
        if not table.row_count or not table.is_valid_row_index(table.cursor_row):
            return None
        key = table.ordered_rows[table.cursor_row].key.value
        return key if key in self.items else None

    def action_reload(self) -> None:
        """Reload the items."""
        self.load_items()

    def action_new_item(self) -> None:
        """Open the new-item form."""
        self.app.push_screen(NewItemScreen(self.client), self._item_created)

    def _item_created(self, item: Item | None) -> None:
        if item is None:
            return
        self.notify(f"Created {item['title']!r}", markup=False)
        self._select_after_load = item["id"]
        self.load_items()

    def action_open_item(self) -> None:
        """Open the item under the cursor."""
        item_id = self._current_id()
        if item_id is not None:
            self.app.push_screen(ItemScreen(self.client, item_id))

    @on(DataTable.RowSelected, "#items")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value in self.items:
            self.app.push_screen(ItemScreen(self.client, event.row_key.value))

    def on_screen_resume(self) -> None:
        """Reload when coming back: photo counts or statuses may have changed."""
        if self.items:
            self.load_items()


# -- new item form ------------------------------------------------------------------------------


class NewItemScreen(ModalScreen[Item | None]):
    """A form for a new item; dismisses with the stored item, or ``None`` when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Create"),
    ]

    def __init__(self, client: CashoutClient) -> None:
        super().__init__()
        self.client = client

    def compose(self) -> ComposeResult:
        """Lay out the screen."""
        with Vertical(id="form"):
            yield Label("New item", id="form-title")
            with VerticalScroll(id="form-fields"):
                yield Label("Title", classes="field-label")
                yield Input(placeholder="e.g. Oak side table", id="title", max_length=300)
                yield Label("Price", classes="field-label")
                yield Input(placeholder="e.g. 12.50", id="price")
                yield Label("Currency", classes="field-label")
                yield Input(value="USD", id="currency", max_length=3)
                yield Label("Condition", classes="field-label")
                yield Select(CONDITIONS, value="used_good", allow_blank=False, id="condition")
                yield Label("SKU", classes="field-label")
                yield Input(placeholder="optional", id="sku", max_length=100)
                yield Label("Brand", classes="field-label")
                yield Input(placeholder="optional", id="brand", max_length=100)
                yield Label("Category", classes="field-label")
                yield Input(placeholder="optional", id="category", max_length=100)
                yield Label("Quantity", classes="field-label")
                yield Input(value="1", id="quantity", type="integer")
                yield Label("Floor price", classes="field-label")
                yield Input(placeholder="optional: the lowest price you accept", id="floor")
                yield Label("Description", classes="field-label")
                yield Input(placeholder="optional", id="description")
            yield Static("", id="form-error", markup=False)
            with Horizontal(id="form-buttons"):
                yield Button("Create", id="create", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        """Set up the widgets and start loading."""
        self.query_one("#title", Input).focus()

    def _value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def _fail(self, widget_id: str | None, text: str) -> None:
        error = self.query_one("#form-error", Static)
        error.update(text)
        error.add_class("error")
        for field in self.query(Input):
            field.remove_class("bad")
        if widget_id is not None:
            field = self.query_one(f"#{widget_id}", Input)
            field.add_class("bad")
            field.focus()

    def build(self) -> ItemCreate | None:
        """Check the form and build the request body; show the first problem and return ``None``.

        Returns:
            The body for ``POST /api/v1/items``, or ``None`` when a field is not valid.
        """
        title = self._value("title")
        if not title:
            self._fail("title", "Title is required.")
            return None
        currency = self._value("currency").upper() or "USD"
        if not _CURRENCY.match(currency):
            self._fail("currency", f"Currency must be a three-letter code such as USD, not {currency!r}.")
            return None
        try:
            price = parse_price(self._value("price"), currency, field="Price")
        except PriceError as exc:
            self._fail("price", f"{exc}.")
            return None
        body: ItemCreate = {"title": title, "list_price_minor": price, "currency": currency}
        floor = self._value("floor")
        if floor:
            try:
                body["floor_price_minor"] = parse_price(floor, currency, field="Floor price")
            except PriceError as exc:
                self._fail("floor", f"{exc}.")
                return None
        quantity = self._value("quantity") or "1"
        try:
            body["quantity"] = int(quantity)
        except ValueError:
            self._fail("quantity", f"Quantity must be a whole number, not {quantity!r}.")
            return None
        if body["quantity"] < 0:
            self._fail("quantity", "Quantity cannot be negative.")
            return None
        condition = self.query_one("#condition", Select).value
        if isinstance(condition, str):
            body["condition"] = cast(Condition, condition)
        for key in ("sku", "brand", "category", "description"):
            value = self._value(key)
            if value:
                body[key] = value
        return body

    def action_submit(self) -> None:
        """Validate the form and, if it is fine, create the item."""
        body = self.build()
        if body is None:
            return
        self._fail(None, "")
        self.query_one("#create", Button).disabled = True
        _show_info(self.query_one("#form-error", Static), "Saving…")
        self.create_item(body)

    @work(exclusive=True, group="create")
    async def create_item(self, body: ItemCreate) -> None:
        """Send the new item to the server (in a worker).

        Args:
            body: the request body.
        """
        try:
            item = await self.client.create_item(body)
        except ApiError as exc:
            self.post_message(ApiFailed("The server refused the item", exc))
            return
        self.post_message(ItemCreated(item))

    def on_item_created(self, message: ItemCreated) -> None:
        """Close the form with the stored item."""
        self.dismiss(message.item)

    def on_api_failed(self, message: ApiFailed) -> None:
        """Show a failed call's error; the app keeps running."""
        self.query_one("#create", Button).disabled = False
        self._fail(None, f"{message.doing}: {message.error.message}")

    def action_cancel(self) -> None:
        """Close the form without creating anything."""
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    @on(Button.Pressed, "#create")
    def _create_pressed(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()


# -- one item -----------------------------------------------------------------------------------


def _item_text(item: Item) -> str:
    currency = item["currency"]
    rows = [
        ("Title", item["title"]),
        ("ID", item["id"]),
        ("SKU", item["sku"] or "—"),
        ("Price", format_money(item["list_price_minor"], currency)),
        ("Floor price", format_money(item["floor_price_minor"], currency) or "—"),
        ("Cost basis", format_money(item["cost_basis_minor"], currency) or "—"),
        ("Condition", item["condition"].replace("_", " ")),
        ("Brand", item["brand"] or "—"),
        ("Category", item["category"] or "—"),
        ("Quantity", str(item["quantity"])),
        ("Status", item["status"]),
        ("Photos", str(item["photo_count"])),
    ]
    text = "\n".join(f"{label:<12} {value}" for label, value in rows)
    if item["description"]:
        text += f"\n\n{item['description']}"
    return text


class ItemScreen(Screen[None]):
    """One item: its fields, photos and listings; create, publish and confirm listings."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("r", "reload", "Refresh"),
        Binding("l", "create_listing", "List on connection"),
        Binding("p", "publish", "Publish listing"),
        Binding("y", "copy", "Copy paste-ready text"),
    ]

    def __init__(self, client: CashoutClient, item_id: str) -> None:
        super().__init__()
        self.client = client
        self.item_id = item_id
        self.item: Item | None = None
        self.listings: dict[str, Listing] = {}
        self.connections: dict[str, Connection] = {}
        self._focus_listing: str | None = None
        # The listing whose step outcome the outcome panel shows: highlighting it again keeps that text.
        self._outcome_for: str | None = None

    def compose(self) -> ComposeResult:
        """Lay out the screen."""
        yield Header()
        with VerticalScroll(id="detail"):
            with Horizontal(id="top"):
                yield Static("Loading…", id="item-fields", markup=False)
                with Vertical(id="photos-box"):
                    yield Label("Photos", classes="section")
                    yield DataTable(id="photos", cursor_type="row", zebra_stripes=True)
            yield Label("Listings", classes="section")
            yield DataTable(id="listings", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="listing-actions", classes="bar"):
                yield Select[str]([], prompt="Connection", id="connection")
                yield Button("Create listing", id="create-listing")
                yield Button("Publish selected", id="publish", variant="primary")
            yield Label("Outcome", classes="section")
            yield Static("Select a listing to see its state.", id="outcome", markup=False)
            with Horizontal(id="confirm-row", classes="bar"):
                yield Input(placeholder="URL (or id) of the listing you posted by hand", id="confirm-url")
                yield Button("Confirm posted", id="confirm")
        yield Static("", id="status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        """Set up the widgets and start loading."""
        photos = self.query_one("#photos", DataTable)
        photos.add_column("#", key="position")
        photos.add_column("File", key="filename")
        photos.add_column("Dimensions", key="dimensions")
        photos.add_column("Size", key="size")
        photos.add_column("Format", key="format")
        listings = self.query_one("#listings", DataTable)
        listings.add_column("Connection", key="connection")
        listings.add_column("Platform", key="platform")
        listings.add_column("Status", key="status")
        listings.add_column("URL", key="url")
        listings.add_column("Last error", key="error")
        self.load_item()

    # workers

    @work(exclusive=True, group="load")
    async def load_item(self) -> None:
        """Fetch the item, its photos and listings, and the connections (in a worker)."""
        _show_info(self.query_one("#status", Static), "Loading…")
        failure: ApiError | None = None
        try:
            async with asyncio.TaskGroup() as group:
                item = group.create_task(self.client.get_item(self.item_id))
                photos = group.create_task(self.client.list_photos(self.item_id))
                listings = group.create_task(self.client.item_listings(self.item_id))
                connections = group.create_task(self.client.list_connections())
        except* ApiError as errors:
            failure = cast(ApiError, errors.exceptions[0])
        if failure is not None:
            self.post_message(ApiFailed("Could not load the item", failure))
            return
        self.post_message(ItemLoaded(item.result(), photos.result(), listings.result(), connections.result()))

    @work(exclusive=True, group="listing")
    async def create_listing(self, connection_id: str) -> None:
        """Create a draft listing of this item on a connection (in a worker).

        Args:
            connection_id: the connection's id.
        """
        try:
            listing = await self.client.create_listing(self.item_id, connection_id)
        except ApiError as exc:
            self.post_message(ApiFailed("Could not create the listing", exc))
            return
        name = self.connections[connection_id]["name"] if connection_id in self.connections else connection_id
        self.post_message(ListingChanged(listing, f"Created a draft listing on {name}; press p to publish it."))

    @work(exclusive=True, group="listing")
    async def publish_listing(self, listing_id: str) -> None:
        """Publish a listing (in a worker); the outcome is shown when it answers.

        Args:
            listing_id: the listing's id.
        """
        try:
            listing = await self.client.publish_listing(listing_id)
        except ApiError as exc:
            self.post_message(ApiFailed("Could not publish the listing", exc))
            return
        self.post_message(ListingChanged(listing))

    @work(exclusive=True, group="listing")
    async def confirm_listing(self, listing_id: str, reference: str) -> None:
        """Confirm a listing posted by hand (in a worker).

        Args:
            listing_id: the listing's id.
            reference: the posting's URL, or its id on the platform.
        """
        is_url = reference.startswith(("http://", "https://"))
        try:
            listing = await self.client.confirm_listing(
                listing_id, url=reference if is_url else None, external_id=None if is_url else reference
            )
        except ApiError as exc:
            self.post_message(ApiFailed("Could not confirm the listing", exc))
            return
        self.post_message(ListingChanged(listing))

    # results

    def on_item_loaded(self, message: ItemLoaded) -> None:
        """Show the item, its photos, listings and the connections to list on."""
        self.item = message.item
        self.sub_title = message.item["title"]
        self.query_one("#item-fields", Static).update(_item_text(message.item))
        photos = self.query_one("#photos", DataTable)
        photos.clear()
        for photo in message.photos:
            photos.add_row(
                str(photo["position"]),
                photo["filename"] or photo["id"],
                f"{photo['width']}x{photo['height']}",
                format_bytes(photo["bytes"]),
                photo["original_format"],
                key=photo["id"],
            )
        self.connections = {c["id"]: c for c in message.connections}
        select = self.query_one("#connection", Select)
        chosen = select.value
        select.set_options((f"{c['name']} ({c['platform']})", c["id"]) for c in message.connections)
        if isinstance(chosen, str) and chosen in self.connections:
            select.value = chosen
        elif message.connections:
            select.value = message.connections[0]["id"]
        self.listings = {}
        self._outcome_for = None
        self.query_one("#listings", DataTable).clear()
        for listing in message.listings:
            self._upsert_listing(listing)
        focus = self._focus_listing
        if focus in self.listings:
            self._highlight(focus)
        photos_text = f"{len(message.photos)} photo{'s' if len(message.photos) != 1 else ''}"
        listings_text = f"{len(message.listings)} listing{'s' if len(message.listings) != 1 else ''}"
        hint = "" if message.connections else " — no connections yet: add one with the API or web UI"
        _show_info(self.query_one("#status", Static), f"{photos_text}, {listings_text}{hint}")

    def on_listing_changed(self, message: ListingChanged) -> None:
        """Show a listing's new state and the outcome of the step."""
        listing = message.listing
        self._upsert_listing(listing)
        self._focus_listing = self._outcome_for = listing["id"]
        self._highlight(listing["id"])
        text = describe_listing(listing)
        if message.note:
            text = f"{message.note}\n{text}"
        outcome = self.query_one("#outcome", Static)
        outcome.update(text)
        outcome.set_class(listing["status"] in {"rejected", "failed", "unknown"}, "error")
        outcome.scroll_visible()
        _show_info(self.query_one("#status", Static), f"Listing {listing['id']} is {listing['status']}.")
        failed = listing["status"] in {"rejected", "failed", "unknown"}
        self.notify(
            f"Listing on {listing['platform']}: {listing['status']}", severity="error" if failed else "information"
        )

    def on_api_failed(self, message: ApiFailed) -> None:
        """Show a failed call's error; the app keeps running."""
        text = _show_error(self.query_one("#status", Static), message.doing, message.error)
        if message.doing != "Could not load the item":
            outcome = self.query_one("#outcome", Static)
            outcome.update(text)
            outcome.add_class("error")
            outcome.scroll_visible()
        self.notify(text, severity="error", markup=False)

    @on(DataTable.RowHighlighted, "#listings")
    def _listing_highlighted(self, event: DataTable.RowHighlighted) -> None:
        listing = self.listings.get(str(event.row_key.value))
        if listing is None or listing["id"] == self._outcome_for:
            return
        self._outcome_for = listing["id"]
        outcome = self.query_one("#outcome", Static)
        outcome.update(describe_listing(listing))
        outcome.set_class(listing["status"] in {"rejected", "failed", "unknown"}, "error")

    def _upsert_listing(self, listing: Listing) -> None:
        table = self.query_one("#listings", DataTable)
        connection = self.connections.get(listing["connection_id"])
        cells = {
            "connection": connection["name"] if connection else listing["connection_id"],
            "platform": listing["platform"],
            "status": listing["status"],
            "url": listing["url"] or "",
            "error": listing["last_error"] or "",
        }
        if listing["id"] in self.listings:
            for column, value in cells.items():
                table.update_cell(listing["id"], column, value, update_width=True)
        else:
            table.add_row(*cells.values(), key=listing["id"])
        self.listings[listing["id"]] = listing

    def _highlight(self, listing_id: str) -> None:
        table = self.query_one("#listings", DataTable)
        table.move_cursor(row=table.get_row_index(listing_id))

    def _selected_listing(self) -> Listing | None:
        table = self.query_one("#listings", DataTable)
        if not table.row_count or not table.is_valid_row_index(table.cursor_row):
            return None
        key = table.ordered_rows[table.cursor_row].key.value
        return self.listings.get(str(key))

    # actions

    def action_back(self) -> None:
        """Go back to the items list."""
        self.dismiss(None)

    def action_reload(self) -> None:
        """Reload the item."""
        self.load_item()

    def action_create_listing(self) -> None:
        """Create a draft listing on the chosen connection."""
        value = self.query_one("#connection", Select).value
        if not isinstance(value, str):
            self.notify("Choose a connection first.", severity="warning")
            return
        self.create_listing(value)

    def action_publish(self) -> None:
        """Publish the selected listing."""
        listing = self._selected_listing()
        if listing is None:
            self.notify("No listing to publish: create one first (l).", severity="warning")
            return
        self.query_one("#outcome", Static).update(f"Publishing on {listing['platform']}…")
        self.publish_listing(listing["id"])

    def action_confirm(self) -> None:
        """Confirm the selected listing was posted by hand, with the URL typed in."""
        listing = self._selected_listing()
        reference = self.query_one("#confirm-url", Input).value.strip()
        if listing is None:
            self.notify("No listing selected.", severity="warning")
            return
        if not reference:
            self.notify("Paste the posted listing's URL (or id) first.", severity="warning")
            return
        self.confirm_listing(listing["id"], reference)

    def action_copy(self) -> None:
        """Copy the selected listing's ready-to-paste text to the clipboard."""
        listing = self._selected_listing()
        text = action_copy_text(listing) if listing is not None else ""
        if not text:
            self.notify("Nothing to copy: the selected listing has no paste-ready text.", severity="warning")
            return
        self.app.copy_to_clipboard(text)
        self.notify("Copied the paste-ready text to the clipboard.")

    @on(Button.Pressed, "#create-listing")
    def _create_pressed(self) -> None:
        self.action_create_listing()

    @on(Button.Pressed, "#publish")
    def _publish_pressed(self) -> None:
        self.action_publish()

    @on(Button.Pressed, "#confirm")
    def _confirm_pressed(self) -> None:
        self.action_confirm()

    @on(Input.Submitted, "#confirm-url")
    def _confirm_submitted(self) -> None:
        self.action_confirm()


# -- the app ------------------------------------------------------------------------------------


class CashoutApp(App[None]):
    """The cashout terminal UI.

    Args:
        client: the API client to use (the app does not close it).
    """

    TITLE = "cashout"
    BINDINGS = [Binding("q", "quit", "Quit"), Binding("ctrl+r", "whoami", "Check token", show=False)]
    CSS = """
    #items { height: 1fr; }
    #status { height: auto; min-height: 1; padding: 0 1; background: $panel; }
    .error { color: $error; }
    #status.error { color: $text; background: $error 40%; }
    #detail { height: 1fr; padding: 0 1; }
    #top { height: auto; }
    #item-fields { width: 1fr; padding: 1 1 0 0; }
    #photos-box { width: 1fr; height: auto; }
    .section { text-style: bold; margin-top: 1; color: $accent; }
    #photos, #listings { height: auto; max-height: 12; }
    .bar { height: auto; margin-top: 1; }
    .bar Select { width: 40; }
    .bar Input { width: 1fr; }
    .bar Button { margin-left: 1; }
    #outcome { padding: 1; border: round $accent; height: auto; }
    #outcome.error { border: round $error; }
    NewItemScreen { align: center middle; }
    #form { width: 80; max-width: 100%; height: auto; max-height: 100%; border: thick $accent; background: $surface;
        padding: 0 1; }
    #form-title { text-style: bold; padding: 0 0 1 0; }
    #form-fields { layout: grid; grid-size: 2; grid-columns: 14 1fr; grid-rows: 3; height: auto; max-height: 70vh; }
    .field-label { height: 3; content-align: left middle; }
    #form-error { height: auto; padding: 1 0 0 0; }
    Input.bad { border: tall $error; }
    #form-buttons { height: auto; align-horizontal: right; padding-top: 1; }
    #form-buttons Button { margin-left: 1; }
    """

    def __init__(self, client: CashoutClient) -> None:
        super().__init__()
        self.client = client
        self.user: User | None = None

    def get_default_screen(self) -> Screen[None]:
        """The items list is the home screen.

        Returns:
            The items screen.
        """
        return ItemsScreen(self.client)

    def on_mount(self) -> None:
        """Set up the widgets and start loading."""
        self.sub_title = self.client.base_url
        self.check_token()

    @work(exclusive=True, group="whoami")
    async def check_token(self) -> None:
        """Ask who the token belongs to (in a worker); show it in the header."""
        try:
            user = await self.client.me()
        except ApiError as exc:
            self.post_message(ApiFailed("Not signed in", exc))
            return
        self.post_message(SignedIn(user))

    def on_signed_in(self, message: SignedIn) -> None:
        """Show who is signed in."""
        self.user = message.user
        self.sub_title = f"{message.user['email']} @ {self.client.base_url}"

    def on_api_failed(self, message: ApiFailed) -> None:
        """Show a failed call's error; the app keeps running."""
        self.user = None
        reason = "token rejected" if message.error.status in {401, 403} else "server unreachable"
        self.sub_title = f"{reason} @ {self.client.base_url}"

    def action_whoami(self) -> None:
        """Check the token again."""
        self.check_token()
