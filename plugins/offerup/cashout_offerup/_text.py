"""Turning an item into text OfferUp's posting form takes: titles, descriptions, whole-dollar prices."""

from __future__ import annotations

import re

from cashout_server import Money

_SPACES = re.compile(r"\s+")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str) -> str:
    """Normalise line endings and drop control characters other than tab and newline.

    Args:
        text: free text from the seller.

    Returns:
        The cleaned text.
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


def whole_dollars(price: Money) -> str:
    """Render a US dollar price in whole dollars, as OfferUp shows prices.

    Args:
        price: the price in cents.

    Returns:
        Whole dollars rounded half up, e.g. ``"450"`` for 44999 cents.
    """
    return str((price.amount_minor + 50) // 100)
