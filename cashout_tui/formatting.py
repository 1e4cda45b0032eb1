"""Pure helpers that turn API data into text and typed input into API values."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from cashout_tui.client import Listing

__all__ = [
    "PriceError",
    "action_copy_text",
    "describe_listing",
    "format_bytes",
    "format_money",
    "minor_digits",
    "parse_price",
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


_COPY_ORDER = ("title", "price", "body", "description")


def describe_listing(listing: Listing) -> str:
    """What happened to a listing, as the text a person reads after publishing it.

    Published listings give their URL; ``needs_action`` gives the instructions, where to go and
    the ready-to-paste copy; rejected, failed and unknown outcomes give the error.

    Args:
        listing: the listing as the API returned it.

    Returns:
        Plain text (no markup), several lines for ``needs_action``.
    """
    platform = listing["platform"]
    status = listing["status"]
    error = listing.get("last_error") or ""
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
