"""Turning an item into the text craigslist accepts: titles, bodies and whole-unit prices."""

from __future__ import annotations

import re

from cashout_server import Money

TITLE_MAX = 70
"""Craigslist's posting title limit, in characters."""

# Characters XML 1.0 cannot carry at all, not even escaped: one would make the whole document unparseable.
_XML_ILLEGAL = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SPACES = re.compile(r"\s+")

# ISO 4217 currencies whose minor unit is not a hundredth.
_ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
_THREE_DECIMAL = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})


def clean_text(text: str) -> str:
    """Drop characters that XML cannot carry and normalise line endings.

    Args:
        text: free text from the seller.

    Returns:
        The text, safe to embed in an XML document.
    """
    return _XML_ILLEGAL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def cut_title(title: str, limit: int = TITLE_MAX) -> str:
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


def whole_units(price: Money) -> str:
    """Render a price in whole currency units, as craigslist's price fields expect.

    Args:
        price: the price in minor units.

    Returns:
        The amount rounded half up to a whole unit, e.g. ``"450"`` for 45000 cents.
    """
    currency = price.currency.upper()
    unit = 1 if currency in _ZERO_DECIMAL else 1000 if currency in _THREE_DECIMAL else 100
    sign = -1 if price.amount_minor < 0 else 1
    return str(sign * ((abs(price.amount_minor) + unit // 2) // unit))
