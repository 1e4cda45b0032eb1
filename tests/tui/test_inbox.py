"""The inbox, a lead's screen and reply approvals, against the real app: buyer messages arrive
through the scripted platform's webhook exactly as a platform would send them, the server scores
them and drafts replies, and the person approves, edits, counters and declines from the TUI.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from textual.widgets import DataTable, Input, Select, TextArea
from tui.pilot_support import SIZE, column, screen_text, settle, text_of

from cashout_server.domain.delivery.worker import DeliveryWorker
from cashout_server.plugins import PluginRegistry
from cashout_tui.app import CashoutApp
from cashout_tui.approvals import ApprovalsQueueScreen
from cashout_tui.client import CashoutClient, Connection, Item, Lead, LeadMessage
from cashout_tui.common import NoteScreen, Polling
from cashout_tui.inbox import InboxScreen, LeadScreen, MarkLeadScreen, OfferScreen, ReplyScreen, pending_draft

QUICK = Polling(interval=0.05, limit=3)
"""Follow replies briefly: the tests run the delivery worker themselves."""
TOKEN = "k"


@pytest.fixture
def registry(registry_with_scripted: PluginRegistry) -> PluginRegistry:
    return registry_with_scripted


class RecordingApp(CashoutApp):
    """The app, keeping the text of every notification it shows."""

    def __init__(self, client: CashoutClient) -> None:
        super().__init__(client, polling=QUICK)
        self.notes: list[str] = []

    def notify(self, message: Any, **kwargs: Any) -> None:
        self.notes.append(str(message))
        super().notify(message, **kwargs)


def make_app(client: CashoutClient) -> RecordingApp:
    return RecordingApp(client)


class Shop:
    """An item listed on the scripted platform, and a way to receive buyer messages about it."""

    def __init__(self, http: httpx.AsyncClient, item: Item, connection: Connection, external_id: str) -> None:
        self.http = http
        self.item = item
        self.connection = connection
        self.external_id = external_id
        self._n = 0

    async def buyer_says(self, thread: str, name: str, text: str, *, minute: int = 0) -> None:
        """Deliver one buyer message through the platform's webhook (as the platform would)."""
        self._n += 1
        row = {
            "id": f"m{self._n}-{thread}",
            "thread": thread,
            "text": text,
            "at": f"2026-03-01T10:{minute:02d}:00+00:00",
            "name": name,
            "handle": name.lower(),
            "listing": self.external_id,
        }
        answer = await self.http.post(
            f"/webhooks/scripted/{self.connection['id']}",
            content=json.dumps([row]),
            headers={"x-scripted-token": TOKEN, "content-type": "application/json"},
        )
        assert answer.status_code == 200, answer.text


@pytest.fixture
async def shop(tui_client: CashoutClient, http: httpx.AsyncClient, worker: DeliveryWorker) -> Shop:
    item = await tui_client.create_item(
        {"title": "Road bike", "list_price_minor": 30000, "floor_price_minor": 25000, "currency": "USD"}
    )
    connection = await tui_client.create_connection("scripted", "Bikes", credentials={"api_key": TOKEN})
    listing = await tui_client.create_listing(item["id"], connection["id"])
    await tui_client.publish_listing(listing["id"])
    await worker.run_once()
    published = await tui_client.get_listing(listing["id"])
    assert published["status"] == "published" and published["external_id"]
    return Shop(http, item, connection, published["external_id"])


async def leads_by_buyer(client: CashoutClient) -> dict[str, Lead]:
    return {lead["buyer_name"] or "": await client.get_lead(lead["id"]) for lead in await client.all_leads()}


def ours(lead: Lead) -> list[LeadMessage]:
    return [m for m in lead.get("messages") or [] if m["direction"] == "out"]


async def open_inbox(pilot: Any) -> InboxScreen:
    await settle(pilot)
    await pilot.press("i")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, InboxScreen)
    return screen


