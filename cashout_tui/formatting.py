"""Pure helpers that turn API data into text and typed input into API values."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from cashout_tui.client import DeliveryBrief, Listing

__all__ = [
    "PriceError",
    "action_copy_text",
    "delivery_in_motion",
    "describe_delivery",
    "describe_listing",
    "format_bytes",
    "format_money",
    "listing_in_motion",
    "minor_digits",
    "next_attempt_text",
    "parse_price",
    "parse_time",
    "relative_time",
]

_ZERO_DECIMAL = {
    "BIF",
    "CLP",
    "DJF",
    "GNF",
    "ISK",
    "JPY",
    "KMF",
    "KRW",
    "PYG",
    "RWF",
    "UGX",
    "VND",
    "VUV",
    "XAF",
    "XOF",
}
_THREE_DECIMAL = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
MAX_MINOR = 10**12
"""The largest amount the API accepts, in minor units."""


class PriceError(ValueError):
    """Typed text is not a usable price; the message says why."""


def minor_digits(currency: str) -> int:
    """How many decimal places the currency's minor unit has (2 for most).

    Args:
        currency: an ISO 4217 code.

    Returns:
        0, 2 or 3.
    """
    code = currency.upper()
    if code in _ZERO_DECIMAL:
        return 0
    if code in _THREE_DECIMAL:
        return 3
    return 2


def format_money(minor: int | None, currency: str) -> str:
    """An amount in minor units as text, e.g. ``1250, "USD"`` -> ``12.50 USD``.

    Args:
        minor: the amount in minor units (``None`` gives an empty string).
        currency: an ISO 4217 code.

    Returns:
        The amount with thousands separators and the currency code.
    """
    if minor is None:
        return ""
    digits = minor_digits(currency)
    value = Decimal(minor).scaleb(-digits)
    return f"{value:,.{digits}f} {currency}"


def parse_price(text: str, currency: str = "USD", *, field: str = "price") -> int:
    """Parse a typed price such as ``12.50`` into minor units (``1250``).

    Args:
        text: what the person typed; a thousands comma and a leading ``$`` are allowed.
        currency: the ISO 4217 code the price is in (decides the decimal places allowed).
        field: the field's name, for messages.

    Returns:
        The amount in minor units.

    Raises:
        PriceError: empty, not a number, negative, too many decimal places or too large.
    """
    cleaned = text.strip().removeprefix("$").replace(",", "").strip()
    if not cleaned:
        raise PriceError(f"{field} is required, e.g. 12.50")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise PriceError(f"{field} must be a number like 12.50, not {text.strip()!r}") from None
    if not value.is_finite():
        raise PriceError(f"{field} must be a number like 12.50, not {text.strip()!r}")
    if value < 0:
        raise PriceError(f"{field} cannot be negative")
    digits = minor_digits(currency)
    minor = value.scaleb(digits)
    if minor != minor.to_integral_value():
        places = "no decimal places" if digits == 0 else f"at most {digits} decimal places"
        raise PriceError(f"{field} can have {places} in {currency.upper()}")
    if minor > MAX_MINOR:
        raise PriceError(f"{field} is too large")
    return int(minor)


def format_bytes(size: int) -> str:
    """A byte count as text, e.g. ``2048`` -> ``2.0 KB``.

    Args:
        size: the number of bytes.

    Returns:
        The size in B, KB or MB.
    """
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def parse_time(text: str | None) -> datetime | None:
    """An API timestamp (ISO 8601) as an aware datetime; one without a zone is taken as UTC.

    Args:
        text: the timestamp, or ``None``.

    Returns:
        The time, or ``None`` when there is none or it cannot be read.
    """
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        hours, rest = divmod(int(seconds), 3600)
        minutes = rest // 60
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    return f"{int(seconds // 86400)}d"


def relative_time(text: str | None, now: datetime | None = None) -> str:
    """A timestamp relative to now, e.g. ``in 42s``, ``in 3m``, ``5m ago``, ``now``.

    Args:
        text: an API timestamp, or ``None`` (gives an empty string).
        now: the current time (default: the clock).

    Returns:
        The relative time.
    """
    when = parse_time(text)
    if when is None:
        return ""
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if abs(seconds) < 1:
        return "now"
    return f"in {_span(seconds)}" if seconds > 0 else f"{_span(seconds)} ago"


def next_attempt_text(delivery: DeliveryBrief | None, now: datetime | None = None) -> str:
    """When a queued delivery is tried next: ``in 42s``, or ``due now`` once that time has passed.

    Args:
        delivery: the delivery (only queued ones have a next attempt).
        now: the current time (default: the clock).

    Returns:
        The text, empty when no attempt is planned.
    """
    if delivery is None or delivery.get("state") != "queued":
        return ""
    when = parse_time(delivery.get("next_attempt_at"))
    if when is None:
        return "due now"
    if (when - (now or datetime.now(UTC))).total_seconds() < 1:
        return "due now"
    return relative_time(delivery.get("next_attempt_at"), now)


_STATE_WORDS = {
    "awaiting_approval": "waiting for approval",
    "queued": "queued",
    "in_flight": "being sent",
    "done": "done",
    "unknown": "outcome unknown",
    "dead": "dead",
    "cancelled": "cancelled",
}


def describe_delivery(delivery: DeliveryBrief | None, now: datetime | None = None) -> str:
    """A delivery on one line, e.g. ``publish queued · 2 attempts · next in 8s · last error: HTTP 503``.

    Args:
        delivery: the listing's latest delivery, or ``None``.
        now: the current time (default: the clock).

    Returns:
        The text, empty when there is no delivery.
    """
    if delivery is None:
        return ""
    state = delivery["state"]
    attempts = delivery["attempts"]
    parts = [
        f"{delivery['action']} {_STATE_WORDS.get(state, state)}",
        f"{attempts} attempt{'s' if attempts != 1 else ''}",
    ]
    upcoming = next_attempt_text(delivery, now)
    if upcoming:
        parts.append(f"next {upcoming}")
    if delivery.get("last_error"):
        parts.append(f"last error: {delivery['last_error']}")
    return " · ".join(parts)


_MOVING_DELIVERY = frozenset({"queued", "in_flight"})
_MOVING_LISTING = frozenset({"queued", "publishing"})


def delivery_in_motion(delivery: DeliveryBrief | None) -> bool:
    """Whether the server's worker will still act on the delivery without a person.

    Args:
        delivery: a listing's latest delivery, or ``None``.

    Returns:
        ``True`` while it is queued or being sent.
    """
    return delivery is not None and delivery["state"] in _MOVING_DELIVERY


def listing_in_motion(listing: Listing) -> bool:
    """Whether a listing is still on its way somewhere (so a screen should keep refreshing it).

    A publication is in motion until the listing settles (published, pending, needs_action,
    rejected, failed, unknown); a takedown or update until its delivery is done. A publication
    waiting for a person's approval is not: nothing happens until someone decides. A ``check``
    of a pending listing is not either: the platform decides on its own schedule.

    Args:
        listing: the listing as the API returned it.

    Returns:
        ``True`` while the delivery worker still has something to do for it.
    """
    delivery = listing.get("delivery")
    if delivery is not None and delivery["state"] == "awaiting_approval":
        return False
    if listing["status"] in _MOVING_LISTING:
        # Whatever the delivery says: the server moves the listing on when it records the outcome.
        return True
    return delivery_in_motion(delivery) and delivery is not None and delivery["action"] in {"delist", "update"}


_COPY_ORDER = ("title", "price", "body", "description")


def describe_listing(listing: Listing) -> str:
    """What happened to a listing, as the text a person reads after publishing it.

    Published listings give their URL; ``needs_action`` gives the instructions, where to go and
    the ready-to-paste copy; rejected, failed and unknown outcomes give the error. A delivery
    still on its way (or given up on, or waiting for approval) adds a ``Delivery:`` line with
    its state, attempts, next attempt and last error, and what a person can do about it.

    Args:
        listing: the listing as the API returned it.

    Returns:
        Plain text (no markup), several lines for ``needs_action``.
    """
    text = _describe_status(listing)
    delivery = listing.get("delivery")
    if delivery is not None and (delivery["state"] != "done" or listing["status"] in _MOVING_LISTING):
        text += f"\nDelivery: {describe_delivery(delivery)}"
        if delivery["state"] == "dead":
            text += "\nThe server gave up on it: retry it from the outbox (o on the items screen)."
        elif delivery["state"] == "awaiting_approval":
            text += "\nA person must approve it first (a on the items screen)."
    return text


def _describe_status(listing: Listing) -> str:
    platform = listing["platform"]
    status = listing["status"]
    error = listing.get("last_error") or ""
    if status == "queued":
        delivery = listing.get("delivery")
        if delivery is not None and delivery["state"] == "awaiting_approval":
            return f"Waiting for approval before it goes to {platform}."
        return f"Queued for {platform}: the server's delivery worker sends it shortly."
    if status == "sold":
        return f"Sold through {platform}."
    if status == "published":
        where = listing.get("url") or (f"id {listing['external_id']}" if listing.get("external_id") else "")
        return f"Published on {platform}: {where}".rstrip(": ")
    if status == "needs_action":
        return _describe_action(listing)
    if status == "pending":
        ref = f" (id {listing['external_id']})" if listing.get("external_id") else ""
        return f"Pending on {platform}{ref}: the platform has not decided yet; refresh later."
    if status == "rejected":
        return f"Rejected by {platform}: {error or 'no reason given'}"
    if status == "failed":
        return f"Failed on {platform}: {error or 'no reason given'}"
    if status == "unknown":
        return (
            f"Outcome unknown on {platform}: {error or 'no answer'}. "
            "It will not be sent again until its status on the platform is checked."
        )
    if status == "publishing":
        return f"Publishing on {platform}…"
    if status == "delisted":
        return f"Delisted from {platform}."
    return f"Draft on {platform}: not published yet."


def _describe_action(listing: Listing) -> str:
    action = listing.get("action") or {}
    lines = [f"Needs action on {listing['platform']}: {action.get('instructions') or 'a person must finish this step'}"]
    if action.get("url"):
        lines.append(f"Go to: {action['url']}")
    copy = action.get("copy") or {}
    if copy:
        lines.append("")
        lines.append("Ready-to-paste copy:")
        keys = [k for k in _COPY_ORDER if k in copy] + sorted(k for k in copy if k not in _COPY_ORDER)
        for key in keys:
            value = copy[key]
            if "\n" in value:
                lines.append(f"{key}:")
                lines.extend(f"  {line}" for line in value.splitlines())
            else:
                lines.append(f"{key}: {value}")
    photos = action.get("photo_ids") or []
    if photos:
        lines.append("")
        lines.append(f"Photos to upload: {', '.join(photos)}")
    if action.get("kind", "publish") == "publish":
        lines.append("")
        lines.append("When it is posted, paste its URL below and press Confirm.")
    return "\n".join(lines)


def action_copy_text(listing: Listing) -> str:
    """The ready-to-paste copy of a ``needs_action`` listing, fields separated by blank lines.

    Args:
        listing: the listing.

    Returns:
        The copy, or an empty string when there is none.
    """
    copy = (listing.get("action") or {}).get("copy") or {}
    keys = [k for k in _COPY_ORDER if k in copy] + sorted(k for k in copy if k not in _COPY_ORDER)
    return "\n\n".join(copy[k] for k in keys)
