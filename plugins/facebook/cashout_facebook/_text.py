"""Turning an item into Meta's vocabulary: titles, prices, conditions and availability."""

from __future__ import annotations

import re

from cashout_server import Money

_SPACES = re.compile(r"\s+")
# Control characters other than tab and newline break CSV readers and Meta's text fields alike.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# ISO 4217 currencies whose minor unit is not a hundredth.
_ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
_THREE_DECIMAL = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})

CATALOG_CONDITIONS = {
    "new": "new",
    "like_new": "used_like_new",
    "used_good": "used_good",
    "used_fair": "used_fair",
    # Meta has no "for parts" grade; plain "used" claims nothing the description does not say.
    "for_parts": "used",
}
"""cashout's item conditions to ProductItem ``condition`` values (the SDK's enum)."""

MARKETPLACE_CONDITIONS = {
    "new": "New",
    "like_new": "Used - Like New",
    "used_good": "Used - Good",
    "used_fair": "Used - Fair",
    "for_parts": "Used - Fair",
}
"""cashout's item conditions to the labels of Marketplace's condition menu (unverified wording)."""


def clean_text(text: str) -> str:
    """Normalise line endings and drop control characters.

    Args:
        text: free text from the seller.

    Returns:
        The text with Unix line endings and no control characters but tab and newline.
    """
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def cut_title(title: str, limit: int) -> str:
    """Fit a title on one line within ``limit`` characters, cutting at a word boundary.

    Args:
        title: the item's title.
        limit: the maximum length.

    Returns:
        The title with runs of whitespace collapsed, shortened at the last space that fits (or
        hard-cut when no space falls in the second half of the limit).
    """
    line = _SPACES.sub(" ", clean_text(title)).strip()
    if len(line) <= limit:
        return line
    head = line[: limit + 1]
    space = head.rfind(" ")
    cut = head[:space].rstrip(" ,;:-") if space > 0 else ""
    # A boundary near the start would throw most of the title away; a hard cut keeps more.
    return cut if len(cut) >= limit // 2 else line[:limit].rstrip()


def cut_text(text: str, limit: int) -> str:
    """Shorten a description to ``limit`` characters, ending with an ellipsis when cut.

    Args:
        text: the description.
        limit: the maximum length.

    Returns:
        The cleaned text, unchanged when it fits.
    """
    body = clean_text(text).strip()
    if len(body) <= limit:
        return body
    return body[: limit - 1].rstrip() + "…"


def _unit(currency: str) -> int:
    currency = currency.upper()
    return 1 if currency in _ZERO_DECIMAL else 1000 if currency in _THREE_DECIMAL else 100


def feed_price(price: Money) -> str:
    """Render a price the way Meta's catalog takes it: ``"9.99 USD"``.

    Args:
        price: the price in minor units.

    Returns:
        The amount with the currency's decimals and its ISO code.
    """
    unit = _unit(price.currency)
    sign = "-" if price.amount_minor < 0 else ""
    whole, fraction = divmod(abs(price.amount_minor), unit)
    decimals = len(str(unit)) - 1
    amount = f"{whole}.{fraction:0{decimals}d}" if decimals else str(whole)
    return f"{sign}{amount} {price.currency.upper()}"


def whole_units(price: Money) -> str:
    """Render a price in whole currency units, as Marketplace's price box takes it.

    Args:
        price: the price in minor units.

    Returns:
        The amount rounded half up to a whole unit, e.g. ``"450"`` for 45000 cents.
    """
    unit = _unit(price.currency)
    sign = -1 if price.amount_minor < 0 else 1
    return str(sign * ((abs(price.amount_minor) + unit // 2) // unit))


def availability(quantity: int) -> str:
    """Meta's ``availability`` value for an item with ``quantity`` left.

    Args:
        quantity: units the seller has.

    Returns:
        ``"in stock"`` or ``"out of stock"``.
    """
    return "in stock" if quantity > 0 else "out of stock"
