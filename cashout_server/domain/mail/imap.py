"""Reading new mail from the seller's IMAP mailbox without disturbing it.

The folder is opened read-only (``EXAMINE``) and bodies are fetched with ``BODY.PEEK[]``, so the
seller's unread marks stay as they were. New mail is found by UID: everything above the last UID
seen, as long as the folder's ``UIDVALIDITY`` is unchanged; when it changed (the folder was
recreated or the server rebuilt it) the stored UID means nothing and the look starts over from
the last ``initial_days`` days of mail. The core deduplicates messages, so a fresh start is safe.

:mod:`imaplib` blocks, so each look runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import imaplib
import re
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cashout_server.settings import MailSettings

__all__ = [
    "BATCH_BYTES",
    "BATCH_SIZE",
    "FetchResult",
    "FetchedEmail",
    "MailAuthError",
    "MailConnectionError",
    "MailError",
    "MailProtocolError",
    "MailTLSError",
    "fetch_new",
    "imap_utf7",
]

BATCH_SIZE = 200
"""At most this many messages per look; the rest wait for the next one."""
BATCH_BYTES = 64 * 1024 * 1024
"""Stop adding messages to a look past this many bytes (at least one message is always fetched)."""
_FETCH_CHUNK = 25


class MailError(Exception):
    """The mailbox could not be read; the message says why and what to check."""


class MailConnectionError(MailError):
    """The IMAP server could not be reached, or it dropped the connection."""


class MailTLSError(MailError):
    """The TLS handshake failed (wrong port for the mode, untrusted certificate)."""


class MailAuthError(MailError):
    """The IMAP server refused the login."""


class MailProtocolError(MailError):
    """The IMAP server refused a command or answered something unreadable."""


@dataclass(frozen=True)
class FetchedEmail:
    """One message as stored in the mailbox."""

    uid: int
    raw: bytes
    internal_date: datetime | None = None
    """When the mailbox received it (IMAP ``INTERNALDATE``), in UTC."""


@dataclass(frozen=True)
class FetchResult:
    """What one look at the mailbox found."""

    uidvalidity: int
    """The folder's ``UIDVALIDITY``: store it with ``last_uid``."""
    last_uid: int | None
    """The new high-water mark: the highest UID fetched, or the one passed in when nothing was new."""
    emails: list[FetchedEmail] = field(default_factory=list)
    """New messages, lowest UID first."""
    more: bool = False
    """More new messages are waiting beyond this batch."""
    reset: bool = False
    """``UIDVALIDITY`` changed since the last look, so the look started over."""


