"""The inbox (every buyer conversation, highest score first) and one lead with its drafted reply.

The inbox lists leads as the server scores them, filtered by state (``f`` cycles the filters).
A lead's screen shows the conversation (our drafts highlighted), the score with its explanation,
scam flags, where the negotiation stands and the timeline of what cashout did and why. The
newest draft waiting for a person is in an editable box: ``ctrl+s`` approves it (sending the
edited text when it was changed), ``x`` discards it, ``r`` writes a reply of one's own, ``o``
answers an offer and ``m`` marks the lead lost, archived, spam or won.

Every server call runs in a worker; a failure shows the server's reason in a notification and on
the status line, never a traceback.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Literal, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, Select, Static, TextArea

from cashout_tui.client import ApiError, CashoutClient, Item, Lead, LeadEvent, LeadMessage, OfferAction
from cashout_tui.common import ApiFailed, FormScreen, Polling, plural, show_error, show_info
from cashout_tui.formatting import PriceError, format_money, parse_price, relative_time

__all__ = [
    "INBOX_FILTERS",
    "InboxScreen",
    "LeadScreen",
    "MarkLeadScreen",
    "OfferScreen",
    "ReplyScreen",
    "describe_negotiation",
    "describe_score",
    "last_offer",
    "pending_draft",
]

INBOX_FILTERS: list[tuple[str, str]] = [
    ("Open and negotiating", "active"),
    ("Awaiting approval", "approval"),
    ("All", "all"),
    ("Spam", "spam"),
]
_FILTER_QUERY: dict[str, tuple[str | None, bool | None]] = {
    "active": ("new,open,negotiating,agreed", None),
    "approval": (None, True),
    "all": (None, None),
    "spam": ("spam", None),
}
DRAFT_STATES = frozenset({"awaiting_approval", "draft"})
"""Our replies a person can still approve (a draft has no account to go through yet)."""
_MOVING = frozenset({"queued", "sending"})
_DISCARDABLE = frozenset({"awaiting_approval", "draft", "queued"})
MARK_STATES: list[tuple[str, str, str]] = [
    ("lost", "Lost", "l"),
    ("archived", "Archive", "a"),
    ("spam", "Spam", "s"),
    ("won", "Won", "w"),
    ("open", "Reopen", "o"),
]
"""The states a person moves a lead to from its screen: (state, button label, key)."""
OFFER_ACTIONS: list[tuple[str, OfferAction]] = [
    ("Counter", "counter"),
    ("Accept", "accept"),
    ("Decline", "decline"),
    ("Make an offer", "offer"),
]


# -- pure helpers -------------------------------------------------------------------------------


def pending_draft(lead: Lead) -> LeadMessage | None:
    """The newest reply of ours that waits for a person (awaiting approval, or a draft).

    Args:
        lead: the lead with its messages.

    Returns:
        The message, or ``None`` when nothing waits.
    """
    waiting = [m for m in lead.get("messages") or [] if m["direction"] == "out" and m["status"] in DRAFT_STATES]
    return waiting[-1] if waiting else None


def _discardable(lead: Lead) -> LeadMessage | None:
    draft = pending_draft(lead)
    if draft is not None:
        return draft
    queued = [m for m in lead.get("messages") or [] if m["direction"] == "out" and m["status"] in _DISCARDABLE]
    return queued[-1] if queued else None


def last_offer(lead: Lead) -> int | None:
    """The buyer's newest offer in minor units: the negotiation's, else the newest message naming one.

    Args:
        lead: the lead (with its messages, when known).

    Returns:
        The amount, or ``None`` when the buyer made no offer.
    """
    offers = (lead.get("negotiation") or {}).get("offers") or []
    if offers and isinstance(offers[-1], dict) and isinstance(offers[-1].get("amount_minor"), int):
        return cast(int, offers[-1]["amount_minor"])
    named = [m["offer_minor"] for m in lead.get("messages") or [] if m["direction"] == "in" and m["offer_minor"]]
    return named[-1] if named else None


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:+}" if isinstance(value, int | float) else str(value)


def describe_score(lead: Lead) -> str:
    """The score and each part of its explanation, e.g. ``+30 offer: the buyer named a price``.

    Args:
        lead: the lead.

    Returns:
        Plain text, one part a line.
    """
    lines = [f"Score {lead['score']} of 100"]
    for part in (lead.get("score_explanation") or {}).get("parts") or []:
        if isinstance(part, dict):
            reason = f": {part['reason']}" if part.get("reason") else ""
            lines.append(f"  {_number(part.get('points', 0))} {part.get('name', '?')}{reason}")
    return "\n".join(lines)


def _currency(lead: Lead, item: Item | None) -> str:
    if item is not None:
        return item["currency"]
    return str((lead.get("negotiation") or {}).get("currency") or "USD")


def describe_negotiation(lead: Lead, item: Item | None = None) -> str:
    """Where the haggling stands: status, the buyer's offers, our last counter, the agreed price.

    Args:
        lead: the lead.
        item: the item it is about, for the currency and prices.

    Returns:
        Plain text; ``No offers yet.`` when there is nothing to say.
    """
    state = lead.get("negotiation") or {}
    currency = _currency(lead, item)
    lines: list[str] = []
    if item is not None:
        floor = f", floor {format_money(item['floor_price_minor'], currency)}" if item["floor_price_minor"] else ""
        lines.append(f"Listed at {format_money(item['list_price_minor'], currency)}{floor}")
    if state.get("status"):
        lines.append(f"Status: {str(state['status']).replace('_', ' ')}")
    offers = [o["amount_minor"] for o in state.get("offers") or [] if isinstance(o, dict) and "amount_minor" in o]
    if offers:
        lines.append("Buyer offered: " + ", ".join(format_money(o, currency) for o in offers))
    elif (offer := last_offer(lead)) is not None:
        lines.append(f"Buyer offered: {format_money(offer, currency)}")
    if state.get("last_counter_minor"):
        lines.append(f"Our last counter: {format_money(state['last_counter_minor'], currency)}")
    if state.get("agreed_minor"):
        lines.append(f"Agreed at: {format_money(state['agreed_minor'], currency)}")
    if state.get("rounds"):
        lines.append(f"Rounds: {state['rounds']}")
    if not offers and last_offer(lead) is None and len(lines) <= 1:
        lines.append("No offers yet.")
    return "\n".join(lines)


def describe_flags(lead: Lead) -> str:
    """Scam signals and warnings, one a line, or ``None``.

    Args:
        lead: the lead.

    Returns:
        Plain text.
    """
    flags = lead.get("flags") or {}
    if not flags:
        return "None."
    return "\n".join(f"⚠ {name.replace('_', ' ')}: {reason}" for name, reason in flags.items())


def describe_timeline(events: list[LeadEvent]) -> str:
    """Every step cashout took on the lead and why, oldest first.

    Args:
        events: the lead's timeline.

    Returns:
        Plain text, one step a line.
    """
    if not events:
        return "Nothing yet."
    return "\n".join(f"{relative_time(e['at'])} · {e['kind'].replace('_', ' ')}: {e['detail']}" for e in events)


def _who(message: LeadMessage, lead: Lead) -> str:
    if message["direction"] == "in":
        return lead.get("buyer_name") or "Buyer"
    return {"auto": "cashout (automatic)", "seller": "You", "platform": "You (on the platform)"}.get(
        message["author"], message["author"]
    )


def describe_message(message: LeadMessage, lead: Lead, item: Item | None = None) -> str:
    """One message as a person reads it: who, when, its status, the text, and how it was read.

    Args:
        message: the message.
        lead: its lead.
        item: the item, for the offer's currency.

    Returns:
        Plain text.
    """
    status = message["status"]
    head = f"{_who(message, lead)} · {relative_time(message['sent_at'])}"
    if message["direction"] == "out":
        label = {"awaiting_approval": "DRAFT — waiting for your approval", "draft": "DRAFT — not sent"}.get(
            status, status.replace("_", " ")
        )
        head += f" · {label}"
        if message["generated_by"]:
            head += f" · written by {message['generated_by']}"
    lines = [head, message["body"]]
    if message["direction"] == "in" and message["intent"]:
        how = f"read as {message['intent']}"
        if message["confidence"] is not None:
            how += f" ({message['confidence']:.2f})"
        if message["offer_minor"]:
            how += f", offer {format_money(message['offer_minor'], _currency(lead, item))}"
        if message["reason"]:
            how += f": {message['reason']}"
        lines.append(how)
    return "\n".join(lines)


def _item_text(lead: Lead, items: dict[str, Item]) -> str:
    item = items.get(lead["item_id"] or "")
    if item is not None:
        return item["title"]
    return lead.get("subject") or ""


def _next_filter(current: object) -> str:
    values = [value for _, value in INBOX_FILTERS]
    index = values.index(current) if isinstance(current, str) and current in values else -1
    return values[(index + 1) % len(values)]


# -- messages -----------------------------------------------------------------------------------


class LeadsLoaded(Message, bubble=False):
    """The inbox page and the items the leads are about arrived."""

    def __init__(self, leads: list[Lead], items: dict[str, Item]) -> None:
        super().__init__()
        self.leads = leads
        self.items = items


class LeadLoaded(Message, bubble=False):
    """One lead with its messages and timeline arrived; ``note`` says what was just done."""

    def __init__(
        self,
        lead: Lead,
        item: Item | None,
        note: str = "",
        *,
        follow: bool = False,
        quiet: bool = False,
        sent_editor: bool = False,
    ) -> None:
        super().__init__()
        self.lead = lead
        self.item = item
        self.note = note
        self.follow = follow
        self.quiet = quiet
        self.sent_editor = sent_editor


class OfferAnswered(Message, bubble=False):
    """The server took the answer to the offer."""

    def __init__(self, lead: Lead) -> None:
        super().__init__()
        self.lead = lead


class FollowDone(Message, bubble=False):
    """The screen stopped following replies on their way (they settled, or it looked long enough)."""

    def __init__(self, settled: bool, checks: int) -> None:
        super().__init__()
        self.settled = settled
        self.checks = checks


# -- the inbox ----------------------------------------------------------------------------------


class InboxScreen(Screen[None]):
    """Every buyer conversation, highest score first, filtered by state.

    Args:
        client: the API client.
        polling: how a lead's screen follows replies on their way.
        view: the filter to start with (a value of :data:`INBOX_FILTERS`).
    """

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("r", "reload", "Refresh"),
        Binding("f", "next_filter", "Next filter"),
        Binding("s", "toggle_sort", "Sort"),
        Binding("enter", "open_lead", "Open"),
    ]
    DEFAULT_CSS = """
    InboxScreen #leads { height: 1fr; }
    """

    def __init__(self, client: CashoutClient, polling: Polling | None = None, view: str = "active") -> None:
        super().__init__()
        self.client = client
        self.polling = polling or Polling()
        self.initial_view = view
        self.sort: str = "score"
        self.leads: dict[str, Lead] = {}
        self.items: dict[str, Item] = {}

    def compose(self) -> ComposeResult:
        """Lay out the screen."""
        yield Header()
        with Horizontal(classes="bar"):
            yield Select(INBOX_FILTERS, value=self.initial_view, allow_blank=False, id="lead-filter")
            yield Static("", id="inbox-counts", markup=False)
        yield DataTable(id="leads", cursor_type="row", zebra_stripes=True)
        yield Static("", id="status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        """Set up the table and start loading."""
        self.sub_title = "Inbox"
        table = self.query_one("#leads", DataTable)
        table.focus()
        for label, key in [
            ("Score", "score"),
            ("State", "state"),
            ("Platform", "platform"),
            ("Buyer", "buyer"),
            ("Item", "item"),
            ("Intent", "intent"),
            ("Last message", "last"),
            ("Reply", "approval"),
            ("Flags", "flags"),
        ]:
            table.add_column(label, key=key)
        self.load_leads()

    @property
    def view(self) -> str:
        """The filter shown."""
        value = self.query_one("#lead-filter", Select).value
        return value if isinstance(value, str) else "active"

    @work(exclusive=True, group="load")
    async def load_leads(self) -> None:
        """Fetch the leads the filter shows, and the items they are about (in a worker)."""
        show_info(self.query_one("#status", Static), "Loading the inbox…")
        state, needs_approval = _FILTER_QUERY.get(self.view, (None, None))
        sort: Literal["score", "recent"] = "recent" if self.sort == "recent" else "score"
        failure: ApiError | None = None
        try:
            async with asyncio.TaskGroup() as group:
                leads = group.create_task(self.client.all_leads(state=state, needs_approval=needs_approval, sort=sort))
                items = group.create_task(self.client.all_items())
        except* ApiError as errors:
            failure = cast(ApiError, errors.exceptions[0])
        if failure is not None:
            self.post_message(ApiFailed("Could not load the inbox", failure))
            return
        self.post_message(LeadsLoaded(leads.result(), {item["id"]: item for item in items.result()}))

    def on_leads_loaded(self, message: LeadsLoaded) -> None:
        """Show the leads in the server's order, keeping the cursor on the same lead."""
        table = self.query_one("#leads", DataTable)
        current = self._current_id()
        self.items = message.items
        self.leads = {}
        table.clear()
        for lead in message.leads:
            flags = lead.get("flags") or {}
            waiting = lead.get("awaiting_approval") or 0
            table.add_row(
                str(lead["score"]),
                lead["state"],
                lead["platform"],
                lead.get("buyer_name") or "",
                _item_text(lead, self.items),
                lead.get("intent") or "",
                relative_time(lead.get("last_message_at")),
                f"✎ {waiting} to approve" if waiting else "",
                ("⚠ " + ", ".join(name.replace("_", " ") for name in flags)) if flags else "",
                key=lead["id"],
            )
            self.leads[lead["id"]] = lead
        if current in self.leads:
            table.move_cursor(row=table.get_row_index(current))
        waiting_total = sum(lead.get("awaiting_approval") or 0 for lead in message.leads)
        counts = plural(len(message.leads), "lead")
        if waiting_total:
            counts += f" · {plural(waiting_total, 'reply')} waiting for approval"
        self.query_one("#inbox-counts", Static).update(counts)
        label = {value: label for label, value in INBOX_FILTERS}.get(self.view, "")
        order = "newest first" if self.sort == "recent" else "highest score first"
        hint = "enter opens a lead, f changes the filter, s the order" if message.leads else "f changes the filter"
        show_info(self.query_one("#status", Static), f"{label}: {counts}, {order} — {hint}")

    def on_api_failed(self, message: ApiFailed) -> None:
        """Show a failed call's error; the app keeps running."""
        text = show_error(self.query_one("#status", Static), message.doing, message.error)
        self.notify(text, severity="error", markup=False)

    def _current_id(self) -> str | None:
        table = self.query_one("#leads", DataTable)
        if not table.row_count or not table.is_valid_row_index(table.cursor_row):
            return None
        key = table.ordered_rows[table.cursor_row].key.value
        return key if key in self.leads else None

    def _open(self, lead_id: str) -> None:
        self.app.push_screen(LeadScreen(self.client, lead_id, self.polling))

    @on(DataTable.RowSelected, "#leads")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value in self.leads:
            self._open(event.row_key.value)

    @on(Select.Changed, "#lead-filter")
    def _filter_changed(self) -> None:
        self.load_leads()

    def on_screen_resume(self) -> None:
        """Reload when coming back from a lead (it may have changed)."""
        if self.leads:
            self.load_leads()

    def action_back(self) -> None:
        """Go back."""
        self.dismiss(None)

    def action_reload(self) -> None:
        """Reload the inbox."""
        self.load_leads()

    def action_next_filter(self) -> None:
        """Show the next filter."""
        select = self.query_one("#lead-filter", Select)
        select.value = _next_filter(select.value)

    def action_toggle_sort(self) -> None:
        """Switch between highest score first and newest first."""
        self.sort = "recent" if self.sort == "score" else "score"
        self.load_leads()

    def action_open_lead(self) -> None:
        """Open the lead under the cursor."""
        lead_id = self._current_id()
        if lead_id is not None:
            self._open(lead_id)


