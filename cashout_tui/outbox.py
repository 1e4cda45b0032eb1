"""The outbox (every delivery to a platform, the dead letters among them) and the approvals queue."""

from __future__ import annotations

import asyncio
from typing import cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, Select, Static

from cashout_tui.client import ApiError, Approval, CashoutClient, Delivery, DeliveryCounts, DeliveryState
from cashout_tui.common import ApiFailed, NoteScreen, plural, show_error, show_info
from cashout_tui.formatting import describe_delivery, next_attempt_text, relative_time

__all__ = ["APPROVAL_FILTERS", "DELIVERY_FILTERS", "ApprovalsScreen", "OutboxScreen"]

DELIVERY_FILTERS: list[tuple[str, str]] = [
    ("All deliveries", "all"),
    ("Dead letters", "dead"),
    ("Queued", "queued"),
    ("Waiting for approval", "awaiting_approval"),
    ("Being sent", "in_flight"),
    ("Outcome unknown", "unknown"),
    ("Done", "done"),
    ("Cancelled", "cancelled"),
]
APPROVAL_FILTERS: list[tuple[str, str]] = [
    ("Waiting", "pending"),
    ("Approved", "approved"),
    ("Rejected", "rejected"),
    ("All", "all"),
]
_RETRYABLE = frozenset({"dead", "unknown"})
_CANCELLABLE = frozenset({"queued", "awaiting_approval"})


def _next_filter(options: list[tuple[str, str]], current: object) -> str:
    values = [value for _, value in options]
    index = values.index(current) if isinstance(current, str) and current in values else -1
    return values[(index + 1) % len(values)]


# -- the outbox ---------------------------------------------------------------------------------


class DeliveriesLoaded(Message, bubble=False):
    """The outbox page and the counts arrived."""

    def __init__(self, deliveries: list[Delivery], counts: DeliveryCounts) -> None:
        super().__init__()
        self.deliveries = deliveries
        self.counts = counts


class DeliveryShown(Message, bubble=False):
    """One delivery with its history arrived (after a look, a retry or a cancel); ``note`` says what was done."""

    def __init__(self, delivery: Delivery, note: str = "") -> None:
        super().__init__()
        self.delivery = delivery
        self.note = note


def _counts_text(counts: DeliveryCounts) -> str:
    by_state = counts.get("by_state") or {}
    order = [value for _, value in DELIVERY_FILTERS[1:]]
    parts = [f"{by_state[s]} {s.replace('_', ' ')}" for s in order if by_state.get(s)]
    text = "Outbox: " + (" · ".join(parts) if parts else "empty")
    open_breakers = {p: s for p, s in (counts.get("breakers") or {}).items() if s != "closed"}
    if open_breakers:
        text += " — paused platforms: " + ", ".join(f"{p} ({s.replace('_', ' ')})" for p, s in open_breakers.items())
    return text


def _delivery_detail(delivery: Delivery) -> str:
    lines = [
        f"{delivery['id']}: {delivery['action']} on {delivery['platform']}"
        + (f" for listing {delivery['listing_id']}" if delivery["listing_id"] else ""),
        f"State: {describe_delivery(delivery)}",  # a Delivery has every DeliveryBrief key
    ]
    if delivery.get("must_check"):
        lines.append("An earlier attempt may have gone through: the platform is asked before anything is resent.")
    if delivery["state"] in _RETRYABLE:
        lines.append("Press t to queue it again now.")
    elif delivery["state"] in _CANCELLABLE:
        lines.append("Press c to cancel it.")
    history = delivery.get("history")
    if history:
        lines.append("")
        lines.append("Attempts:")
        for attempt in history:
            detail = f": {attempt['detail']}" if attempt["detail"] else ""
            when = relative_time(attempt["started_at"])
            lines.append(f"  {attempt['number']}. {attempt['hook']} → {attempt['outcome']}{detail} ({when})")
    elif history is not None:
        lines.append("No attempts yet.")
    return "\n".join(lines)