def imap_utf7(name: str) -> str:
    """Encode a folder name in IMAP's modified UTF-7 (RFC 3501 section 5.1.3).

    Args:
        name: the folder name as a person writes it (``"Käufer"``).

    Returns:
        The name as IMAP commands take it (``"K&AOQ-ufer"``).
    """
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            encoded = base64.b64encode("".join(pending).encode("utf-16-be")).decode("ascii")
            out.append("&" + encoded.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def _quoted(name: str) -> str:
    encoded = imap_utf7(name)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _where(settings: MailSettings) -> str:
    return f"{settings.imap_host}:{settings.imap_port}"


def _text(data: object) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    if isinstance(data, list | tuple):
        return " ".join(_text(item) for item in data if item is not None)
    return str(data)


def _connect(settings: MailSettings, context: ssl.SSLContext | None) -> imaplib.IMAP4:
    host = settings.imap_host or ""
    where = _where(settings)
    try:
        if settings.imap_tls == "tls":
            return imaplib.IMAP4_SSL(
                host, settings.imap_port, ssl_context=context or ssl.create_default_context(), timeout=settings.timeout
            )
        conn = imaplib.IMAP4(host, settings.imap_port, timeout=settings.timeout)
        if settings.imap_tls == "starttls":
            try:
                conn.starttls(ssl_context=context or ssl.create_default_context())
            except BaseException:
                conn.shutdown()
                raise
        return conn
    except ssl.SSLError as exc:
        hint = (
            " (imap_tls 'tls' needs a port with implicit TLS, usually 993; use 'starttls' for 143)"
            if settings.imap_tls == "tls"
            else ""
        )
        raise MailTLSError(f"TLS with the IMAP server {where} failed: {exc.reason or exc}{hint}") from exc
    except imaplib.IMAP4.error as exc:
        raise MailProtocolError(f"the IMAP server {where} refused STARTTLS: {_text(exc.args)}") from exc
    except ConnectionRefusedError as exc:
        raise MailConnectionError(
            f"connection to the IMAP server {where} was refused (check CASHOUT_MAIL_IMAP_HOST and _PORT)"
        ) from exc
    except TimeoutError as exc:
        raise MailConnectionError(f"the IMAP server {where} did not answer within {settings.timeout:g} s") from exc
    except OSError as exc:
        raise MailConnectionError(f"cannot reach the IMAP server {where}: {exc.strerror or exc}") from exc


def _login(conn: imaplib.IMAP4, settings: MailSettings) -> None:
    user = settings.imap_user or ""
    password = settings.imap_password.get_secret_value() if settings.imap_password is not None else ""
    try:
        conn.login(user, password)
    except imaplib.IMAP4.error as exc:
        # The server's answer names no secret; the password itself is never put in a message.
        said = _text(exc.args).replace(password, "***") if password else _text(exc.args)
        raise MailAuthError(
            f"the IMAP server {_where(settings)} refused the login of {user!r} ({said}); "
            "check CASHOUT_MAIL_IMAP_USER and CASHOUT_MAIL_IMAP_PASSWORD (an app password for Gmail or Outlook)"
        ) from None


def _examine(conn: imaplib.IMAP4, settings: MailSettings) -> int:
    typ, data = conn.select(_quoted(settings.imap_folder), readonly=True)
    if typ != "OK":
        raise MailProtocolError(
            f"the IMAP server {_where(settings)} cannot open folder {settings.imap_folder!r}: {_text(data)} "
            "(check CASHOUT_MAIL_IMAP_FOLDER)"
        )
    _, values = conn.response("UIDVALIDITY")
    try:
        return int(_text(values[0]))
    except (IndexError, TypeError, ValueError):
        raise MailProtocolError(f"the IMAP server {_where(settings)} sent no UIDVALIDITY") from None


def _search(conn: imaplib.IMAP4, last_uid: int | None, initial_days: int) -> list[int]:
    if last_uid is None:
        since = (datetime.now(UTC) - timedelta(days=initial_days)).strftime("%d-%b-%Y")
        typ, data = conn.uid("SEARCH", "SINCE", since)
    else:
        typ, data = conn.uid("SEARCH", "UID", f"{last_uid + 1}:*")
    if typ != "OK":
        raise MailProtocolError(f"UID SEARCH failed: {_text(data)}")
    uids = sorted({int(token) for token in _text(data).split() if token.isdigit()})
    # "n:*" always matches the highest UID, even below n.
    return [uid for uid in uids if last_uid is None or uid > last_uid]


_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_DATE = re.compile(rb'INTERNALDATE "[^"]*"')


def _sizes(conn: imaplib.IMAP4, uids: list[int]) -> dict[int, int]:
    sizes: dict[int, int] = {}
    for start in range(0, len(uids), _FETCH_CHUNK * 8):
        chunk = uids[start : start + _FETCH_CHUNK * 8]
        typ, data = conn.uid("FETCH", ",".join(map(str, chunk)), "(UID RFC822.SIZE)")
        if typ != "OK":
            raise MailProtocolError(f"UID FETCH of sizes failed: {_text(data)}")
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            if isinstance(line, bytes) and (uid := _UID.search(line)) and (size := _SIZE.search(line)):
                sizes[int(uid.group(1))] = int(size.group(1))
    return sizes


def _bodies(conn: imaplib.IMAP4, uids: list[int]) -> list[FetchedEmail]:
    found: dict[int, FetchedEmail] = {}
    for start in range(0, len(uids), _FETCH_CHUNK):
        chunk = uids[start : start + _FETCH_CHUNK]
        typ, data = conn.uid("FETCH", ",".join(map(str, chunk)), "(UID INTERNALDATE BODY.PEEK[])")
        if typ != "OK":
            raise MailProtocolError(f"UID FETCH failed: {_text(data)}")
        for item in data:
            if not isinstance(item, tuple) or len(item) < 2:
                continue
            head, body = item[0], item[1]
            uid = _UID.search(head)
            if uid is None or not isinstance(body, bytes):
                continue
            stamp = _DATE.search(head)
            parsed = imaplib.Internaldate2tuple(stamp.group(0)) if stamp else None
            # Internaldate2tuple answers in local time; mktime turns it back into the instant.
            when = datetime.fromtimestamp(time.mktime(parsed), tz=UTC) if parsed is not None else None
            found[int(uid.group(1))] = FetchedEmail(uid=int(uid.group(1)), raw=body, internal_date=when)
    return [found[uid] for uid in uids if uid in found]


def _fetch(
    settings: MailSettings,
    last_uid: int | None,
    uidvalidity: int | None,
    batch_size: int,
    initial_days: int,
    context: ssl.SSLContext | None,
) -> FetchResult:
    conn = _connect(settings, context)
    try:
        _login(conn, settings)
        current = _examine(conn, settings)
        reset = uidvalidity is not None and uidvalidity != current
        since_uid = None if reset or uidvalidity is None else last_uid
        uids = _search(conn, since_uid, initial_days)
        more = len(uids) > batch_size
        uids = uids[:batch_size]
        if uids:
            sizes = _sizes(conn, uids)
            total = 0
            for index, uid in enumerate(uids):
                total += sizes.get(uid, 0)
                if total > BATCH_BYTES and index > 0:
                    uids, more = uids[:index], True
                    break
        emails = _bodies(conn, uids) if uids else []
        high = max(uids) if uids else since_uid
        return FetchResult(uidvalidity=current, last_uid=high, emails=emails, more=more, reset=reset)
    except imaplib.IMAP4.abort as exc:
        raise MailConnectionError(f"the IMAP server {_where(settings)} dropped the connection: {exc}") from exc
    except TimeoutError as exc:
        raise MailConnectionError(
            f"the IMAP server {_where(settings)} did not answer within {settings.timeout:g} s"
        ) from exc
    except imaplib.IMAP4.error as exc:
        raise MailProtocolError(f"the IMAP server {_where(settings)} refused a command: {exc}") from exc
    except OSError as exc:
        raise MailConnectionError(f"the connection to the IMAP server {_where(settings)} failed: {exc}") from exc
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            conn.logout()


async def fetch_new(
    settings: MailSettings,
    *,
    last_uid: int | None,
    uidvalidity: int | None,
    batch_size: int = BATCH_SIZE,
    initial_days: int = 14,
    ssl_context: ssl.SSLContext | None = None,
) -> FetchResult:
    """Fetch the messages that arrived since the last look, leaving the mailbox untouched.

    Args:
        settings: the mail settings (``imap_host`` must be set).
        last_uid: the highest UID already handed over, or ``None`` on the first look.
        uidvalidity: the ``UIDVALIDITY`` stored with ``last_uid``; when the folder's differs,
            ``last_uid`` is ignored.
        batch_size: at most this many messages are fetched; ``more`` tells whether others wait.
        initial_days: on a first look (or after a ``UIDVALIDITY`` change), how many days of
            mail to read.
        ssl_context: the TLS context (default: the system's trusted certificates, which honour
            ``SSL_CERT_FILE``).

    Returns:
        The new messages (lowest UID first), the new high-water mark and the ``UIDVALIDITY``.

    Raises:
        MailConnectionError: the server is unreachable, timed out or dropped the connection.
        MailTLSError: the TLS handshake failed.
        MailAuthError: the login was refused (the message names the settings to check).
        MailProtocolError: the folder does not exist, or the server refused a command.
    """
    if not settings.imap_host:
        raise MailError("mail intake is off: CASHOUT_MAIL_IMAP_HOST is not set")
    return await asyncio.to_thread(_fetch, settings, last_uid, uidvalidity, batch_size, initial_days, ssl_context)
