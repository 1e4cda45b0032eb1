"""The Textual application: items, one item with its listings and deliveries, the outbox and approvals.

Screens: the items list, one item (photos, listings, their deliveries), a new-item form, a
mark-sold dialog, the outbox (dead letters among it) and the approvals queue.

Every server call runs in a worker; its result comes back as a message the screen handles, and
an :class:`~cashout_tui.client.ApiError` is shown on the screen (and as a notification), never
raised, so the app keeps running whatever the server says. Publishing only queues a listing: the
server's delivery worker sends it later, so the item screen follows it (polling, bounded, with
its progress shown) until it settles.
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
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, Select, Static

from cashout_tui.approvals import ApprovalsQueueScreen
from cashout_tui.client import (
    ApiError,
    CashoutClient,
    Condition,
    Connection,
    DeliveryCounts,
    Item,
    ItemCreate,
    Listing,
    Photo,
    Sale,
    User,
)
from cashout_tui.common import ApiFailed, FormScreen, Polling, plural
from cashout_tui.common import show_error as _show_error
from cashout_tui.common import show_info as _show_info
from cashout_tui.formatting import (
    PriceError,
    action_copy_text,
    describe_listing,
    format_bytes,
    format_money,
    listing_in_motion,
    next_attempt_text,
    parse_price,
)
from cashout_tui.inbox import InboxScreen
from cashout_tui.jobs import JobsScreen
from cashout_tui.outbox import ApprovalsScreen, OutboxScreen
from cashout_tui.sale import SaleScreen

__all__ = [
    "ApprovalsScreen",
    "CashoutApp",
    "ItemScreen",
    "ItemsScreen",
    "NewItemScreen",
    "OutboxScreen",
    "Polling",
    "SaleScreen",
]

CONDITIONS: list[tuple[str, Condition]] = [
    ("New", "new"),
    ("Like new", "like_new"),
    ("Used, good", "used_good"),
    ("Used, fair", "used_fair"),
    ("For parts", "for_parts"),
]
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


# -- messages: what workers report back ---------------------------------------------------------


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


class ListingsPolled(Message, bubble=False):
    """One look at the item's listings while following their deliveries.

    Attributes:
        listings: every listing of the item, as the server has them now.
        check: which look this is (1-based).
        limit: how many looks there are at most.
    """

    def __init__(self, listings: list[Listing], check: int, limit: int) -> None:
        super().__init__()
        self.listings = listings
        self.check = check
        self.limit = limit


class ItemCreated(Message, bubble=False):
    """The server stored the new item."""

    def __init__(self, item: Item) -> None:
        super().__init__()
        self.item = item


class OutboxSummary(Message, bubble=False):
    """The outbox counts and the number of approvals waiting, or why they could not be fetched."""

    def __init__(self, counts: DeliveryCounts | None, waiting: int, more: bool, error: ApiError | None = None) -> None:
        super().__init__()
        self.counts = counts
        self.waiting = waiting
        self.more = more
        self.error = error


# -- items list ---------------------------------------------------------------------------------


class ItemsScreen(Screen[None]):
    """Every item: title, SKU, price, status and photo count."""

    BINDINGS = [
        Binding("r", "reload", "Refresh"),
        Binding("n", "new_item", "New item"),
        Binding("enter", "open_item", "Open"),
        Binding("o", "outbox", "Outbox"),
        Binding("a", "approvals", "Approvals"),
        Binding("i", "inbox", "Inbox"),
        Binding("j", "jobs", "Jobs"),
    ]

    def __init__(self, client: CashoutClient, polling: Polling | None = None) -> None:
        super().__init__()
        self.client = client
        self.polling = polling or Polling()
        self.items: dict[str, Item] = {}
        self._select_after_load: str | None = None

    def compose(self) -> ComposeResult:
        """Lay out the screen."""
        yield Header()
        yield DataTable(id="items", cursor_type="row", zebra_stripes=True)
        yield Static("", id="outbox-summary", markup=False)
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

    @work(exclusive=True, group="summary")
    async def load_summary(self) -> None:
        """Fetch the outbox counts and the approvals waiting (in a worker)."""
        failure: ApiError | None = None
        try:
            async with asyncio.TaskGroup() as group:
                counts = group.create_task(self.client.delivery_counts())
                waiting = group.create_task(self.client.list_approvals(status="pending", limit=200))
        except* ApiError as errors:
            failure = cast(ApiError, errors.exceptions[0])
        if failure is not None:
            self.post_message(OutboxSummary(None, 0, False, failure))
            return
        page = waiting.result()
        self.post_message(OutboxSummary(counts.result(), len(page.data), page.next_cursor is not None))

    def on_outbox_summary(self, message: OutboxSummary) -> None:
        """Show what needs a person in the outbox: dead letters, approvals waiting."""
        summary = self.query_one("#outbox-summary", Static)
        if message.counts is None:
            reason = message.error.message if message.error is not None else "unknown"
            summary.update(f"Outbox: unavailable ({reason})")
            return
        by_state = message.counts.get("by_state") or {}
        parts = [
            f"{by_state[state]} {word}"
            for state, word in [("dead", "dead"), ("queued", "queued"), ("in_flight", "being sent")]
            if by_state.get(state)
        ]
        text = "Outbox: " + (", ".join(parts) if parts else "nothing waiting") + " (o)"
        waiting = f"{message.waiting}+" if message.more else str(message.waiting)
        text += f" · Approvals: {waiting} waiting (a)" if message.waiting else " · Approvals: none waiting (a)"
        summary.update(text)
        summary.set_class(bool(by_state.get("dead")), "warning")

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
        self.load_summary()

    def action_outbox(self) -> None:
        """Open the outbox (every delivery; d shows the dead letters)."""
        self.app.push_screen(OutboxScreen(self.client))

    def action_approvals(self) -> None:
        """Open the changes waiting for a person's approval (drafted replies with their conversation)."""
        self.app.push_screen(ApprovalsQueueScreen(self.client, polling=self.polling))

    def action_inbox(self) -> None:
        """Open the inbox: buyer conversations, highest score first."""
        self.app.push_screen(InboxScreen(self.client, self.polling))

    def action_jobs(self) -> None:
        """Open the scheduled jobs: next runs, outcomes, recent failures, run one now."""
        self.app.push_screen(JobsScreen(self.client, self.polling))

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
            self.app.push_screen(ItemScreen(self.client, item_id, self.polling))

    @on(DataTable.RowSelected, "#items")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value in self.items:
            self.app.push_screen(ItemScreen(self.client, event.row_key.value, self.polling))

    def on_screen_resume(self) -> None:
        """Load the outbox summary when shown; reload the items when coming back (they may have changed)."""
        if self.items:
            self.load_items()
        self.load_summary()