# -- one lead -----------------------------------------------------------------------------------


class LeadScreen(Screen[None]):
    """One conversation: messages, score, flags, negotiation, timeline, and the draft to approve.

    Args:
        client: the API client.
        lead_id: the lead's id.
        polling: how replies on their way are followed until they are sent.
    """

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+s", "approve", "Approve & send"),
        Binding("e", "edit", "Edit draft"),
        Binding("x", "discard", "Discard draft"),
        Binding("r", "reply", "Reply"),
        Binding("o", "offer", "Offer"),
        Binding("m", "mark", "Mark"),
        Binding("f5", "reload", "Refresh"),
    ]
    DEFAULT_CSS = """
    LeadScreen #lead-summary { height: auto; padding: 0 1; background: $panel; }
    LeadScreen #lead-body { height: 1fr; }
    LeadScreen #conversation { width: 3fr; padding: 0 1; }
    LeadScreen #lead-side { width: 2fr; padding: 0 1; border-left: vkey $accent; }
    LeadScreen .msg { height: auto; margin: 1 0 0 0; padding: 0 1; }
    LeadScreen .msg-in { border-left: thick $secondary; }
    LeadScreen .msg-out { border-left: thick $success; margin-left: 4; }
    LeadScreen .msg-draft { border: round $warning; background: $warning 15%; }
    LeadScreen .msg-discarded { color: $text-muted; text-style: strike; }
    LeadScreen #draft-label { text-style: bold; color: $accent; padding: 0 1; }
    LeadScreen #draft { height: 6; }
    LeadScreen #draft-bar { height: auto; }
    LeadScreen #draft-note { width: 1fr; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, client: CashoutClient, lead_id: str, polling: Polling | None = None) -> None:
        super().__init__()
        self.client = client
        self.lead_id = lead_id
        self.polling = polling or Polling()
        self.lead: Lead | None = None
        self.item: Item | None = None
        self.draft: LeadMessage | None = None
        self._draft_shown: tuple[str, str] | None = None

    def compose(self) -> ComposeResult:
        """Lay out the screen."""
        yield Header()
        yield Static("Loading…", id="lead-summary", markup=False)
        with Horizontal(id="lead-body"):
            yield VerticalScroll(id="conversation")
            with VerticalScroll(id="lead-side"):
                yield Label("Score", classes="section")
                yield Static("", id="score", markup=False)
                yield Label("Flags", classes="section")
                yield Static("", id="flags", markup=False)
                yield Label("Negotiation", classes="section")
                yield Static("", id="negotiation", markup=False)
                yield Label("Timeline", classes="section")
                yield Static("", id="timeline", markup=False)
        yield Label("Reply", id="draft-label")
        yield TextArea(id="draft", placeholder="Write a reply here, then press ctrl+s to send it.")
        with Horizontal(id="draft-bar", classes="bar"):
            yield Button("Approve & send (ctrl+s)", id="approve-send", variant="primary")
            yield Button("Discard (x)", id="discard", variant="error")
            yield Static("", id="draft-note", markup=False)
        yield Static("", id="progress", markup=False)
        yield Static("", id="status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        """Start loading; keys act on the lead until the person goes into the draft (e or tab)."""
        self.sub_title = f"Lead {self.lead_id}"
        self.query_one("#conversation", VerticalScroll).focus()
        self.load_lead()

    # workers

    async def _with_item(self, lead: Lead) -> Item | None:
        item_id = lead.get("item_id")
        if not item_id:
            return None
        if self.item is not None and self.item["id"] == item_id:
            return self.item
        return await self.client.get_item(item_id)

    @work(exclusive=True, group="load")
    async def load_lead(self) -> None:
        """Fetch the lead with its messages and timeline, and its item (in a worker)."""
        try:
            lead = await self.client.get_lead(self.lead_id)
            item = await self._with_item(lead)
        except ApiError as exc:
            self.post_message(ApiFailed("Could not load the lead", exc))
            return
        self.post_message(LeadLoaded(lead, item))

    @work(exclusive=True, group="act")
    async def approve_draft(self, message_id: str, body: str | None) -> None:
        """Approve the drafted reply, with the edited text when there is one (in a worker).

        Args:
            message_id: the draft's id.
            body: the edited text, or ``None`` to send the draft as it is.
        """
        try:
            lead = await self.client.approve_lead_reply(self.lead_id, message_id, body=body)
            item = await self._with_item(lead)
        except ApiError as exc:
            self.post_message(ApiFailed("Could not approve the reply", exc))
            return
        note = "Approved your edited reply: it is on its way." if body else "Approved the reply: it is on its way."
        self.post_message(LeadLoaded(lead, item, note, follow=True, sent_editor=True))

    @work(exclusive=True, group="act")
    async def discard_draft(self, message_id: str) -> None:
        """Drop our reply before it leaves (in a worker).

        Args:
            message_id: the reply's id.
        """
        try:
            lead = await self.client.discard_lead_reply(self.lead_id, message_id)
            item = await self._with_item(lead)
        except ApiError as exc:
            self.post_message(ApiFailed("Could not discard the reply", exc))
            return
        self.post_message(LeadLoaded(lead, item, "Discarded the reply: nothing is sent."))

    @work(exclusive=True, group="act")
    async def send_reply(self, body: str, *, from_editor: bool = False) -> None:
        """Send a reply the person wrote, at once (in a worker).

        Args:
            body: the text.
            from_editor: it was written in the reply box (which is emptied once it is sent).
        """
        try:
            lead = await self.client.send_lead_reply(self.lead_id, body)
            item = await self._with_item(lead)
        except ApiError as exc:
            self.post_message(ApiFailed("Could not send the reply", exc))
            return
        self.post_message(LeadLoaded(lead, item, "Your reply is on its way.", follow=True, sent_editor=from_editor))

    @work(exclusive=True, group="act")
    async def mark(self, state: str) -> None:
        """Move the lead to another state (in a worker).

        Args:
            state: ``lost``, ``archived``, ``spam``, ``won`` or ``open``.
        """
        try:
            lead = await self.client.update_lead(self.lead_id, {"state": state})
            item = await self._with_item(lead)
        except ApiError as exc:
            self.post_message(ApiFailed("Could not change the lead", exc))
            return
        self.post_message(LeadLoaded(lead, item, f"The lead is {state} now."))

    @work(exclusive=True, group="watch")
    async def follow(self) -> None:
        """Look at the lead until our replies on their way are sent (bounded by the polling)."""
        checks = 0
        for checks in range(1, self.polling.limit + 1):
            await asyncio.sleep(self.polling.interval)
            try:
                lead = await self.client.get_lead(self.lead_id)
            except ApiError:
                continue
            self.post_message(LeadLoaded(lead, self.item, quiet=True))
            if not any(m["direction"] == "out" and m["status"] in _MOVING for m in lead.get("messages") or []):
                self.post_message(FollowDone(True, checks))
                return
        self.post_message(FollowDone(False, checks))

    # results

    async def on_lead_loaded(self, message: LeadLoaded) -> None:
        """Show the lead: summary, conversation, side panel and the draft."""
        lead = message.lead
        self.lead = lead
        self.item = message.item
        self.query_one("#lead-summary", Static).update(self._summary(lead))
        self.query_one("#score", Static).update(describe_score(lead))
        flags = self.query_one("#flags", Static)
        flags.update(describe_flags(lead))
        flags.set_class(bool(lead.get("flags")), "error")
        self.query_one("#negotiation", Static).update(describe_negotiation(lead, self.item))
        self.query_one("#timeline", Static).update(describe_timeline(lead.get("timeline") or []))
        await self._show_messages(lead)
        self._show_draft(lead, sent=message.sent_editor)
        if message.note:
            show_info(self.query_one("#status", Static), message.note)
            self.notify(message.note, markup=False)
        elif not message.quiet:
            self._hint()
        if message.follow:
            progress = self.query_one("#progress", Static)
            progress.update("⟳ Waiting for the server's delivery worker to send it…")
            progress.add_class("busy")
            self.follow()

    def on_follow_done(self, message: FollowDone) -> None:
        """Say whether the replies went out while the screen looked."""
        progress = self.query_one("#progress", Static)
        progress.remove_class("busy")
        if message.settled:
            progress.update(f"Replies on their way were handled (after {plural(message.checks, 'check')}).")
        else:
            progress.update(
                f"Still queued after {plural(message.checks, 'check')}: "
                "the server's delivery worker sends it shortly; f5 refreshes."
            )

    def on_api_failed(self, message: ApiFailed) -> None:
        """Show the server's reason; the app keeps running."""
        text = show_error(self.query_one("#status", Static), message.doing, message.error)
        self.notify(text, severity="error", markup=False)

    def _summary(self, lead: Lead) -> str:
        about = self.item["title"] if self.item is not None else (lead.get("subject") or "no item linked")
        parts = [
            f"{lead.get('buyer_name') or 'A buyer'} on {lead['platform']} about {about}",
            f"state {lead['state']}",
            f"score {lead['score']}",
        ]
        if lead.get("intent"):
            confidence = lead.get("intent_confidence")
            parts.append(f"intent {lead['intent']}" + (f" ({confidence:.2f})" if confidence is not None else ""))
        if lead.get("flags"):
            parts.append("⚠ flagged")
        if lead.get("awaiting_approval"):
            parts.append(f"✎ {lead['awaiting_approval']} reply waiting for approval")
        return " · ".join(parts)

    async def _show_messages(self, lead: Lead) -> None:
        box = self.query_one("#conversation", VerticalScroll)
        widgets: list[Static] = []
        for m in lead.get("messages") or []:
            classes = ["msg", "msg-in" if m["direction"] == "in" else "msg-out"]
            if m["direction"] == "out" and m["status"] in DRAFT_STATES:
                classes.append("msg-draft")
            elif m["status"] == "discarded":
                classes.append("msg-discarded")
            widgets.append(Static(Text(describe_message(m, lead, self.item)), classes=" ".join(classes)))
        if not widgets:
            widgets.append(Static("No messages yet.", classes="msg", markup=False))
        await box.remove_children()
        await box.mount_all(widgets)
        box.scroll_end(animate=False)

    def _show_draft(self, lead: Lead, *, sent: bool = False) -> None:
        draft = pending_draft(lead)
        editor = self.query_one("#draft", TextArea)
        label = self.query_one("#draft-label", Label)
        note = self.query_one("#draft-note", Static)
        shown = (draft["id"], draft["body"]) if draft is not None else None
        # A reload keeps what the person typed unless the draft itself changed on the server: a new
        # draft replaces it, and a draft that left (approved, discarded) takes its text with it.
        if shown != self._draft_shown or sent:
            if draft is not None:
                editor.load_text(draft["body"])
            elif self._draft_shown is not None or sent:
                editor.load_text("")
            self._draft_shown = shown
        self.draft = draft
        discard = self.query_one("#discard", Button)
        approve = self.query_one("#approve-send", Button)
        if draft is not None:
            waiting = "waiting for your approval" if draft["status"] == "awaiting_approval" else "not sent yet"
            by = f", written by {draft['generated_by']}" if draft.get("generated_by") else ""
            label.update(f"Draft reply ({waiting}{by}) — edit it, then ctrl+s approves and sends it; x discards it")
            note.update(self._why_waiting(lead, draft))
            approve.label = "Approve & send (ctrl+s)"
            discard.disabled = False
        else:
            label.update("Reply — no draft waits: write one and press ctrl+s to send it now")
            queued = _discardable(lead)
            note.update("A reply is on its way; x withdraws it." if queued is not None else "")
            approve.label = "Send (ctrl+s)"
            discard.disabled = queued is None

    def _why_waiting(self, lead: Lead, draft: LeadMessage) -> str:
        events: list[LeadEvent] = lead.get("timeline") or []
        for event in reversed(events):
            if event["data"].get("message") == draft["id"] and event["kind"] in {"reply_waiting", "draft"}:
                return str(event["detail"])
        return ""

    def _hint(self) -> None:
        show_info(
            self.query_one("#status", Static),
            "e edits the draft, ctrl+s sends, x discards, r writes a reply, o answers an offer, m marks the lead",
        )

    def _warn(self, text: str) -> None:
        status = self.query_one("#status", Static)
        status.update(text)
        status.add_class("error")
        self.notify(text, severity="warning", markup=False)

    # actions

    def action_back(self) -> None:
        """Leave the draft box (when in it), else go back."""
        editor = self.query_one("#draft", TextArea)
        if editor.has_focus:
            self.query_one("#conversation", VerticalScroll).focus()
            return
        self.dismiss(None)

    def action_reload(self) -> None:
        """Reload the lead."""
        self.load_lead()

    def action_edit(self) -> None:
        """Put the cursor in the draft."""
        editor = self.query_one("#draft", TextArea)
        editor.focus()
        editor.move_cursor(editor.document.end)

    def action_approve(self) -> None:
        """Approve the draft (with the text as edited), or send what is written when no draft waits."""
        if self.lead is None:
            self._warn("The lead has not loaded yet.")
            return
        text = self.query_one("#draft", TextArea).text.strip()
        if not text:
            self._warn("The reply is empty: write something, or x discards the draft.")
            return
        if self.draft is not None:
            edited = text if text != self.draft["body"].strip() else None
            self.approve_draft(self.draft["id"], edited)
        else:
            self.send_reply(text, from_editor=True)

    def action_discard(self) -> None:
        """Discard the draft (or withdraw the reply queued to go out)."""
        target = _discardable(self.lead) if self.lead is not None else None
        if target is None:
            self._warn("There is no reply waiting to discard.")
            return
        self.discard_draft(target["id"])

    def action_reply(self) -> None:
        """Write a reply of your own; it is sent at once."""
        if self.lead is None:
            self._warn("The lead has not loaded yet.")
            return
        who = self.lead.get("buyer_name") or "the buyer"

        def written(text: str | None) -> None:
            if text:
                self.send_reply(text)

        self.app.push_screen(ReplyScreen(f"Reply to {who} (sent at once, no approval)"), written)

    def action_offer(self) -> None:
        """Accept, counter or decline the buyer's offer (or make one)."""
        if self.lead is None:
            self._warn("The lead has not loaded yet.")
            return
        self.app.push_screen(OfferScreen(self.client, self.lead, self.item), self._offered)

    def _offered(self, lead: Lead | None) -> None:
        if lead is None:
            return
        self.post_message(LeadLoaded(lead, self.item, "Your answer to the offer is on its way.", follow=True))

    def action_mark(self) -> None:
        """Mark the lead lost, archived, spam or won (or reopen it)."""
        if self.lead is None:
            self._warn("The lead has not loaded yet.")
            return

        def chosen(state: str | None) -> None:
            if state:
                self.mark(state)

        self.app.push_screen(MarkLeadScreen(self.lead["state"]), chosen)

    @on(Button.Pressed, "#approve-send")
    def _approve_pressed(self) -> None:
        self.action_approve()

    @on(Button.Pressed, "#discard")
    def _discard_pressed(self) -> None:
        self.action_discard()