class OutboxScreen(Screen[None]):
    """Every delivery on its way to a platform, filtered by state, with retry and cancel.

    Args:
        client: the API client.
        state: the filter to start with: a delivery state (``dead`` is the dead-letter list) or ``all``.
    """

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("r", "reload", "Refresh"),
        Binding("d", "dead_letters", "Dead letters"),
        Binding("f", "next_filter", "Next filter"),
        Binding("t", "retry", "Retry"),
        Binding("c", "cancel_delivery", "Cancel delivery"),
    ]

    def __init__(self, client: CashoutClient, state: str = "all") -> None:
        super().__init__()
        self.client = client
        self.initial_state = state
        self.deliveries: dict[str, Delivery] = {}
        self._detail_for: str | None = None

    def compose(self) -> ComposeResult:
        """Lay out the screen."""
        yield Header()
        with Horizontal(classes="bar"):
            yield Select(DELIVERY_FILTERS, value=self.initial_state, allow_blank=False, id="state-filter")
            yield Static("", id="counts", markup=False)
        yield DataTable(id="deliveries", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="delivery-box"):
            yield Label("Delivery", classes="section")
            yield Static("Select a delivery to see its attempts.", id="delivery-detail", markup=False)
        yield Static("", id="status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        """Set up the table and start loading."""
        self.sub_title = "Outbox"
        table = self.query_one("#deliveries", DataTable)
        for label, key in [
            ("Delivery", "id"),
            ("Action", "action"),
            ("State", "state"),
            ("Platform", "platform"),
            ("Listing", "listing"),
            ("Attempts", "attempts"),
            ("Next attempt", "next"),
            ("Last error", "error"),
            ("Updated", "updated"),
        ]:
            table.add_column(label, key=key)
        self.load_deliveries()

    @property
    def state_filter(self) -> DeliveryState | None:
        """The state shown, or ``None`` for every state."""
        value = self.query_one("#state-filter", Select).value
        return cast(DeliveryState, value) if isinstance(value, str) and value != "all" else None

    # workers

    @work(exclusive=True, group="load")
    async def load_deliveries(self) -> None:
        """Fetch the deliveries in the chosen state and the counts (in a worker)."""
        show_info(self.query_one("#status", Static), "Loading the outbox…")
        state = self.state_filter
        failure: ApiError | None = None
        try:
            async with asyncio.TaskGroup() as group:
                rows = group.create_task(self.client.all_deliveries(state=state))
                counts = group.create_task(self.client.delivery_counts())
        except* ApiError as errors:
            failure = cast(ApiError, errors.exceptions[0])
        if failure is not None:
            self.post_message(ApiFailed("Could not load the outbox", failure))
            return
        self.post_message(DeliveriesLoaded(rows.result(), counts.result()))

    @work(exclusive=True, group="detail")
    async def load_detail(self, delivery_id: str) -> None:
        """Fetch one delivery's attempts (in a worker).

        Args:
            delivery_id: the delivery's id.
        """
        try:
            delivery = await self.client.get_delivery(delivery_id)
        except ApiError as exc:
            self.post_message(ApiFailed("Could not load the delivery", exc))
            return
        self.post_message(DeliveryShown(delivery))

    @work(exclusive=True, group="act")
    async def retry_delivery(self, delivery_id: str) -> None:
        """Queue a dead delivery again (in a worker).

        Args:
            delivery_id: the delivery's id.
        """
        try:
            delivery = await self.client.retry_delivery(delivery_id)
        except ApiError as exc:
            self.post_message(ApiFailed("Could not retry the delivery", exc))
            return
        self.post_message(DeliveryShown(delivery, f"Queued {delivery_id} again: the server's worker sends it next."))

    @work(exclusive=True, group="act")
    async def cancel_delivery(self, delivery_id: str) -> None:
        """Cancel a delivery that has not started (in a worker).

        Args:
            delivery_id: the delivery's id.
        """
        try:
            delivery = await self.client.cancel_delivery(delivery_id)
        except ApiError as exc:
            self.post_message(ApiFailed("Could not cancel the delivery", exc))
            return
        self.post_message(DeliveryShown(delivery, f"Cancelled {delivery_id}."))

    # results

    def on_deliveries_loaded(self, message: DeliveriesLoaded) -> None:
        """Show the deliveries and the counts, keeping the cursor on the same delivery."""
        table = self.query_one("#deliveries", DataTable)
        current = self._current_id()
        self.deliveries = {}
        table.clear()
        for delivery in message.deliveries:
            self._upsert(delivery)
        if current in self.deliveries:
            table.move_cursor(row=table.get_row_index(current))
        self.query_one("#counts", Static).update(_counts_text(message.counts))
        if not message.deliveries:
            self._detail_for = None
            self.query_one("#delivery-detail", Static).update("Nothing here.")
        elif self._current_id() != self._detail_for:
            self._show_selected()
        label = {value: label for label, value in DELIVERY_FILTERS}.get(self.state_filter or "all", "")
        hint = "t retries a dead one, c cancels a queued one, d shows dead letters, f changes the filter"
        show_info(self.query_one("#status", Static), f"{label}: {plural(len(message.deliveries), 'delivery')} — {hint}")

    def on_delivery_shown(self, message: DeliveryShown) -> None:
        """Show one delivery's detail (and its new state after a retry or cancel)."""
        delivery = message.delivery
        if delivery["id"] in self.deliveries:
            self._upsert(delivery)
        if message.note or delivery["id"] == self._current_id():
            self._detail_for = delivery["id"]
            self.query_one("#delivery-detail", Static).update(_delivery_detail(delivery))
        if message.note:
            show_info(self.query_one("#status", Static), f"{message.note} ({describe_delivery(delivery)})")
            self.notify(message.note, markup=False)
            self.refresh_counts()

    @work(exclusive=True, group="counts")
    async def refresh_counts(self) -> None:
        """Fetch the counts again after a change (in a worker); a failure leaves the old ones."""
        try:
            counts = await self.client.delivery_counts()
        except ApiError:
            return
        self.query_one("#counts", Static).update(_counts_text(counts))

    def on_api_failed(self, message: ApiFailed) -> None:
        """Show a failed call's error; the app keeps running."""
        text = show_error(self.query_one("#status", Static), message.doing, message.error)
        self.notify(text, severity="error", markup=False)

    def _upsert(self, delivery: Delivery) -> None:
        table = self.query_one("#deliveries", DataTable)
        cells = {
            "id": delivery["id"],
            "action": delivery["action"],
            "state": delivery["state"],
            "platform": delivery["platform"],
            "listing": delivery["listing_id"] or "",
            "attempts": str(delivery["attempts"]),
            "next": next_attempt_text(delivery),
            "error": delivery["last_error"] or "",
            "updated": relative_time(delivery["updated_at"]),
        }
        if delivery["id"] in self.deliveries:
            for column, value in cells.items():
                table.update_cell(delivery["id"], column, value, update_width=True)
        else:
            table.add_row(*cells.values(), key=delivery["id"])
        self.deliveries[delivery["id"]] = delivery

    def _current_id(self) -> str | None:
        table = self.query_one("#deliveries", DataTable)
        if not table.row_count or not table.is_valid_row_index(table.cursor_row):
            return None
        key = table.ordered_rows[table.cursor_row].key.value
        return key if key in self.deliveries else None

    def _show_selected(self) -> None:
        delivery_id = self._current_id()
        if delivery_id is None:
            return
        self._detail_for = delivery_id
        self.query_one("#delivery-detail", Static).update(_delivery_detail(self.deliveries[delivery_id]))
        self.load_detail(delivery_id)

    @on(DataTable.RowHighlighted, "#deliveries")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value != self._detail_for:
            self._show_selected()

    @on(Select.Changed, "#state-filter")
    def _filter_changed(self) -> None:
        self.load_deliveries()

    # actions

    def action_back(self) -> None:
        """Go back."""
        self.dismiss(None)

    def action_reload(self) -> None:
        """Reload the outbox."""
        self.load_deliveries()

    def action_dead_letters(self) -> None:
        """Show only the dead letters (deliveries the server gave up on)."""
        select = self.query_one("#state-filter", Select)
        if select.value == "dead":
            self.load_deliveries()
        else:
            select.value = "dead"

    def action_next_filter(self) -> None:
        """Show the next state."""
        select = self.query_one("#state-filter", Select)
        select.value = _next_filter(DELIVERY_FILTERS, select.value)

    def action_retry(self) -> None:
        """Queue the selected dead (or unknown) delivery again."""
        delivery_id = self._current_id()
        if delivery_id is None:
            self._warn("No delivery selected.")
            return
        if self.deliveries[delivery_id]["state"] not in _RETRYABLE:
            state = self.deliveries[delivery_id]["state"]
            self._warn(f"Only a dead or unknown delivery can be retried; this one is {state}.")
            return
        self.retry_delivery(delivery_id)

    def action_cancel_delivery(self) -> None:
        """Cancel the selected delivery, if it has not started."""
        delivery_id = self._current_id()
        if delivery_id is None:
            self._warn("No delivery selected.")
            return
        self.cancel_delivery(delivery_id)

    def _warn(self, text: str) -> None:
        status = self.query_one("#status", Static)
        status.update(text)
        status.add_class("error")
        self.notify(text, severity="warning", markup=False)


# -- approvals ----------------------------------------------------------------------------------


class ApprovalsLoaded(Message, bubble=False):
    """The approvals arrived."""

    def __init__(self, approvals: list[Approval]) -> None:
        super().__init__()
        self.approvals = approvals


class ApprovalDecided(Message, bubble=False):
    """A person approved or rejected a change."""

    def __init__(self, approval: Approval) -> None:
        super().__init__()
        self.approval = approval


def _approval_detail(approval: Approval) -> str:
    lines = [
        approval["summary"],
        f"{approval['action']} on {approval['platform']} — delivery {approval['delivery_id']}"
        + (f", listing {approval['listing_id']}" if approval["listing_id"] else ""),
        f"Asked {relative_time(approval['created_at'])}; {approval['status']}"
        + (f" {relative_time(approval['decided_at'])}" if approval["decided_at"] else ""),
    ]
    if approval["note"]:
        lines.append(f"Note: {approval['note']}")
    if approval["status"] == "pending":
        lines.append("Press a to approve (it is sent next) or x to reject (it is cancelled).")
    return "\n".join(lines)


class ApprovalsScreen(Screen[None]):
    """Changes waiting for a person (as their account's approval policy asks), to approve or reject.

    Args:
        client: the API client.
        status: the filter to start with: ``pending``, ``approved``, ``rejected`` or ``all``.
    """

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("r", "reload", "Refresh"),
        Binding("a", "approve", "Approve"),
        Binding("x", "reject", "Reject"),
        Binding("f", "next_filter", "Next filter"),
    ]

    def __init__(self, client: CashoutClient, status: str = "pending") -> None:
        super().__init__()
        self.client = client
        self.initial_status = status
        self.approvals: dict[str, Approval] = {}

    def compose(self) -> ComposeResult:
        """Lay out the screen."""
        yield Header()
        with Horizontal(classes="bar"):
            yield Select(APPROVAL_FILTERS, value=self.initial_status, allow_blank=False, id="approval-filter")
        yield DataTable(id="approvals", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="approval-box"):
            yield Label("Approval", classes="section")
            yield Static("Select an approval to see it.", id="approval-detail", markup=False)
        yield Static("", id="status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        """Set up the table and start loading."""
        self.sub_title = "Approvals"
        table = self.query_one("#approvals", DataTable)
        for label, key in [
            ("Summary", "summary"),
            ("Action", "action"),
            ("Platform", "platform"),
            ("Status", "status"),
            ("Asked", "asked"),
            ("Note", "note"),
        ]:
            table.add_column(label, key=key)
        self.load_approvals()

    # workers

    @work(exclusive=True, group="load")
    async def load_approvals(self) -> None:
        """Fetch the approvals with the chosen status (in a worker)."""
        show_info(self.query_one("#status", Static), "Loading approvals…")
        value = self.query_one("#approval-filter", Select).value
        try:
            approvals = await self.client.all_approvals(status=value if isinstance(value, str) else "pending")
        except ApiError as exc:
            self.post_message(ApiFailed("Could not load approvals", exc))
            return
        self.post_message(ApprovalsLoaded(approvals))

    @work(exclusive=True, group="decide")
    async def decide(self, approval_id: str, approve: bool, note: str) -> None:
        """Approve or reject a change (in a worker).

        Args:
            approval_id: the approval's id.
            approve: approve (``True``) or reject.
            note: the person's note.
        """
        try:
            if approve:
                approval = await self.client.approve(approval_id, note)
            else:
                approval = await self.client.reject(approval_id, note)
        except ApiError as exc:
            self.post_message(ApiFailed(f"Could not {'approve' if approve else 'reject'} it", exc))
            return
        self.post_message(ApprovalDecided(approval))

    # results

    def on_approvals_loaded(self, message: ApprovalsLoaded) -> None:
        """Show the approvals."""
        table = self.query_one("#approvals", DataTable)
        current = self._current_id()
        self.approvals = {}
        table.clear()
        for approval in message.approvals:
            self._upsert(approval)
        if current in self.approvals:
            table.move_cursor(row=table.get_row_index(current))
        self._show_selected()
        count = len(message.approvals)
        if self.query_one("#approval-filter", Select).value == "pending":
            text = f"{plural(count, 'change')} waiting — a approves, x rejects" if count else "Nothing is waiting."
        else:
            text = f"{plural(count, 'approval')} — f changes the filter"
        show_info(self.query_one("#status", Static), text)

    def on_approval_decided(self, message: ApprovalDecided) -> None:
        """Show the decision in place."""
        approval = message.approval
        self._upsert(approval)
        self._show_selected()
        done = "Approved: it is queued for delivery now." if approval["status"] == "approved" else "Rejected."
        text = f"{done} {approval['summary']}"
        show_info(self.query_one("#status", Static), text)
        self.notify(text, markup=False)

    def on_api_failed(self, message: ApiFailed) -> None:
        """Show a failed call's error; the app keeps running."""
        text = show_error(self.query_one("#status", Static), message.doing, message.error)
        self.notify(text, severity="error", markup=False)

    def _warn(self, text: str) -> None:
        status = self.query_one("#status", Static)
        status.update(text)
        status.add_class("error")
        self.notify(text, severity="warning", markup=False)

    def _upsert(self, approval: Approval) -> None:
        table = self.query_one("#approvals", DataTable)
        cells = {
            "summary": approval["summary"],
            "action": approval["action"],
            "platform": approval["platform"],
            "status": approval["status"],
            "asked": relative_time(approval["created_at"]),
            "note": approval["note"],
        }
        if approval["id"] in self.approvals:
            for column, value in cells.items():
                table.update_cell(approval["id"], column, value, update_width=True)
        else:
            table.add_row(*cells.values(), key=approval["id"])
        self.approvals[approval["id"]] = approval

    def _current_id(self) -> str | None:
        table = self.query_one("#approvals", DataTable)
        if not table.row_count or not table.is_valid_row_index(table.cursor_row):
            return None
        key = table.ordered_rows[table.cursor_row].key.value
        return key if key in self.approvals else None

    def _show_selected(self) -> None:
        approval_id = self._current_id()
        detail = self.query_one("#approval-detail", Static)
        detail.update(_approval_detail(self.approvals[approval_id]) if approval_id else "Nothing here.")

    @on(DataTable.RowHighlighted, "#approvals")
    def _highlighted(self) -> None:
        self._show_selected()

    @on(Select.Changed, "#approval-filter")
    def _filter_changed(self) -> None:
        self.load_approvals()

    # actions

    def action_back(self) -> None:
        """Go back."""
        self.dismiss(None)

    def action_reload(self) -> None:
        """Reload the approvals."""
        self.load_approvals()

    def action_next_filter(self) -> None:
        """Show the next status."""
        select = self.query_one("#approval-filter", Select)
        select.value = _next_filter(APPROVAL_FILTERS, select.value)

    def action_approve(self) -> None:
        """Approve the selected change, with an optional note."""
        self._ask(approve=True)

    def action_reject(self) -> None:
        """Reject the selected change, with an optional note."""
        self._ask(approve=False)

    def _ask(self, *, approve: bool) -> None:
        approval_id = self._current_id()
        if approval_id is None:
            self._warn("No approval selected.")
            return
        approval = self.approvals[approval_id]
        if approval["status"] != "pending":
            self._warn(f"It is already {approval['status']}.")
            return
        verb = "Approve" if approve else "Reject"

        def decided(note: str | None) -> None:
            if note is not None:
                self.decide(approval_id, approve, note)

        self.app.push_screen(NoteScreen(f"{verb}: {approval['summary']}", verb), decided)
