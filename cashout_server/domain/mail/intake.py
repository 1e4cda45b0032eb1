"""Mail intake: new mail in the seller's mailbox becomes buyer messages, each exactly once.

One poll fetches the mail that arrived since the last one (:func:`~.imap.fetch_new`), decodes
it, offers each message to every plugin's ``parse_lead_email`` and hands the buyer messages
found to the caller's ``store``. Only after ``store`` returned is the mailbox's high-water mark
(``ServerState`` key ``mail.imap.<user>@<host>/<folder>``) moved on: a crash or a failing store
means the same mail is read again next time, and the core's deduplication on
``(platform, external_id)`` makes that harmless. Mail no plugin recognises, and mail that cannot
be decoded, is counted and passed over; it never stops the poll.
"""

from __future__ import annotations

import hashlib
import json
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError

from cashout_server.contract import InboundEmail, InboundMessage
from cashout_server.db.models import ServerState
from cashout_server.domain.mail.decode import decode_email
from cashout_server.domain.mail.imap import BATCH_SIZE, fetch_new
from cashout_server.hooks import call_fanout
from cashout_server.runtime import Runtime
from cashout_server.settings import MailSettings

__all__ = ["StoreMessages", "offer_email", "poll_mailbox", "state_key"]

log = logging.getLogger("cashout.mail")

StoreMessages = Callable[[Sequence[InboundMessage]], Awaitable[object]]
"""Stores buyer messages durably (deduplicating on ``(platform, external_id)``) before returning."""


def state_key(settings: MailSettings) -> str:
    """The ``ServerState`` key holding the mailbox's ``{"uidvalidity", "last_uid"}``.

    Args:
        settings: the mail settings.

    Returns:
        ``mail.imap.<user>@<host>/<folder>`` (hashed past the column's 200 characters).
    """
    key = f"mail.imap.{settings.imap_user or ''}@{settings.imap_host or ''}/{settings.imap_folder}"
    if len(key) > 200:
        key = "mail.imap." + hashlib.sha256(key.encode()).hexdigest()
    return key


async def _load_mark(runtime: Runtime, key: str) -> tuple[int | None, int | None]:
    async with runtime.session() as session:
        row = await session.get(ServerState, key)
        value = row.value if row is not None else None
    if value is None:
        return None, None
    try:
        data = json.loads(value)
        return _int(data.get("last_uid")), _int(data.get("uidvalidity"))
    except (ValueError, AttributeError):
        log.warning("mail intake: unreadable state under %s; starting over", key)
        return None, None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def _save_mark(runtime: Runtime, key: str, last_uid: int | None, uidvalidity: int) -> None:
    value = json.dumps({"uidvalidity": uidvalidity, "last_uid": last_uid})
    for attempt in range(2):
        async with runtime.session() as session:
            row = await session.get(ServerState, key)
            if row is None:
                session.add(ServerState(key=key, value=value))
            else:
                row.value = value
            try:
                await session.commit()
                return
            except IntegrityError:
                # Another replica created the row first; update it on the second go.
                await session.rollback()
                if attempt:
                    raise


async def offer_email(runtime: Runtime, email: InboundEmail) -> tuple[InboundMessage | None, int]:
    """Offer one decoded e-mail to every plugin's ``parse_lead_email``.

    Args:
        runtime: the runtime (its plugin registry).
        email: the decoded message.

    Returns:
        The first buyer message a plugin recognised (in registration order), or ``None``, and
        how many plugins failed on it (their errors are logged and otherwise ignored).
    """
    results = await call_fanout(runtime.registry, "parse_lead_email", email=email)
    found: InboundMessage | None = None
    errors = 0
    for result in results:
        if result.error is not None:
            errors += 1
            log.warning(
                "mail intake: plugin %s failed on message %s: %s: %s",
                result.plugin,
                email.message_id,
                type(result.error).__name__,
                result.error,
            )
        elif result.value is not None and not isinstance(result.value, InboundMessage):
            errors += 1
            log.warning(
                "mail intake: plugin %s returned %s, not an InboundMessage", result.plugin, type(result.value).__name__
            )
        elif result.value is not None and found is None:
            found = result.value
    return found, errors


async def poll_mailbox(
    runtime: Runtime,
    store: StoreMessages,
    *,
    batch_size: int = BATCH_SIZE,
    ssl_context: ssl.SSLContext | None = None,
) -> dict[str, int]:
    """Read the mail that arrived since the last poll and store the buyer messages it carries.

    Args:
        runtime: the runtime (mail settings, database, plugins).
        store: awaited once with every buyer message found (not called when there is none);
            must store them durably before returning. If it raises, the high-water mark stays
            where it was and the next poll reads the same mail again.
        batch_size: at most this many messages per poll.
        ssl_context: TLS context for the IMAP connection (default: the system's trust store).

    Returns:
        Counts: ``fetched`` (messages read), ``recognised`` (buyer messages found), ``stored``
        (handed to ``store``; its return value when that is an ``int``), ``ignored`` (no plugin
        recognised them), ``undecodable``, ``errors`` (plugin failures), ``more`` (1 when more
        mail waits beyond this batch: poll again soon), ``reset`` (1 when the folder's
        ``UIDVALIDITY`` changed). All zero when ``CASHOUT_MAIL_IMAP_HOST`` is unset.

    Raises:
        MailError: the mailbox could not be read (see :mod:`cashout_server.domain.mail.imap`).
    """
    summary = dict.fromkeys(("fetched", "recognised", "stored", "ignored", "undecodable", "errors", "more", "reset"), 0)
    settings = runtime.settings.mail
    if not settings.imap_host:
        return summary
    key = state_key(settings)
    last_uid, uidvalidity = await _load_mark(runtime, key)
    result = await fetch_new(
        settings, last_uid=last_uid, uidvalidity=uidvalidity, batch_size=batch_size, ssl_context=ssl_context
    )
    summary["fetched"] = len(result.emails)
    summary["more"] = int(result.more)
    summary["reset"] = int(result.reset)
    if result.reset:
        log.warning("mail intake: UIDVALIDITY of %s changed; reading recent mail again", settings.imap_folder)

    messages: list[InboundMessage] = []
    for fetched in result.emails:
        try:
            email = decode_email(fetched.raw, received_at=fetched.internal_date or datetime.now(UTC))
        except Exception:
            summary["undecodable"] += 1
            log.warning("mail intake: message UID %s could not be decoded", fetched.uid, exc_info=True)
            continue
        message, errors = await offer_email(runtime, email)
        summary["errors"] += errors
        if message is None:
            summary["ignored"] += 1
        else:
            messages.append(message)
    summary["recognised"] = len(messages)

    if messages:
        stored = await store(messages)
        summary["stored"] = stored if isinstance(stored, int) and not isinstance(stored, bool) else len(messages)
    await _save_mark(runtime, key, result.last_uid, result.uidvalidity)
    log.info(
        "mail intake: %d fetched, %d buyer messages, %d ignored, %d undecodable",
        summary["fetched"],
        summary["recognised"],
        summary["ignored"],
        summary["undecodable"],
    )
    return summary