# -- dialogs ------------------------------------------------------------------------------------


class ReplyScreen(ModalScreen[str | None]):
    """Write a reply; dismisses with the text, or ``None`` when cancelled.

    Args:
        title: what is being written, e.g. ``Reply to Ann``.
        text: the text to start with.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "send", "Send")]
    DEFAULT_CSS = """
    ReplyScreen { align: center middle; }
    ReplyScreen #reply-text { height: 8; }
    ReplyScreen #reply-title { text-style: bold; padding: 0 0 1 0; }
    """

    def __init__(self, title: str, text: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.initial_text = text

    def compose(self) -> ComposeResult:
        """Lay out the dialog."""
        with Vertical(classes="dialog"):
            yield Static(self.title_text, id="reply-title", markup=False)
            yield TextArea(self.initial_text, id="reply-text")
            yield Static("", id="reply-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Send (ctrl+s)", id="reply-ok", variant="primary")
                yield Button("Cancel", id="reply-cancel")

    def on_mount(self) -> None:
        """Put the cursor in the text."""
        self.query_one("#reply-text", TextArea).focus()

    def action_cancel(self) -> None:
        """Close without sending."""
        self.dismiss(None)

    def action_send(self) -> None:
        """Send the text (not an empty one)."""
        text = self.query_one("#reply-text", TextArea).text.strip()
        if not text:
            error = self.query_one("#reply-error", Static)
            error.update("Write something first.")
            error.add_class("error")
            return
        self.dismiss(text)

    @on(Button.Pressed, "#reply-ok")
    def _ok(self) -> None:
        self.action_send()

    @on(Button.Pressed, "#reply-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class MarkLeadScreen(ModalScreen[str | None]):
    """Choose the lead's new state; dismisses with it, or ``None`` when cancelled.

    Args:
        current: the lead's state now (its button is disabled).
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        *[Binding(key, f"choose('{state}')", label) for state, label, key in MARK_STATES],
    ]
    DEFAULT_CSS = """
    MarkLeadScreen { align: center middle; }
    MarkLeadScreen #mark-title { text-style: bold; padding: 0 0 1 0; }
    """

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        """Lay out the dialog."""
        with Vertical(classes="dialog"):
            yield Static(f"Mark the lead (it is {self.current} now)", id="mark-title", markup=False)
            with Horizontal(classes="dialog-buttons"):
                for state, label, key in MARK_STATES:
                    yield Button(f"{label} ({key})", id=f"mark-{state}", disabled=state == self.current)
                yield Button("Cancel", id="mark-cancel")

    def action_choose(self, state: str) -> None:
        """Pick a state.

        Args:
            state: the new state.
        """
        if state != self.current:
            self.dismiss(state)

    def action_cancel(self) -> None:
        """Close without changing anything."""
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """A state's button picks it; Cancel closes."""
        event.stop()
        button = event.button.id or ""
        if button == "mark-cancel":
            self.dismiss(None)
        elif button.startswith("mark-"):
            self.dismiss(button.removeprefix("mark-"))


