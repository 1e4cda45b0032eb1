"""Fitting an item's words and prices into what a platform's form or feed accepts.

Part of the public plugin surface (re-exported by :mod:`cashout_server`): every plugin cuts
titles, shortens descriptions and prints prices, and they should all do it the same way.
"""

from __future__ import annotations

import re

from cashout_server.contract import Money

__all__ = ["clean_text", "fit_text", "fit_title", "minor_unit", "whole_units"]

# Control characters but tab and newline, and what XML 1.0 cannot carry even escaped (one such
# character makes a whole feed or bulk document unparseable).
_UNWANTED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SPACES = re.compile(r"\s+")

# ISO 4217 currencies whose minor unit is not a hundredth.
_ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
_THREE_DECIMAL = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})


def clean_text(text: str) -> str:
    """Normalise line endings and drop control characters and anything XML cannot carry.

    Args:
        text: free text from the seller.

    Returns:
        The text with Unix line endings, safe in a form, a CSV feed or an XML document.
    """
    return _UNWANTED.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def fit_title(title: str, limit: int) -> str:
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


def fit_text(text: str, limit: int) -> str:
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


def minor_unit(currency: str) -> int:
    """Minor units in one unit of ``currency`` (100 for USD, 1 for JPY, 1000 for KWD)."""
    code = currency.upper()
    return 1 if code in _ZERO_DECIMAL else 1000 if code in _THREE_DECIMAL else 100


def whole_units(price: Money) -> str:
    """Render a price in whole currency units, as platforms' price boxes take it.

    Args:
        price: the price in minor units.

    Returns:
        The amount rounded half up to a whole unit, e.g. ``"450"`` for 44999 cents.
    """
    unit = minor_unit(price.currency)
    sign = -1 if price.amount_minor < 0 else 1
    return str(sign * ((abs(price.amount_minor) + unit // 2) // unit))