# -- new item form ------------------------------------------------------------------------------


class NewItemScreen(FormScreen[Item | None]):
    """A form for a new item; dismisses with the stored item, or ``None`` when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Create"),
    ]
    ERROR_ID = "form-error"
    OK_ID = "create"
    CANCEL_ID = "cancel"

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


_BAD = frozenset({"rejected", "failed", "unknown"})


def _error_text(listing: Listing) -> str:
    delivery = listing.get("delivery")
    if delivery is not None and delivery.get("last_error"):
        return delivery["last_error"] or ""
    return listing["last_error"] or ""


def _listing_cells(listing: Listing, connection: Connection | None) -> dict[str, str]:
    delivery = listing.get("delivery")
    return {
        "connection": connection["name"] if connection else listing["connection_id"],
        "platform": listing["platform"],
        "status": listing["status"],
        "delivery": f"{delivery['action']} {delivery['state']}" if delivery else "",
        "attempts": str(delivery["attempts"]) if delivery else "",
        "next": next_attempt_text(delivery),
        "error": _error_text(listing),
        "url": listing["url"] or "",
    }


def _severity(status: str) -> SeverityLevel:
    if status in _BAD:
        return "error"
    return "warning" if status == "needs_action" else "information"


def _in_motion_text(listings: list[Listing]) -> str:
    parts = []
    for listing in listings:
        delivery = listing.get("delivery")
        if delivery is None:
            parts.append(f"{listing['platform']} {listing['status']}")
            continue
        upcoming = next_attempt_text(delivery)
        when = f" (next {upcoming})" if upcoming else ""
        parts.append(f"{listing['platform']} {delivery['action']} {delivery['state']}{when}")
    return ", ".join(parts)


class ItemScreen(Screen[None]):
    """One item: its fields, photos and listings with their deliveries; list, publish, delist, confirm, mark sold.

    Args:
        client: the API client.
        item_id: the item's id.
        polling: how to follow queued deliveries until they settle.
    """

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("r", "reload", "Refresh"),
        Binding("l", "create_listing", "List on connection"),
        Binding("p", "publish", "Publish listing"),
        Binding("d", "delist", "Delist listing"),
        Binding("s", "mark_sold", "Mark sold"),
        Binding("y", "copy", "Copy paste-ready text"),
    ]

    def __init__(self, client: CashoutClient, item_id: str, polling: Polling | None = None) -> None:
        super().__init__()
        self.client = client
        self.item_id = item_id
        self.polling = polling or Polling()
        self.item: Item | None = None
        self.listings: dict[str, Listing] = {}
        self.connections: dict[str, Connection] = {}
        self._focus_listing: str | None = None
        # The listing whose step outcome the outcome panel shows: highlighting it again keeps that text.
        self._outcome_for: str | None = None
        # What happened to the whole item (a sale), shown above whichever listing's outcome until the next step.
        self._item_note = ""
        # Listings last seen on their way somewhere, to say so when each one settles.
        self._moving: set[str] = set()

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
            yield Static("", id="progress", markup=False)
            with Horizontal(id="listing-actions", classes="bar"):
                yield Select[str]([], prompt="Connection", id="connection")
                yield Button("Create listing", id="create-listing")
                yield Button("Publish selected", id="publish", variant="primary")
                yield Button("Delist selected", id="delist")
                yield Button("Mark sold", id="mark-sold")
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
        listings.add_column("Delivery", key="delivery")
        listings.add_column("Attempts", key="attempts")
        listings.add_column("Next attempt", key="next")
        listings.add_column("Last error", key="error")
        listings.add_column("URL", key="url")
        # "in 8s" goes stale: recount it every second.
        self.set_interval(1.0, self._tick_next_attempts)
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
        """Queue a listing for publication (in a worker); the screen then follows it until it settles.

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
    async def delist_listing(self, listing_id: str) -> None:
        """Take a listing down (in a worker): a takedown is queued, or a publication not yet sent is cancelled.

        Args:
            listing_id: the listing's id.
        """
        try:
            listing = await self.client.delist_listing(listing_id)
        except ApiError as exc:
            self.post_message(ApiFailed("Could not delist the listing", exc))
            return
        note = "Takedown queued." if listing_in_motion(listing) else ""
        self.post_message(ListingChanged(listing, note))

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

    @work(exclusive=True, group="watch")
    async def watch_listings(self) -> None:
        """Follow the item's listings while the server's delivery worker acts on them (in a worker).

        Looks every ``polling.interval`` seconds, at most ``polling.limit`` times, and stops once
        none is in motion; each look is reported with :class:`ListingsPolled`.
        """
        limit = max(1, self.polling.limit)
        quiet = 0
        for check in range(1, limit + 1):
            await asyncio.sleep(self.polling.interval)
            try:
                listings = await self.client.item_listings(self.item_id)
            except ApiError as exc:
                self.post_message(ApiFailed("Could not refresh the listings", exc))
                return
            self.post_message(ListingsPolled(listings, check, limit))
            # A look taken while the server records an outcome can catch a listing and its delivery
            # half-updated; stop only when a second look agrees that nothing is moving.
            quiet = 0 if any(listing_in_motion(listing) for listing in listings) else quiet + 1
            if quiet >= 2:
                return

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
        photos_text = plural(len(message.photos), "photo")
        listings_text = plural(len(message.listings), "listing")
        hint = "" if message.connections else " — no connections yet: add one with the API or web UI"
        _show_info(self.query_one("#status", Static), f"{photos_text}, {listings_text}{hint}")
        moving = [listing["id"] for listing in message.listings if listing_in_motion(listing)]
        if moving:
            self._moving.update(moving)
            if not self._watching():
                self._follow()

    def on_listing_changed(self, message: ListingChanged) -> None:
        """Show a listing's new state and the outcome of the step; follow it while it is on its way."""
        listing = message.listing
        self._upsert_listing(listing)
        self._focus_listing = listing["id"]
        self._item_note = ""
        self._show_outcome(listing, message.note)
        _show_info(self.query_one("#status", Static), f"Listing {listing['id']} is {listing['status']}.")
        self.notify(f"Listing on {listing['platform']}: {listing['status']}", severity=_severity(listing["status"]))
        if listing_in_motion(listing):
            self._moving.add(listing["id"])
            self._follow()

    def on_listings_polled(self, message: ListingsPolled) -> None:
        """Show what the delivery worker did since the last look, and how the following goes."""
        for listing in message.listings:
            previous = self.listings.get(listing["id"])
            self._upsert_listing(listing)
            if listing["id"] == self._outcome_for and previous != listing:
                self._show_outcome(listing, "", scroll=False)
        moving = [listing for listing in message.listings if listing_in_motion(listing)]
        for listing in message.listings:
            if listing_in_motion(listing):
                self._moving.add(listing["id"])
            elif listing["id"] in self._moving:
                self._moving.discard(listing["id"])
                status = listing["status"]
                text = f"Listing {listing['id']} on {listing['platform']} is {status}."
                _show_info(self.query_one("#status", Static), text)
                self.notify(text, severity=_severity(status))
        progress = self.query_one("#progress", Static)
        if not moving:
            progress.update(f"Deliveries settled (after {plural(message.check, 'check')}).")
            progress.remove_class("busy")
        elif message.check >= message.limit:
            progress.update(
                f"Still on its way after {plural(message.check, 'check')}: {_in_motion_text(moving)}. "
                "The server keeps trying; press r to refresh."
            )
            progress.remove_class("busy")
        else:
            progress.update(
                f"⟳ Waiting for the delivery worker — check {message.check} of {message.limit}: "
                f"{_in_motion_text(moving)}"
            )
            progress.add_class("busy")

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
        outcome.update("\n".join(part for part in (self._item_note, describe_listing(listing)) if part))
        outcome.set_class(listing["status"] in _BAD, "error")

    def _show_outcome(self, listing: Listing, note: str, *, scroll: bool = True) -> None:
        self._outcome_for = listing["id"]
        self._highlight(listing["id"])
        text = "\n".join(part for part in (self._item_note, note, describe_listing(listing)) if part)
        outcome = self.query_one("#outcome", Static)
        outcome.update(text)
        outcome.set_class(listing["status"] in _BAD, "error")
        if scroll:
            outcome.scroll_visible()

    def _follow(self) -> None:
        progress = self.query_one("#progress", Static)
        progress.update(f"⟳ Waiting for the delivery worker (checks every {self.polling.interval:g}s)…")
        progress.add_class("busy")
        self.watch_listings()

    def _watching(self) -> bool:
        return any(w.group == "watch" and w.is_running for w in self.workers)

    def _upsert_listing(self, listing: Listing) -> None:
        table = self.query_one("#listings", DataTable)
        cells = _listing_cells(listing, self.connections.get(listing["connection_id"]))
        if listing["id"] in self.listings:
            for column, value in cells.items():
                table.update_cell(listing["id"], column, value, update_width=True)
        else:
            table.add_row(*cells.values(), key=listing["id"])
        self.listings[listing["id"]] = listing

    def _tick_next_attempts(self) -> None:
        table = self.query_one("#listings", DataTable)
        for listing_id, listing in self.listings.items():
            delivery = listing.get("delivery")
            if delivery is not None and delivery["state"] == "queued":
                table.update_cell(listing_id, "next", next_attempt_text(delivery))

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
        """Reload the item (and follow its listings again if some are on their way)."""
        self.load_item()

    def action_create_listing(self) -> None:
        """Create a draft listing on the chosen connection."""
        value = self.query_one("#connection", Select).value
        if not isinstance(value, str):
            self.notify("Choose a connection first.", severity="warning")
            return
        self.create_listing(value)

    def action_publish(self) -> None:
        """Queue the selected listing for publication."""
        listing = self._selected_listing()
        if listing is None:
            self.notify("No listing to publish: create one first (l).", severity="warning")
            return
        self.query_one("#outcome", Static).update(f"Queuing for {listing['platform']}…")
        self.publish_listing(listing["id"])

    def action_delist(self) -> None:
        """Take the selected listing down (or cancel its publication if it has not gone out yet)."""
        listing = self._selected_listing()
        if listing is None:
            self.notify("No listing selected.", severity="warning")
            return
        self.query_one("#outcome", Static).update(f"Taking it down from {listing['platform']}…")
        self.delist_listing(listing["id"])

    def action_mark_sold(self) -> None:
        """Record a sale of the item (asks how many and for how much)."""
        if self.item is None:
            self.notify("The item has not loaded yet.", severity="warning")
            return
        self.app.push_screen(SaleScreen(self.client, self.item, list(self.listings.values())), self._sold)

    def _sold(self, sale: Sale | None) -> None:
        if sale is None or self.item is None:
            return
        paid = f" for {format_money(sale['price_minor'], sale['currency'])}" if sale["price_minor"] is not None else ""
        text = f"Sold {sale['quantity']}{paid}; {sale['quantity_left']} left."
        if sale["quantity_left"] == 0:
            text += " The item is sold out: its other listings are being taken down."
        self._item_note = text
        outcome = self.query_one("#outcome", Static)
        outcome.update(text)
        outcome.remove_class("error")
        self._outcome_for = None
        self.notify(text, markup=False)
        # The reload sees the takedowns the sale queued and follows them.
        self.load_item()

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

    @on(Button.Pressed, "#delist")
    def _delist_pressed(self) -> None:
        self.action_delist()

    @on(Button.Pressed, "#mark-sold")
    def _mark_sold_pressed(self) -> None:
        self.action_mark_sold()

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
        polling: how screens follow queued deliveries (default: every second, a minute at most).
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
    #progress { height: auto; padding: 0 1; color: $text-muted; }
    #progress.busy { color: $warning; }
    #outbox-summary { height: auto; padding: 0 1; }
    #outbox-summary.warning { color: $warning; }
    #deliveries, #approvals { height: 1fr; }
    #delivery-box, #approval-box { height: auto; max-height: 45%; padding: 0 1; }
    #counts { width: 1fr; padding: 1 1 0 2; }
    NoteScreen, SaleScreen { align: center middle; }
    .dialog { width: 80; max-width: 100%; height: auto; max-height: 100%; border: thick $accent;
        background: $surface; padding: 0 1; }
    #note-title, #sale-title { text-style: bold; padding: 0 0 1 0; }
    .dialog-fields { layout: grid; grid-size: 2; grid-columns: 14 1fr; grid-rows: 3; height: auto; }
    #sale-error { height: auto; padding: 1 0 0 0; }
    .dialog-buttons { height: auto; align-horizontal: right; padding-top: 1; }
    .dialog-buttons Button { margin-left: 1; }
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

    def __init__(self, client: CashoutClient, *, polling: Polling | None = None) -> None:
        super().__init__()
        self.client = client
        self.polling = polling or Polling()
        self.user: User | None = None

    def get_default_screen(self) -> Screen[None]:
        """The items list is the home screen.

        Returns:
            The items screen.
        """
        return ItemsScreen(self.client, self.polling)

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
