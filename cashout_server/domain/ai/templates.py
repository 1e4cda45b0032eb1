"""Deterministic replies and listing copy, used with no model configured and whenever a model fails.

Templates say only what the request states: the decision price (or the list price), and the
seller's ``facts``. Spam and scam get no reply (``None``): answering confirms a live account and
invites more of it; the lead should be closed or flagged instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from cashout_server.domain.ai.checks import is_stated_yes
from cashout_server.domain.ai.money import format_amount
from cashout_server.domain.ai.schemas import NO_REPLY_INTENTS, ListingCopyRequest, ReplyDraftRequest
from cashout_server.text import clean_text, fit_text, fit_title

__all__ = ["fallback_reply", "greeting", "listing_template", "reply_template"]

_NAME = re.compile(r"[^\W\d_][\w'-]{0,29}")
_TITLE_IN_REPLY = 80


def greeting(buyer_name: str | None) -> str:
    """``"Hi Sam,"`` from the first word of the buyer's name (letters only), or ``"Hi,"``."""
    if buyer_name:
        match = _NAME.match(clean_text(buyer_name).strip())
        if match:
            return f"Hi {match.group(0)},"
    return "Hi,"


def _fact(facts: Mapping[str, str], *keys: str) -> str | None:
    for key in keys:
        value = facts.get(key)
        if value and value.strip():
            return " ".join(clean_text(value).split()).rstrip(".")
    return None


def _offer(request: ReplyDraftRequest, hi: str, title: str) -> str:
    kind = request.decision_kind
    price = request.decision_price_minor
    if kind == "accept" and price is not None:
        amount = format_amount(price, request.currency)
        return f"{hi} {amount} works for me for the {title}. Let me know how you'd like to proceed."
    if kind == "counter" and price is not None:
        return (
            f"{hi} thanks for the offer on the {title}. I could do {format_amount(price, request.currency)}. "
            "Let me know if that works for you."
        )
    if kind == "decline":
        tail = f" The price is {format_amount(price, request.currency)}." if price is not None else ""
        return f"{hi} thanks for the offer, but I can't accept that for the {title}.{tail}"
    return f"{hi} thanks for the offer on the {title}. Let me think it over and I'll get back to you soon."


def _pickup(request: ReplyDraftRequest, hi: str, title: str) -> str:
    area = _fact(request.facts, "pickup_area", "pickup_location")
    times = _fact(request.facts, "available_times", "pickup_times", "times")
    place = f"pickup is in {area}." if area else f"thanks for your interest in the {title}."
    if times:
        return f"{hi} {place} I'm available {times}. Let me know what suits you."
    return f"{hi} {place} When would you like to pick it up? Suggest a time and I'll confirm."


def _shipping(request: ReplyDraftRequest, hi: str, title: str) -> str:
    shipping = _fact(request.facts, "shipping", "ships")
    if shipping is None:
        return f"{hi} thanks for asking about the {title}. I'll check the options and get back to you."
    if not is_stated_yes(shipping):
        return f"{hi} sorry, I'm not able to ship the {title}. It's pickup only."
    detail = "" if shipping.lower() in ("yes", "y", "true", "ok") else f" Shipping: {shipping}."
    return f"{hi} yes, I can ship the {title}.{detail} Let me know if you'd like to go ahead."


def reply_template(request: ReplyDraftRequest) -> str | None:
    """The template reply for ``request``.

    Args:
        request: what to answer.

    Returns:
        The reply within ``request.max_length``, or ``None`` for spam and scam (no reply).
    """
    intent = request.intent if request.intent else "other"
    if intent in NO_REPLY_INTENTS:
        return None
    hi = greeting(request.buyer_name)
    title = fit_title(request.item_title, _TITLE_IN_REPLY) or "item"
    price = request.decision_price_minor
    if intent == "availability":
        text = f"{hi} yes, the {title} is still available. Let me know if you have any questions."
    elif intent == "price_question":
        if request.decision_kind in ("accept", "counter") and price is not None:
            text = f"{hi} for the {title} I could do {format_amount(price, request.currency)}."
        else:
            text = (
                f"{hi} the asking price for the {title} is {format_amount(request.list_price_minor, request.currency)}."
            )
    elif intent == "offer":
        text = _offer(request, hi, title)
    elif intent == "pickup":
        text = _pickup(request, hi, title)
    elif intent == "shipping":
        text = _shipping(request, hi, title)
    elif intent == "follow_up":
        text = f"{hi} just checking in: are you still interested in the {title}? Let me know either way."
    elif intent == "question":
        text = f"{hi} thanks for your question about the {title}. I'll get back to you with an answer shortly."
    else:
        text = f"{hi} thanks for your message about the {title}. I'll get back to you soon."
    return fit_text(text, request.max_length)


def fallback_reply(request: ReplyDraftRequest, *, with_name: bool = True) -> str:
    """The plainest reply, for when even the template cannot pass the checks (odd titles or facts)."""
    hi = greeting(request.buyer_name) if with_name else "Hi,"
    return fit_text(f"{hi} thanks for your message. I'll get back to you soon.", request.max_length)


def _condition_words(condition: str | None) -> str | None:
    if not condition or not condition.strip():
        return None
    words = clean_text(condition).replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def listing_template(request: ListingCopyRequest, *, with_description: bool = True) -> tuple[str, str]:
    """Title and description built from the item's own words, cut to the platform's limits.

    Args:
        request: the item and the platform's limits.
        with_description: ``False`` leaves the seller's free text out (when it fails the checks).

    Returns:
        ``(title, description)`` within ``title_max`` and ``description_max``.
    """
    title = request.item_title
    if request.brand and request.brand.lower() not in title.lower():
        title = f"{request.brand} {title}"
    parts = []
    if with_description and request.description.strip():
        parts.append(clean_text(request.description).strip())
    details = []
    condition = _condition_words(request.condition)
    if condition:
        details.append(f"Condition: {condition}.")
    if request.brand:
        details.append(f"Brand: {clean_text(request.brand).strip()}.")
    if request.category:
        details.append(f"Category: {clean_text(request.category).strip()}.")
    if details:
        parts.append("\n".join(details))
    captions = [" ".join(clean_text(c).split()) for c in request.photo_captions if c.strip()]
    if with_description and captions:
        parts.append("Photos: " + "; ".join(captions) + ".")
    description = "\n\n".join(parts) or fit_title(request.item_title, request.description_max)
    return fit_title(title, request.title_max), fit_text(description, request.description_max)
