"""What the writer is asked for and what it hands back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DECISION_KINDS",
    "INTENTS",
    "NO_REPLY_INTENTS",
    "Draft",
    "GeneratedBy",
    "ListingCopy",
    "ListingCopyRequest",
    "ReplyDraftRequest",
]

INTENTS = frozenset(
    {
        "availability",
        "price_question",
        "offer",
        "pickup",
        "shipping",
        "question",
        "spam",
        "scam",
        "other",
        "follow_up",
    }
)
"""Intents a reply can answer; anything else is treated as ``other``."""

NO_REPLY_INTENTS = frozenset({"spam", "scam"})
"""Intents that get no reply at all: answering confirms a live account and invites more."""

DECISION_KINDS = frozenset({"accept", "counter", "decline", "hold"})
"""What the seller (or the negotiation rules) decided about an offer."""

GeneratedBy = Literal["model", "template"]


@dataclass(frozen=True)
class ReplyDraftRequest:
    """Everything needed to draft one reply to a buyer.

    Only ``facts`` count as things the seller has said: a reply never promises anything else.
    Recognised fact keys: ``condition``, ``pickup_area``, ``available_times`` (or ``pickup_times``),
    ``shipping``, ``delivery``, ``hold``, ``returns``, ``warranty`` (``"yes"``/``"no"`` or words);
    other keys are passed on as the seller's statements.

    ``secrets`` and ``forbidden_amounts_minor`` are never sent to the model; they are used only to
    check its output. The highest forbidden amount is taken as the floor: no price at or below it
    may appear unless it is the decision price or the list price. Do not list an allowed price
    among the ``secrets``.
    """

    intent: str
    item_title: str
    list_price_minor: int
    currency: str = "USD"
    facts: Mapping[str, str] = field(default_factory=dict)
    decision_kind: str | None = None
    decision_price_minor: int | None = None
    """The only price besides the list price a reply may mention (the accepted or countered price)."""
    buyer_name: str | None = None
    conversation: Sequence[tuple[str, str]] = ()
    """The last messages, oldest first, as ``(role, text)`` with role ``buyer`` or ``seller``."""
    secrets: Sequence[str] = ()
    forbidden_amounts_minor: Sequence[int] = ()
    max_length: int = 1000
    tone: str | None = None
    """How to sound; ``None`` uses ``settings.ai.tone``."""
    allowed_urls: Sequence[str] = ()
    """Links a reply may contain (e.g. the listing's own URL); any other link is refused."""


@dataclass(frozen=True)
class Draft:
    """A reply draft for a person to approve, edit or discard.

    ``text`` is ``None`` for intents that get no reply (spam and scam): the lead should be closed
    or flagged, not answered.
    """

    text: str | None
    generated_by: GeneratedBy
    attempts: int
    """Model calls made (0 when the template was used without asking a model)."""
    check_failures: tuple[str, ...] = ()
    """Why model answers were discarded, one entry per failed check (no secret values in them)."""
    fallback_reason: str | None = None
    """Why the template was used (``None`` when the model's text is used)."""


@dataclass(frozen=True)
class ListingCopyRequest:
    """Everything needed to write one platform's title and description for an item."""

    item_title: str
    title_max: int
    description_max: int
    description: str = ""
    condition: str | None = None
    brand: str | None = None
    category: str | None = None
    photo_captions: Sequence[str] = ()
    tone: str | None = None
    platform: str | None = None
    facts: Mapping[str, str] = field(default_factory=dict)
    """Seller statements the copy may repeat (``shipping``, ``pickup_area``, ...)."""
    list_price_minor: int | None = None
    """The one price the copy may mention (platforms take the price separately; usually omitted)."""
    currency: str = "USD"
    secrets: Sequence[str] = ()
    forbidden_amounts_minor: Sequence[int] = ()


@dataclass(frozen=True)
class ListingCopy:
    """A title and description within one platform's limits."""

    title: str
    description: str
    generated_by: GeneratedBy
    attempts: int
    check_failures: tuple[str, ...] = ()
    fallback_reason: str | None = None
