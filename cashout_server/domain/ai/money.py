"""Printing prices in replies, and finding the prices a text mentions."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from cashout_server.text import minor_unit

__all__ = ["bare_numbers", "format_amount", "mentioned_amounts"]

_SYMBOLS = {"USD": "$", "CAD": "$", "AUD": "$", "NZD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_CODES = r"USD|EUR|GBP|CAD|AUD|NZD|JPY|CHF|SEK|NOK|DKK|PLN|MXN"
_WORDS = r"dollars?|bucks|euros?|pounds?|quid|yen"
_MONEY = re.compile(
    rf"(?:[$€£¥]|\b(?:{_CODES}))\s?(?P<a>{_NUMBER})"
    rf"|(?P<b>{_NUMBER})\s?(?:[$€£¥]|(?:{_CODES}|{_WORDS})\b)",
    re.IGNORECASE,
)
_BARE = re.compile(rf"(?<![\w.,])(?:{_NUMBER})(?![\w]|[.,]\d)")


def format_amount(amount_minor: int, currency: str) -> str:
    """Print a price the way a seller writes it in a message.

    Args:
        amount_minor: the price in minor units.
        currency: ISO 4217 code.

    Returns:
        ``"$450"`` for whole amounts, ``"$449.99"`` otherwise; ``"450 CHF"`` for currencies without
        a common symbol.
    """
    unit = minor_unit(currency)
    value = Decimal(amount_minor) / unit
    places = {100: 2, 1000: 3}.get(unit, 0)
    number = f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.{places}f}"
    symbol = _SYMBOLS.get(currency.upper())
    return f"{symbol}{number}" if symbol else f"{number} {currency.upper()}"


def _to_minor(number: str, currency: str) -> int | None:
    try:
        return int(Decimal(number.replace(",", "")) * minor_unit(currency))
    except (InvalidOperation, ValueError):
        return None


def mentioned_amounts(text: str, currency: str) -> list[int]:
    """Money amounts written with a currency sign, code or word, in minor units of ``currency``.

    Args:
        text: any text.
        currency: the currency the amounts are read in (a reply is about one item's price).

    Returns:
        Each amount found, in order.
    """
    found = []
    for match in _MONEY.finditer(text):
        minor = _to_minor(match.group("a") or match.group("b"), currency)
        if minor is not None:
            found.append(minor)
    return found


def bare_numbers(text: str, currency: str) -> list[int]:
    """Every plain number in ``text``, read as an amount of ``currency`` in minor units.

    A bare ``80`` may still be the floor price; the checks compare these with forbidden amounts.
    """
    found = []
    for match in _BARE.finditer(text):
        minor = _to_minor(match.group(0), currency)
        if minor is not None:
            found.append(minor)
    return found