async def open_lead(pilot: Any, buyer: str) -> LeadScreen:
    inbox = await open_inbox(pilot)
    table = inbox.query_one("#leads", DataTable)
    table.move_cursor(row=column(table, "buyer").index(buyer))
    await pilot.press("enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, LeadScreen)
    return screen


async def test_inbox_lists_leads_by_score_with_filters(tui_client: CashoutClient, shop: Shop) -> None:
    await shop.buyer_says("t-ann", "Ann", "Hi, is this still available?")
    await shop.buyer_says("t-bob", "Bob", "Would you take $200 for it? I can pick it up today with cash.", minute=1)
    await shop.buyer_says(
        "t-eve", "Eve", "I will pay by cashier check, my shipper will collect, send me your email", minute=2
    )
    stored = await leads_by_buyer(tui_client)
    assert set(stored) == {"Ann", "Bob", "Eve"}

    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        inbox = await open_inbox(pilot)
        table = inbox.query_one("#leads", DataTable)
        # Open conversations, highest score first, as the server scored them.
        scores = [int(s) for s in column(table, "score")]
        assert scores == sorted(scores, reverse=True)
        assert sorted(column(table, "buyer")) == ["Ann", "Bob"]
        expected = sorted((stored[b] for b in ("Ann", "Bob")), key=lambda lead: -lead["score"])
        assert column(table, "buyer") == [lead["buyer_name"] for lead in expected]
        assert set(column(table, "item")) == {"Road bike"}
        assert set(column(table, "platform")) == {"scripted"}
        row = column(table, "buyer").index("Bob")
        assert column(table, "intent")[row] == "offer"
        assert column(table, "approval")[row] == "✎ 1 to approve"
        assert column(table, "last")[row].endswith("ago")
        assert "Open and negotiating: 2 leads" in screen_text(pilot, "#status")

        await pilot.press("f")  # awaiting approval
        await settle(pilot)
        assert inbox.query_one("#lead-filter", Select).value == "approval"
        assert column(table, "buyer") == ["Bob"]

        await pilot.press("f")  # all
        await settle(pilot)
        assert sorted(column(table, "buyer")) == ["Ann", "Bob", "Eve"]

        await pilot.press("f")  # spam: the scam is there, flagged, and nothing was drafted for it
        await settle(pilot)
        assert column(table, "buyer") == ["Eve"]
        assert column(table, "state") == ["spam"]
        assert column(table, "flags")[0].startswith("⚠ ")
        assert ours(stored["Eve"]) == []

        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, InboxScreen)


async def test_lead_shows_conversation_and_draft_and_sends_the_edited_text(
    tui_client: CashoutClient, shop: Shop, worker: DeliveryWorker, scripted: Any
) -> None:
    await shop.buyer_says("t-bob", "Bob", "Would you take $200 for it? I can pick it up today with cash.")
    bob = (await leads_by_buyer(tui_client))["Bob"]
    draft = pending_draft(bob)
    assert draft is not None and draft["status"] == "awaiting_approval"

    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_lead(pilot, "Bob")
        # The conversation: the buyer's message, read as an offer, and our draft, highlighted.
        bubbles = [text_of(w) for w in screen.query(".msg")]
        assert any("Would you take $200 for it?" in b and "read as offer" in b for b in bubbles)
        drafts = [text_of(w) for w in screen.query(".msg-draft")]
        assert len(drafts) == 1 and draft["body"] in drafts[0]
        assert "DRAFT — waiting for your approval" in drafts[0]
        # The side panel explains the score and where the negotiation stands; the timeline says why.
        assert screen_text(pilot, "#score").startswith(f"Score {bob['score']} of 100")
        negotiation = screen_text(pilot, "#negotiation")
        assert "Listed at 300.00 USD, floor 250.00 USD" in negotiation
        assert "Buyer offered: 200.00 USD" in negotiation
        timeline = screen_text(pilot, "#timeline")
        assert "classified: offer" in timeline and "reply waits for approval" in timeline
        # The draft is in the editor, ready to change.
        editor = screen.query_one("#draft", TextArea)
        assert editor.text == draft["body"]
        assert "waiting for your approval" in text_of(screen.query_one("#draft-label"))

        await pilot.press("e")
        assert editor.has_focus
        await pilot.press(*" Cash only, please.")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "Approved your edited reply" in screen_text(pilot, "#status")

        sent = ours(await tui_client.get_lead(bob["id"]))
        assert [(m["id"], m["status"]) for m in sent] == [(draft["id"], "queued")]
        assert sent[0]["body"] == draft["body"] + " Cash only, please."
        assert (await tui_client.list_approvals()).data == []

        # The delivery worker sends it; the screen shows it sent after a refresh.
        await worker.run_once()
        assert [name for name, _ in scripted.calls].count("send_reply") == 1
        await pilot.press("escape")  # out of the editor
        await pilot.press("f5")
        await settle(pilot)
        assert [m["status"] for m in ours(await tui_client.get_lead(bob["id"]))] == ["sent"]
        assert len(screen.query(".msg-draft")) == 0
        assert any("Cash only, please." in text_of(w) and " · sent" in text_of(w) for w in screen.query(".msg-out"))
        assert editor.text == ""