class OfferScreen(FormScreen[Lead | None]):
    """Accept, counter or decline the buyer's offer, or make one; dismisses with the lead as changed.

    The server refuses a price below the item's floor (``422``): its reason is shown and the
    dialog stays open.

    Args:
        client: the API client.
        lead: the lead.
        item: the item it is about, when linked.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "submit", "Send")]
    DEFAULT_CSS = """
    OfferScreen { align: center middle; }
    OfferScreen #offer-title { text-style: bold; padding: 0 0 1 0; }
    OfferScreen #offer-error { height: auto; padding: 1 0 0 0; }
    """
    ERROR_ID: ClassVar[str] = "offer-error"
    OK_ID: ClassVar[str] = "offer-ok"
    CANCEL_ID: ClassVar[str] = "offer-cancel"

    def __init__(self, client: CashoutClient, lead: Lead, item: Item | None) -> None:
        super().__init__()
        self.client = client
        self.lead = lead
        self.item = item
        self.currency = _currency(lead, item)

    def compose(self) -> ComposeResult:
        """Lay out the dialog."""
        offer = last_offer(self.lead)
        who = self.lead.get("buyer_name") or "The buyer"
        title = f"{who} offered {format_money(offer, self.currency)}" if offer is not None else f"{who}: no offer yet"
        if self.item is not None:
            title += (
                f" for {self.item['title']} (listed at {format_money(self.item['list_price_minor'], self.currency)}"
            )
            if self.item["floor_price_minor"]:
                title += f", floor {format_money(self.item['floor_price_minor'], self.currency)}"
            title += ")"
        with Vertical(classes="dialog"):
            yield Static(title, id="offer-title", markup=False)
            with Vertical(classes="dialog-fields"):
                yield Label("Answer", classes="field-label")
                yield Select(OFFER_ACTIONS, value="counter", allow_blank=False, id="offer-action")
                yield Label(f"Amount ({self.currency})", classes="field-label")
                yield Input(placeholder="e.g. 250 (accept: empty takes the buyer's offer)", id="offer-amount")
                yield Label("Message", classes="field-label")
                yield Input(placeholder="optional: a short standard text is sent otherwise", id="offer-message")
            yield Static("", id="offer-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Send (ctrl+s)", id="offer-ok", variant="primary")
                yield Button("Cancel", id="offer-cancel")

    def on_mount(self) -> None:
        """Put the cursor in the amount."""
        self.query_one("#offer-amount", Input).focus()

    @property
    def action(self) -> OfferAction:
        """The answer chosen."""
        value = self.query_one("#offer-action", Select).value
        return cast(OfferAction, value if isinstance(value, str) else "counter")

    def action_submit(self) -> None:
        """Check the amount and send the answer."""
        action = self.action
        typed = self.query_one("#offer-amount", Input).value.strip()
        amount: int | None = None
        if action != "decline" and (typed or action in ("counter", "offer")):
            try:
                amount = parse_price(typed, self.currency, field="Amount")
            except PriceError as exc:
                self._fail("offer-amount", f"{exc}.")
                return
            if amount <= 0:
                self._fail("offer-amount", "Amount must be more than zero.")
                return
        message = self.query_one("#offer-message", Input).value.strip() or None
        self._fail(None, "")
        show_info(self.query_one("#offer-error", Static), "Sending…")
        self.query_one("#offer-ok", Button).disabled = True
        self.send(action, amount, message)

    @work(exclusive=True, group="offer")
    async def send(self, action: OfferAction, amount: int | None, message: str | None) -> None:
        """Send the answer (in a worker); close with the lead, or show the server's reason.

        Args:
            action: accept, counter, decline or offer.
            amount: the price in minor units.
            message: the text to send, or ``None`` for the standard one.
        """
        try:
            lead = await self.client.answer_offer(self.lead["id"], action, amount_minor=amount, message=message)
        except ApiError as exc:
            self.post_message(ApiFailed(f"Could not {action}", exc))
            return
        self.post_message(OfferAnswered(lead))

    def on_offer_answered(self, message: OfferAnswered) -> None:
        """Close with the lead as changed."""
        self.dismiss(message.lead)

    def on_api_failed(self, message: ApiFailed) -> None:
        """Show the server's reason in the dialog and as a notification; the dialog stays open."""
        super().on_api_failed(message)
        self.notify(f"{message.doing}: {message.error.message}", severity="error", markup=False)
