"""Turning an item into Meta's vocabulary: titles, prices, conditions and availability."""

from __future__ import annotations

from cashout_server import Money, minor_unit

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


def feed_price(price: Money) -> str:
    """Render a price the way Meta's catalog takes it: ``"9.99 USD"``.

    Args:
        price: the price in minor units.

    Returns:
        The amount with the currency's decimals and its ISO code.
    """
    unit = minor_unit(price.currency)
    sign = "-" if price.amount_minor < 0 else ""
    whole, fraction = divmod(abs(price.amount_minor), unit)
    decimals = len(str(unit)) - 1
    amount = f"{whole}.{fraction:0{decimals}d}" if decimals else str(whole)
    return f"{sign}{amount} {price.currency.upper()}"


def availability(quantity: int) -> str:
    """Meta's ``availability`` value for an item with ``quantity`` left.

    Args:
        quantity: units the seller has.

    Returns:
        ``"in stock"`` or ``"out of stock"``.
    """
    return "in stock" if quantity > 0 else "out of stock"