async def test_counter_below_the_floor_shows_the_server_reason_then_counter_and_decline(
    tui_client: CashoutClient, shop: Shop
) -> None:
    await shop.buyer_says("t-bob", "Bob", "Would you take $200 for it? I can pick it up today with cash.")
    bob = (await leads_by_buyer(tui_client))["Bob"]
    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_lead(pilot, "Bob")
        await pilot.press("o")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, OfferScreen)
        assert "Bob offered 200.00 USD for Road bike (listed at 300.00 USD, floor 250.00 USD)" in screen_text(
            pilot, "#offer-title"
        )
        assert dialog.query_one("#offer-amount", Input).has_focus
        await pilot.press(*"240")
        await pilot.press("enter")
        await settle(pilot)
        # Refused by the server: its reason is shown in the dialog and as a notification; it stays open.
        assert app.screen is dialog
        error = screen_text(pilot, "#offer-error")
        assert error.startswith("Could not counter: ")
        assert "below the item's floor price" in error
        assert any("below the item's floor price" in note for note in app.notes)
        assert ours(await tui_client.get_lead(bob["id"])) == ours(bob)

        # A counter at the floor goes out as a person's reply (no approval), replacing the draft.
        amount = dialog.query_one("#offer-amount", Input)
        amount.value = ""
        await pilot.press(*"255")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        stored = await tui_client.get_lead(bob["id"])
        assert stored["state"] == "negotiating"
        assert stored["negotiation"]["last_counter_minor"] == 25500
        mine = ours(stored)
        assert mine[-1]["status"] == "queued" and "$255" in mine[-1]["body"]
        assert pending_draft(stored) is None
        assert "Our last counter: 255.00 USD" in screen_text(pilot, "#negotiation")
        assert "decision counter: a person chose to counter at $255" in screen_text(pilot, "#timeline")

        # Declining: the standard text goes out.
        await pilot.press("o")
        await settle(pilot)
        decline = app.screen
        assert isinstance(decline, OfferScreen)
        decline.query_one("#offer-action", Select).value = "decline"
        await pilot.click("#offer-ok")
        await settle(pilot)
        assert app.screen is screen
        stored = await tui_client.get_lead(bob["id"])
        assert stored["negotiation"]["status"] == "declined"
        assert ours(stored)[-1]["body"] == "Thanks for the offer, but I can't go that low."


async def test_accept_the_offer_at_the_floor(tui_client: CashoutClient, shop: Shop) -> None:
    await shop.buyer_says("t-bob", "Bob", "Would you take $250 for it? I can pick it up today with cash.")
    bob = (await leads_by_buyer(tui_client))["Bob"]
    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_lead(pilot, "Bob")
        await pilot.press("o")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, OfferScreen)
        dialog.query_one("#offer-action", Select).value = "accept"
        await pilot.click("#offer-ok")  # no amount: the buyer's offer
        await settle(pilot)
        assert app.screen is screen
        stored = await tui_client.get_lead(bob["id"])
        assert stored["state"] == "agreed"
        assert stored["negotiation"]["agreed_minor"] == 25000
        assert "Agreed at: 250.00 USD" in screen_text(pilot, "#negotiation")
        assert "state agreed" in screen_text(pilot, "#lead-summary")


