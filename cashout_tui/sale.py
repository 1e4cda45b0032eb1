"""The "mark sold" dialog: how many units sold, for how much, through which listing."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, Static

from cashout_tui.client import ApiError, CashoutClient, Item, Listing, Sale
from cashout_tui.common import ApiFailed, FormScreen, show_info
from cashout_tui.formatting import PriceError, format_money, parse_price

__all__ = ["SaleScreen"]

_LIVE = frozenset({"published", "pending", "needs_action"})


class SaleRecorded(Message, bubble=False):
    """The server recorded the sale."""

    def __init__(self, sale: Sale) -> None:
        super().__init__()
        self.sale = sale


class SaleScreen(FormScreen[Sale | None]):
    """Record a sale of an item; dismisses with the stored sale, or ``None`` when cancelled.

    When no units are left the server takes the item down everywhere else through its outbox.

    Args:
        client: the API client.
        item: the item sold.
        listings: the item's listings, to say which one it sold through.
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Record sale"),
    ]
    ERROR_ID = "sale-error"
    OK_ID = "sale-ok"
    CANCEL_ID = "sale-cancel"

    def __init__(self, client: CashoutClient, item: Item, listings: list[Listing]) -> None:
        super().__init__()
        self.client = client
        self.item = item
        self.listings = [listing for listing in listings if listing["status"] in _LIVE]

    def compose(self) -> ComposeResult:
        """Lay out the dialog."""
        item = self.item
        left = item["quantity"]
        with Vertical(id="sale-form", classes="dialog"):
            yield Static(
                f"Mark sold: {item['title']} ({left} left, listed at "
                f"{format_money(item['list_price_minor'], item['currency'])})",
                id="sale-title",
                markup=False,
            )
            with Vertical(classes="dialog-fields"):
                yield Label("Quantity", classes="field-label")
                yield Input(value="1", id="sale-quantity", type="integer")
                yield Label(f"Price ({item['currency']})", classes="field-label")
                yield Input(placeholder="optional: what the buyer paid in total", id="sale-price")
                yield Label("Sold through", classes="field-label")
                yield Select[str](
                    [(f"{listing['platform']} ({listing['status']})", listing["id"]) for listing in self.listings],
                    prompt="no particular listing",
                    id="sale-listing",
                )
                yield Label("Note", classes="field-label")
                yield Input(placeholder="optional", id="sale-note", max_length=2000)
            yield Static("When none are left, every other listing is taken down.", id="sale-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Record sale", id="sale-ok", variant="primary")
                yield Button("Cancel", id="sale-cancel")

    def on_mount(self) -> None:
        """Put the cursor in the quantity."""
        self.query_one("#sale-quantity", Input).focus()

    def action_submit(self) -> None:
        """Check the fields and, if they are fine, record the sale."""
        raw_quantity = self.query_one("#sale-quantity", Input).value.strip() or "1"
        try:
            quantity = int(raw_quantity)
        except ValueError:
            self._fail("sale-quantity", f"Quantity must be a whole number, not {raw_quantity!r}.")
            return
        if quantity < 1:
            self._fail("sale-quantity", "Quantity must be at least 1.")
            return
        raw_price = self.query_one("#sale-price", Input).value.strip()
        price: int | None = None
        if raw_price:
            try:
                price = parse_price(raw_price, self.item["currency"], field="Price")
            except PriceError as exc:
                self._fail("sale-price", f"{exc}.")
                return
        through = self.query_one("#sale-listing", Select).value
        note = self.query_one("#sale-note", Input).value.strip()
        self._fail(None, "")
        show_info(self.query_one("#sale-error", Static), "Saving…")
        self.query_one("#sale-ok", Button).disabled = True
        self.record_sale(quantity, price, through if isinstance(through, str) else None, note)

    @work(exclusive=True, group="sale")
    async def record_sale(self, quantity: int, price_minor: int | None, listing_id: str | None, note: str) -> None:
        """Send the sale to the server (in a worker).

        Args:
            quantity: units sold.
            price_minor: what the buyer paid, in minor units, if known.
            listing_id: the listing it sold through, if any.
            note: a note kept with the sale.
        """
        try:
            sale = await self.client.record_sale(
                self.item["id"], quantity=quantity, price_minor=price_minor, listing_id=listing_id, note=note
            )
        except ApiError as exc:
            self.post_message(ApiFailed("Could not record the sale", exc))
            return
        self.post_message(SaleRecorded(sale))

    def on_sale_recorded(self, message: SaleRecorded) -> None:
        """Close with the stored sale."""
        self.dismiss(message.sale)
