"""Turning an item into text OfferUp's posting form takes: titles, descriptions, whole-dollar prices."""

from __future__ import annotations

from cashout_server import Money


def whole_dollars(price: Money) -> str:
    """Render a US dollar price in whole dollars, as OfferUp shows prices.

    Args:
        price: the price in cents.

    Returns:
        Whole dollars rounded half up, e.g. ``"450"`` for 44999 cents.
    """
    return str((price.amount_minor + 50) // 100)