async def test_discard_write_a_reply_and_mark_lost(tui_client: CashoutClient, shop: Shop) -> None:
    await shop.buyer_says("t-bob", "Bob", "Would you take $200 for it? I can pick it up today with cash.")
    bob = (await leads_by_buyer(tui_client))["Bob"]
    draft = pending_draft(bob)
    assert draft is not None
    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_lead(pilot, "Bob")
        await pilot.press("x")
        await settle(pilot)
        assert "Discarded the reply" in screen_text(pilot, "#status")
        stored = await tui_client.get_lead(bob["id"])
        assert [(m["id"], m["status"]) for m in ours(stored)] == [(draft["id"], "discarded")]
        assert screen.query_one("#draft", TextArea).text == ""
        assert len(screen.query(".msg-discarded")) == 1

        # Discarding again: nothing waits, said plainly.
        await pilot.press("x")
        await settle(pilot)
        assert screen_text(pilot, "#status") == "There is no reply waiting to discard."

        # With no draft waiting, what is typed in the box is sent as the person's own reply.
        assert "no draft waits" in text_of(screen.query_one("#draft-label"))
        await pilot.press("e")
        await pilot.press(*"Still here if you want it.")
        await pilot.press("ctrl+s")
        await settle(pilot)
        mine = ours(await tui_client.get_lead(bob["id"]))
        assert [(m["author"], m["body"], m["status"]) for m in mine[1:]] == [
            ("seller", "Still here if you want it.", "queued")
        ]
        assert screen.query_one("#draft", TextArea).text == ""
        await pilot.press("escape")  # out of the box: letters are keys again

        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, ReplyScreen)
        await pilot.press(*"Sorry, 280 is my lowest.")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        mine = ours(await tui_client.get_lead(bob["id"]))
        assert (mine[-1]["author"], mine[-1]["body"], mine[-1]["status"]) == (
            "seller",
            "Sorry, 280 is my lowest.",
            "queued",
        )

        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, MarkLeadScreen)
        await pilot.press("l")
        await settle(pilot)
        assert app.screen is screen
        assert (await tui_client.get_lead(bob["id"]))["state"] == "lost"
        assert "state lost" in screen_text(pilot, "#lead-summary")
        assert "a person moved the lead from negotiating to lost" in screen_text(pilot, "#timeline")

        # Lost leads leave the open filter of the inbox.
        await pilot.press("escape")
        await settle(pilot)
        inbox = app.screen
        assert isinstance(inbox, InboxScreen)
        assert column(inbox.query_one("#leads", DataTable), "buyer") == []


async def test_approvals_queue_shows_the_reply_in_its_conversation_and_approves_it(
    tui_client: CashoutClient, shop: Shop
) -> None:
    await shop.buyer_says("t-bob", "Bob", "Would you take $200 for it? I can pick it up today with cash.")
    bob = (await leads_by_buyer(tui_client))["Bob"]
    draft = pending_draft(bob)
    assert draft is not None and draft["approval_id"]
    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        approvals = app.screen
        assert isinstance(approvals, ApprovalsQueueScreen)
        rows = approvals.query_one("#approvals", DataTable)
        assert column(rows, "action") == ["reply"]
        assert column(rows, "lead") == [f"Bob · Road bike · score {bob['score']} · {bob['state']}"]
        detail = screen_text(pilot, "#approval-detail")
        assert "Reply to Bob on scripted about Road bike" in detail
        assert "Buyer (" in detail and "Would you take $200 for it?" in detail
        assert f"Draft (written by {draft['generated_by']}): {draft['body']}" in detail

        # Enter opens the conversation; coming back shows the queue again.
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, LeadScreen) and app.screen.lead_id == bob["id"]
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is approvals

        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, NoteScreen)
        await pilot.press(*"fine")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is approvals
        assert column(rows, "status") == ["approved"]
        decided = (await tui_client.list_approvals(status="all")).data
        assert [(a["id"], a["status"], a["note"]) for a in decided] == [(draft["approval_id"], "approved", "fine")]
        assert [(m["id"], m["status"]) for m in ours(await tui_client.get_lead(bob["id"]))] == [(draft["id"], "queued")]
