"""Raw RFC 5322 bytes to the :class:`~cashout_server.contract.InboundEmail` plugins parse.

Mail from the wild is messy: wrong or missing charset declarations, HTML-only bodies, encoded
subjects, attachments, forwards. Decoding never raises for a message it can read at all: every
part that cannot be decoded strictly is decoded with replacement characters instead.

``InboundEmail.headers`` carries a few original headers under lower-case names (``reply-to``,
``in-reply-to``, ``references``, ``list-id``, ``list-unsubscribe``, ``auto-submitted``,
``precedence``) and, for a forwarded message, what the decoder found of the original under
``x-cashout-forwarded-*`` names (never copied from the mail itself, so a sender cannot forge them):

* ``x-cashout-forwarded-from``: the original sender's address (lower case);
* ``x-cashout-forwarded-from-name``: the original sender's display name;
* ``x-cashout-forwarded-subject``: the original subject;
* ``x-cashout-forwarded-date``: the original date, ISO 8601 in UTC;
* ``x-cashout-forwarded-message-id``: the original Message-ID, when the forward kept it;
* ``x-cashout-forwarded-text``: the original message's text body.
"""

from __future__ import annotations

import codecs
import email
import email.errors
import email.header
import email.utils
import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from html.parser import HTMLParser

from cashout_server.contract import InboundEmail

__all__ = ["FORWARDED_PREFIX", "KEPT_HEADERS", "decode_email", "html_to_text"]

KEPT_HEADERS = (
    "reply-to",
    "in-reply-to",
    "references",
    "list-id",
    "list-unsubscribe",
    "auto-submitted",
    "precedence",
)
"""Original headers copied into ``InboundEmail.headers`` (lower-case names)."""

FORWARDED_PREFIX = "x-cashout-forwarded-"
"""Prefix of the headers the decoder derives from a forwarded message."""

_MAX_HEADER = 2000


# --- HTML to text ------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "blockquote",
        "center",
        "dd",
        "div",
        "dl",
        "dt",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "thead",
        "tr",
        "ul",
    }
)
_SKIP_TAGS = frozenset({"head", "script", "style", "template", "title", "noscript"})


class _TextExtractor(HTMLParser):
    """Collects readable text: blocks and ``<br>`` become line breaks, scripts and styles vanish."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
            if tag == "li":
                self.parts.append("- ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" or tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Render HTML as plain text a person (or a regular expression) can read.

    Args:
        html: an HTML document or fragment.

    Returns:
        The text, one line per block or ``<br>``, spaces collapsed, at most one blank line in a row.
    """
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # pragma: no cover - html.parser is lenient; belt and braces
        pass
    lines = [re.sub(r"[ \t\r\f\v\u00a0]+", " ", line).strip() for line in "".join(parser.parts).split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


# --- charsets ----------------------------------------------------------------------------

# Mail user agents label cp1252 text as iso-8859-1 or us-ascii all the time (as browsers do).
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "x-sjis": "shift_jis",
    "sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "cp932": "cp932",
    "x-user-defined": "cp1252",
    "unknown-8bit": "cp1252",
}


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip('"').lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset, else UTF-8, else cp1252; never raises."""
    declared = _codec(charset)
    # Shift_JIS text is usually Windows' cp932 superset.
    candidates = (declared, "utf-8", "cp932" if declared == "shift_jis" else None)
    tried: list[str] = []
    for candidate in candidates:
        if candidate is None or candidate in tried:
            continue
        tried.append(candidate)
        try:
            return data.decode(candidate)
        except UnicodeDecodeError:
            continue
    if declared is not None and declared != "utf-8":
        return data.decode(declared, errors="replace")
    # Declared UTF-8 (or nothing) but not UTF-8: almost always Windows' West-European charset.
    return data.decode("cp1252", errors="replace")


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    return _decode_bytes(payload, part.get_content_charset())


# --- headers -----------------------------------------------------------------------------


def _header(msg: Message, name: str) -> str:
    """A header's decoded, unfolded value ('' when missing or unreadable)."""
    try:
        value = msg.get(name)
    except Exception:  # noqa: BLE001 - a malformed header must not sink the whole message
        value = None
    if value is None:
        raw = _raw_header(msg, name)
        if raw is None:
            return ""
        value = raw
    text = str(value)
    if "=?" in text:
        text = _decode_words(text)
    return " ".join(text.split())[:_MAX_HEADER]


def _raw_header(msg: Message, name: str) -> str | None:
    for key, value in msg.raw_items() if hasattr(msg, "raw_items") else msg.items():
        if key.lower() == name:
            return str(value)
    return None


def _decode_words(text: str) -> str:
    """RFC 2047 words the header parser left encoded (malformed or in an unknown charset)."""
    try:
        pieces = email.header.decode_header(text)
    except (ValueError, LookupError, email.errors.HeaderParseError):
        return text
    out: list[str] = []
    for chunk, charset in pieces:
        out.append(_decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk)
    return "".join(out)


def _address(value: str) -> tuple[str | None, str]:
    name, addr = email.utils.parseaddr(value)
    addr = addr.strip().lower()
    return (name.strip() or None), (addr if "@" in addr else "")


def _addresses(value: str) -> tuple[str, ...]:
    return tuple(addr.lower() for _, addr in email.utils.getaddresses([value]) if addr)


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


# --- bodies ------------------------------------------------------------------------------


def _is_attachment(part: Message) -> bool:
    disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    return disposition == "attachment" or (disposition != "inline" and bool(part.get_filename()))


