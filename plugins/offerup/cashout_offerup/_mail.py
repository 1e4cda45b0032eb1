"""OfferUp's notification e-mails ("X sent you a message about ...", "X offered $Y for ...").

OfferUp has no API, so its notification mails are the only automatic lead source (FACTS.md
section 4). Their exact sender and layout are **unverified**: we have no real sample. The parser
therefore keys on what such mails must say rather than on markup: a sender at ``offerup.com`` or
``offerupnow.com`` (any subdomain), and a headline in the subject or body naming the buyer, the
item and, for offers, the amount. Several wordings are accepted; mail from OfferUp that carries
neither a message nor an offer (views, promotions, account mail) is not a lead.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from cashout_server import InboundEmail, InboundMessage, Money

__all__ = ["SENDER_DOMAINS", "is_offerup_sender", "parse_notification"]

SENDER_DOMAINS = ("offerup.com", "offerupnow.com")
"""Domains OfferUp's notifications come from, with any subdomain (unverified)."""

_FORWARDED = "x-cashout-forwarded-"
_Q_OPEN = "\"'\u201c\u2018"
_Q_CLOSE = "\"'\u201d\u2019"
_ITEM = rf"[{_Q_OPEN}]?(?P<item>.+?)[{_Q_CLOSE}]?[.!]?"
_AMOUNT = r"\$\s?(?P<amount>\d[\d,]*(?:\.\d{1,2})?)"
_NAME = r"(?P<name>[^\s:].{0,60}?)"
_YOU_GOT_OFFER = r"(?:you (?:got|received|have) (?:a |an )?(?:new )?offer|new offer)"
_TAIL = r"(?:\s*(?:\u00b7|\||-)\s*\$[\d,.]+)?\s*(?:[\U0001f300-\U0001faff\u2600-\u27bf]\s*)*$"

_OFFERS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"^{_NAME} (?:offered|made (?:you )?an offer of|sent you an offer of|offers) {_AMOUNT} "
        rf"(?:for|on) {_ITEM}{_TAIL}",
        rf"^{_YOU_GOT_OFFER}[:!]?\s+{_AMOUNT} (?:for|on) {_ITEM}{_TAIL}",
        rf"^{_YOU_GOT_OFFER}(?: of {_AMOUNT})? (?:for|on) {_ITEM}{_TAIL}",
    )
)
_MESSAGES = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"^{_NAME} (?:sent you a (?:new )?message|messaged you|replied|has a question) "
        rf"(?:about|on|regarding) {_ITEM}{_TAIL}",
        rf"^(?:new message|message) from {_NAME} (?:about|on|regarding) {_ITEM}{_TAIL}",
        rf"^(?:you (?:have|got|received) )?(?:a )?new message (?:about|on|regarding) {_ITEM}{_TAIL}",
        rf"^{_NAME} sent you a (?:new )?message[.!:]?$",
        r"^(?:you (?:have|got|received) )?(?:a )?new message[.!]?$",
    )
)
_NAME_LINE = re.compile(r"^(?P<name>[^\s:][^:]{0,60}):\s+(?P<text>\S.*)$")
_QUOTED = re.compile(rf"^[{_Q_OPEN}](?P<text>.+?)[{_Q_CLOSE}]?$")
_ITEM_URL = re.compile(r"offerup\.com/item/detail/(?P<id>[A-Za-z0-9-]+)", re.IGNORECASE)
_THREAD_URL = re.compile(
    r"offerup\.com/(?:inbox|messages|chat|conversations?)/(?P<id>[A-Za-z0-9_-]{6,})", re.IGNORECASE
)
_BOILERPLATE = re.compile(
    r"^(?:reply|respond|view (?:message|conversation|offer)|see the offer|respond to offer|accept|counter|decline|"
    r"download the offerup app|unsubscribe|help center|you received this email|offerup inc\b|your asking price|"
    r"accept, counter or decline)",
    re.IGNORECASE,
)


@dataclass
class _Headline:
    kind: str
    name: str | None = None
    item: str | None = None
    amount: Decimal | None = None


def is_offerup_sender(address: str | None) -> bool:
    """Whether ``address`` is at one of OfferUp's mail domains (or a subdomain)."""
    if not address or "@" not in address:
        return False
    domain = address.rsplit("@", 1)[1].strip().lower()
    return any(domain == d or domain.endswith("." + d) for d in SENDER_DOMAINS)


