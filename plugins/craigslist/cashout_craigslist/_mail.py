"""Buyer mail through craigslist's relay: recognising it, and answering it.

A buyer writes to the posting's anonymised address; the seller receives the mail **from**
``<random>@reply.craigslist.org`` (one relay address per buyer and posting), and a reply sent to
that address reaches the buyer (FACTS.md section 5). The relay adds a footer with the posting's
URL, which carries the posting id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from cashout_server import InboundEmail, InboundMessage

__all__ = ["RELAY_DOMAIN", "buyer_text", "is_relay_address", "item_hint", "parse_relay_email", "posting_id"]

RELAY_DOMAIN = "reply.craigslist.org"
_RELAY = re.compile(r"^[a-z0-9][a-z0-9._+-]*@reply\.craigslist\.org$")
_FORWARDED = "x-cashout-forwarded-"

_POSTING_URL = re.compile(r"https?://[a-z0-9.-]*craigslist\.org/[^\s\"'<>]*?(\d{8,12})\.html", re.IGNORECASE)
_PREFIX = re.compile(r"^\s*(?:(?:re|fwd?|aw|wg|tr|rv|sv)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_PRICE_SUFFIX = re.compile(r"\s*[-\u2013\u2014(]\s*(?:[$\u00a3\u20ac]|US\$|CA\$)\s?[\d,]+(?:\.\d{1,2})?\)?\s*$")

# Where the buyer's own words end: craigslist's footer, a quoted earlier message, a signature.
_FOOTER = re.compile(
    r"^\s*(?:-{10,}|original craigslist post:|about craigslist mail:|please flag unwanted messages)", re.IGNORECASE
)
_QUOTE_HEADERS = (
    re.compile(r"^\s*On\b.{0,300}?\bwrote:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*-{2,}\s*(?:Original Message|Forwarded message)\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^\s*(?:From|De|Von):\s.+$", re.IGNORECASE),
    re.compile(r"^\s*Le\b.{0,300}?a écrit\s*:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*El\b.{0,300}?escribió:\s*$", re.IGNORECASE | re.DOTALL),
)
_SIGNOFF = re.compile(
    r"^\s*(?:sent from my \w[\w\s]*|sent from (?:yahoo mail|outlook|mail) for \w+|get outlook for \w+|"
    r"sent from yahoo mail.*|sent via .*)\s*$",
    re.IGNORECASE,
)


def is_relay_address(address: str | None) -> bool:
    """Whether ``address`` is a craigslist relay address mail arrives from."""
    return address is not None and _RELAY.match(address.strip().lower()) is not None


def posting_id(*texts: str | None) -> str | None:
    """The craigslist posting id of the first posting URL found in ``texts``, if any."""
    for text in texts:
        if text and (match := _POSTING_URL.search(text)):
            return match.group(1)
    return None


def item_hint(subject: str) -> str | None:
    """The posting title in a relay subject: ``"Re: Trek bike - $250"`` gives ``"Trek bike"``."""
    title = _PRICE_SUFFIX.sub("", _PREFIX.sub("", subject)).strip()
    return title or None


def _quote_start(lines: list[str]) -> int | None:
    for index, line in enumerate(lines):
        joined = line if index + 1 >= len(lines) else f"{line} {lines[index + 1]}"
        for pattern in _QUOTE_HEADERS:
            if pattern.match(line):
                return index
        # "On <date>, <name> <address>" wrapped before "wrote:".
        if line.strip().lower().startswith("on ") and _QUOTE_HEADERS[0].match(joined):
            return index
    return None


def buyer_text(text: str) -> str:
    """The buyer's own words: without craigslist's footer, quoted history, signature or sign-off.

    Args:
        text: the mail's text body.

    Returns:
        The text, trimmed; the whole text trimmed when nothing would be left.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines):
        if _FOOTER.match(line):
            lines = lines[:index]
            break
    start = _quote_start(lines)
    if start is not None:
        lines = lines[:start]
    lines = [line for line in lines if not line.lstrip().startswith(">")]
    for index, line in enumerate(lines):
        if line.strip() in ("--", "-- ", "\u2014"):
            lines = lines[:index]
            break
    while lines and (not lines[-1].strip() or _SIGNOFF.match(lines[-1])):
        lines.pop()
    body = "\n".join(lines).strip()
    return body or text.strip()


def _forwarded(headers: Mapping[str, str]) -> bool:
    return is_relay_address(headers.get(f"{_FORWARDED}from"))


def parse_relay_email(email: InboundEmail, *, platform: str) -> InboundMessage | None:
    """The buyer message in a relay mail (received directly or forwarded), else ``None``.

    Args:
        email: the decoded mail.
        platform: the platform name to report.

    Returns:
        The message: ``thread_id`` and ``sender_handle`` are the relay address (replies go back to
        it), ``external_id`` the Message-ID, ``item_hint`` the posting title from the subject,
        ``listing_external_id`` the posting id from a craigslist URL in the mail.
    """
    headers = email.headers
    if is_relay_address(email.from_address):
        relay = email.from_address.strip().lower()
        name, subject, text, message_id = email.from_name, email.subject, email.text, email.message_id
        sent_at = email.received_at
    elif _forwarded(headers):
        relay = headers[f"{_FORWARDED}from"].strip().lower()
        name = headers.get(f"{_FORWARDED}from-name")
        subject = headers.get(f"{_FORWARDED}subject", "")
        text = headers.get(f"{_FORWARDED}text", "")
        message_id = headers.get(f"{_FORWARDED}message-id") or email.message_id
        sent_at = _iso(headers.get(f"{_FORWARDED}date")) or email.received_at
    else:
        return None
    return InboundMessage(
        platform=platform,
        external_id=message_id,
        thread_id=relay,
        body=buyer_text(text),
        sent_at=sent_at or datetime.now(UTC),
        sender_name=name,
        sender_handle=relay,
        listing_external_id=posting_id(text, email.html),
        item_hint=item_hint(subject),
        subject=subject or None,
    )


def _iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
