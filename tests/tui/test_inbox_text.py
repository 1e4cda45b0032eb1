"""How the inbox screens put a lead into words (pure functions over the API's shapes)."""

from __future__ import annotations

from typing import Any

from cashout_tui.client import Item, Lead, LeadMessage
from cashout_tui.inbox import describe_negotiation, describe_score, last_offer, pending_draft


def message(mid: str, direction: str, status: str, offer: int | None = None) -> LeadMessage:
    return {
        "id": mid,
        "direction": direction,
        "author": "buyer" if direction == "in" else "auto",
        "body": f"text {mid}",
        "sent_at": "2026-03-01T10:00:00+00:00",
        "status": status,
        "intent": "offer" if offer else None,
        "confidence": 0.9 if offer else None,
        "reason": None,
        "offer_minor": offer,
        "generated_by": None,
        "approval_id": None,
    }


def lead(messages: list[LeadMessage], negotiation: dict[str, Any] | None = None, **extra: Any) -> Lead:
    base: dict[str, Any] = {
        "id": "led_1",
        "platform": "scripted",
        "connection_id": None,
        "item_id": None,
        "listing_id": None,
        "buyer_name": "Bob",
        "subject": None,
        "state": "open",
        "intent": None,
        "intent_confidence": None,
        "score": 58,
        "score_explanation": {},
        "flags": {},
        "negotiation": negotiation or {},
        "last_message_at": None,
        "last_inbound_at": None,
        "last_outbound_at": None,
        "awaiting_approval": 0,
        "created_at": "2026-03-01T10:00:00+00:00",
        "messages": messages,
        "timeline": [],
    }
    base.update(extra)
    return base  # type: ignore[return-value]


ITEM: Item = {
    "id": "itm_1",
    "sku": None,
    "title": "Road bike",
    "description": "",
    "condition": "used_good",
    "category": None,
    "brand": None,
    "identifiers": {},
    "quantity": 1,
    "currency": "USD",
    "cost_basis_minor": None,
    "list_price_minor": 30000,
    "floor_price_minor": 25000,
    "status": "active",
    "photo_count": 0,
    "created_at": "2026-03-01T10:00:00+00:00",
    "updated_at": "2026-03-01T10:00:00+00:00",
}


def test_pending_draft_is_the_newest_reply_waiting_for_a_person() -> None:
    msgs = [
        message("a", "in", "received"),
        message("b", "out", "discarded"),
        message("c", "out", "awaiting_approval"),
        message("d", "out", "sent"),
        message("e", "out", "draft"),
    ]
    found = pending_draft(lead(msgs))
    assert found is not None and found["id"] == "e"
    assert pending_draft(lead([message("a", "in", "received"), message("b", "out", "queued")])) is None


def test_last_offer_prefers_the_negotiation_then_the_messages() -> None:
    msgs = [message("a", "in", "received", offer=18000), message("b", "in", "received", offer=20000)]
    assert last_offer(lead(msgs)) == 20000
    assert last_offer(lead(msgs, {"offers": [{"amount_minor": 21000, "at": "x"}]})) == 21000
    assert last_offer(lead([message("a", "in", "received")])) is None


def test_score_explanation_lists_each_part_with_its_points() -> None:
    explained = {
        "score": 58,
        "parts": [
            {"name": "base", "points": 31, "reason": "starting point"},
            {"name": "offer_vs_floor", "points": -20.0, "reason": "offer is below floor"},
            {"name": "quality", "points": 2.5, "reason": ""},
        ],
    }
    assert describe_score(lead([], score_explanation=explained)) == (
        "Score 58 of 100\n  +31 base: starting point\n  -20 offer_vs_floor: offer is below floor\n  +2.5 quality"
    )


def test_negotiation_in_the_item_currency() -> None:
    state = {
        "status": "countered",
        "offers": [{"amount_minor": 20000, "at": "x"}, {"amount_minor": 22000, "at": "y"}],
        "last_counter_minor": 28300,
        "agreed_minor": None,
        "rounds": 2,
    }
    assert describe_negotiation(lead([], state), ITEM) == (
        "Listed at 300.00 USD, floor 250.00 USD\n"
        "Status: countered\n"
        "Buyer offered: 200.00 USD, 220.00 USD\n"
        "Our last counter: 283.00 USD\n"
        "Rounds: 2"
    )
    assert describe_negotiation(lead([])) == "No offers yet."