def _match(line: str) -> _Headline | None:
    line = " ".join(line.split())
    for pattern in _OFFERS:
        if match := pattern.match(line):
            groups = match.groupdict()
            amount = groups.get("amount")
            return _Headline(
                kind="offer",
                name=(groups.get("name") or None),
                item=(groups.get("item") or None),
                amount=_decimal(amount) if amount else None,
            )
    for pattern in _MESSAGES:
        if match := pattern.match(line):
            groups = match.groupdict()
            return _Headline(kind="message", name=groups.get("name") or None, item=groups.get("item") or None)
    return None


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None


def _merge(found: Iterable[_Headline]) -> _Headline | None:
    result: _Headline | None = None
    for headline in found:
        if result is None:
            result = headline
            continue
        if headline.kind == "offer" and result.kind != "offer":
            result.kind = "offer"
        result.name = result.name or headline.name
        result.item = result.item or headline.item
        result.amount = result.amount or headline.amount
    return result


def _buyer_words(lines: list[str], headline: _Headline) -> str | None:
    """The buyer's own words: a quoted line, or a ``Name: text`` line."""
    for line in lines:
        quoted = _QUOTED.match(line)
        if quoted and len(quoted.group("text")) > 1:
            return quoted.group("text").strip()
    for line in lines:
        named = _NAME_LINE.match(line)
        if named is None or _BOILERPLATE.match(line) or "http" in named.group("name").lower():
            continue
        if headline.name is None or named.group("name").strip().lower() == headline.name.lower():
            headline.name = headline.name or named.group("name").strip()
            return named.group("text").strip()
    return None


def parse_notification(email: InboundEmail, *, platform: str) -> InboundMessage | None:
    """The buyer message or offer an OfferUp notification carries, else ``None``.

    Args:
        email: the decoded mail (received directly, or forwarded by the seller).
        platform: the platform name to report.

    Returns:
        The message: ``body`` the buyer's words (or the headline when the mail does not quote
        them), ``offer`` the amount for offers, ``item_hint`` the item title, ``sender_name`` the
        buyer's name, ``listing_external_id`` the item id when the mail links the item, and
        ``thread_id`` the conversation id from an inbox link, else one built from buyer and item.
        ``sender_handle`` is ``None``: OfferUp conversations are answered on OfferUp.
    """
    headers = email.headers
    if is_offerup_sender(email.from_address):
        subject, text, html = email.subject, email.text, email.html or ""
        message_id, sent_at = email.message_id, email.received_at
    elif is_offerup_sender(headers.get(f"{_FORWARDED}from")):
        subject, text, html = headers.get(f"{_FORWARDED}subject", ""), headers.get(f"{_FORWARDED}text", ""), ""
        message_id = headers.get(f"{_FORWARDED}message-id") or email.message_id
        sent_at = email.received_at
    else:
        return None
    if headers.get("list-id") and not _match(subject):
        return None
    lines = [" ".join(line.split()) for line in text.split("\n")]
    lines = [line for line in lines if line]
    headlines = [h for h in (_match(subject), *(_match(line) for line in lines[:60])) if h is not None]
    headline = _merge(headlines)
    if headline is None:
        return None
    words = _buyer_words(lines, headline)
    item = (headline.item or "").strip() or None
    name = (headline.name or "").strip() or None
    listing = _first(_ITEM_URL, html, text)
    thread = _first(_THREAD_URL, html, text)
    if thread is None:
        basis = f"{listing or (item or '').lower()}|{(name or '').lower()}"
        thread = "mail-" + hashlib.sha256(basis.encode()).hexdigest()[:24]
    offer = None
    if headline.kind == "offer" and headline.amount is not None:
        offer = Money(amount_minor=int((headline.amount * 100).to_integral_value()), currency="USD")
    if words is None:
        if offer is not None:
            words = f"{name or 'A buyer'} offered ${headline.amount} for {item or 'your item'}."
        else:
            words = f"{name or 'A buyer'} sent a message about {item or 'your item'} (open OfferUp to read it)."
    return InboundMessage(
        platform=platform,
        external_id=message_id,
        thread_id=thread,
        body=words,
        sent_at=sent_at or datetime.now(UTC),
        sender_name=name,
        sender_handle=None,
        listing_external_id=listing,
        item_hint=item,
        offer=offer,
        subject=subject or None,
    )


def _first(pattern: re.Pattern[str], *texts: str) -> str | None:
    for text in texts:
        if text and (match := pattern.search(text)):
            return match.group("id")
    return None