def _bodies(msg: Message) -> tuple[str | None, str | None, Message | None]:
    """The first text/plain and text/html bodies, and the first attached message, if any."""
    text: str | None = None
    html: str | None = None
    forwarded: Message | None = None
    for part in _walk(msg):
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            if forwarded is None:
                inner = part.get_payload()
                if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                    forwarded = inner[0]
            continue
        if part.is_multipart() or _is_attachment(part):
            continue
        if ctype == "text/plain" and text is None:
            text = _part_text(part)
        elif ctype == "text/html" and html is None:
            html = _part_text(part)
    return text, html, forwarded


def _walk(msg: Message) -> Iterator[Message]:
    """Like ``Message.walk`` but does not descend into attached messages."""
    yield msg
    if msg.get_content_type() == "message/rfc822":
        return
    if msg.is_multipart():
        payload = msg.get_payload()
        if isinstance(payload, list):
            for part in payload:
                if isinstance(part, Message):
                    yield from _walk(part)


def _normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


# --- forwards ----------------------------------------------------------------------------

_INLINE_FORWARD = re.compile(
    r"^[ \t>]*(?:-{2,}\s*(?:Forwarded message|Original Message|Weitergeleitete Nachricht|Message transféré)\s*-{2,}"
    r"|Begin forwarded message:)[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_FORWARD_FIELD = re.compile(r"^[ \t>]*\**(From|Date|Sent|Subject|To|Cc|Message-ID)\**:[ \t]*(.*)$", re.IGNORECASE)


def _inline_forward(text: str) -> dict[str, str] | None:
    """The original sender, subject, date and text of a forward pasted into the body."""
    match = _INLINE_FORWARD.search(text)
    if match is None:
        return None
    lines = text[match.end() :].lstrip("\n").split("\n")
    fields: dict[str, str] = {}
    index = 0
    while index < len(lines):
        line = lines[index]
        field = _FORWARD_FIELD.match(line)
        if field is None:
            if not line.strip() and fields:
                index += 1
                break
            if fields:
                break
            index += 1
            continue
        fields[field.group(1).lower()] = field.group(2).strip()
        index += 1
    if "from" not in fields:
        return None
    body = "\n".join(re.sub(r"^> ?", "", line) for line in lines[index:])
    return _forward_headers(
        sender=fields["from"],
        subject=fields.get("subject", ""),
        date=fields.get("date") or fields.get("sent", ""),
        message_id=fields.get("message-id", ""),
        text=_normalise(body),
    )


def _forward_headers(*, sender: str, subject: str, date: str, message_id: str, text: str) -> dict[str, str]:
    name, addr = _address(sender.replace("[mailto:", "<").replace("]", ">") if "[mailto:" in sender else sender)
    out = {f"{FORWARDED_PREFIX}from": addr, f"{FORWARDED_PREFIX}subject": subject, f"{FORWARDED_PREFIX}text": text}
    if name:
        out[f"{FORWARDED_PREFIX}from-name"] = name
    when = _date(date)
    if when is not None:
        out[f"{FORWARDED_PREFIX}date"] = when.isoformat()
    if message_id:
        out[f"{FORWARDED_PREFIX}message-id"] = message_id
    return out


def _attached_forward(inner: Message) -> dict[str, str]:
    text, html, _ = _bodies(inner)
    body = _normalise(text) if text else html_to_text(html or "")
    return _forward_headers(
        sender=_header(inner, "from"),
        subject=_header(inner, "subject"),
        date=_header(inner, "date"),
        message_id=_header(inner, "message-id"),
        text=body,
    )


# --- the message -------------------------------------------------------------------------


def _message_id(msg: Message, raw: bytes) -> str:
    value = _header(msg, "message-id")
    ids = re.findall(r"<[^<>\s]+>", value)
    if ids:
        return str(ids[0])
    if value.strip():
        return f"<{value.strip().strip('<>')}>"
    # Stable across polls, so the core's deduplication still works for mail without an id.
    return f"<{hashlib.sha256(raw).hexdigest()[:40]}@no-message-id.cashout.invalid>"


def decode_email(raw: bytes, *, received_at: datetime | None = None) -> InboundEmail:
    """Decode one message as received from the mailbox.

    Args:
        raw: the message's bytes, headers and body (IMAP ``BODY[]``).
        received_at: when the mailbox received it (IMAP ``INTERNALDATE``); used when the
            message has no readable ``Date`` header.

    Returns:
        The message with its subject decoded, its text body (from the HTML body when there is
        no text part), its HTML body, its date in UTC and the headers listed in the module
        documentation. Attachments are ignored.
    """
    msg = email.message_from_bytes(raw, _class=EmailMessage, policy=policy.default)
    from_name, from_address = _address(_header(msg, "from"))
    if not from_address:
        _, from_address = _address(_header(msg, "sender"))
    to_addresses = _addresses(", ".join(filter(None, (_header(msg, "to"), _header(msg, "cc")))))
    text, html, attached = _bodies(msg)
    if text is not None:
        body = _normalise(text)
    elif html is not None:
        body = html_to_text(html)
    else:
        body = ""
    headers = {name: value for name in KEPT_HEADERS if (value := _header(msg, name))}
    forward = _attached_forward(attached) if attached is not None else _inline_forward(body)
    if forward is not None and forward.get(f"{FORWARDED_PREFIX}from"):
        headers.update(forward)
    return InboundEmail(
        message_id=_message_id(msg, raw),
        from_address=from_address,
        from_name=from_name,
        to_addresses=to_addresses,
        subject=_header(msg, "subject"),
        text=body,
        html=html,
        received_at=_date(_header(msg, "date")) or received_at,
        headers=headers,
    )
