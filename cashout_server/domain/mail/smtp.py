"""Sending plugins' e-mail (replies to Craigslist relays) through the server's SMTP settings.

What a failure means for the sender, so that a reply is never sent twice and never lost:

* Nothing left this machine, or the server refused it *temporarily* (connection refused, TLS or
  login failure, a 4xx answer at any step, including the final answer to ``DATA``):
  :class:`~cashout_server.contract.TransientError`. Safe to retry.
* The message was sent after ``DATA`` and no final answer came (timeout, dropped connection):
  :class:`~cashout_server.contract.OutcomeUnknown`. The mail may have been delivered.
* The server refused the recipient or the message *permanently* (a 5xx answer, for example an
  expired relay address): :class:`MailRefused`, a direct
  :class:`~cashout_server.contract.PluginError` subclass. Nothing was delivered and sending it
  again unchanged will fail again, so a plugin turns it into work for a person (plugins cannot
  import this class: they catch ``PluginError`` after the kinds above, and
  ``details["smtp_code"]`` holds the server's code).
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import ssl
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from cashout_server.contract import OutboundEmail, OutcomeUnknown, PluginError, TransientError
from cashout_server.settings import MailSettings

__all__ = ["MailRefused", "build_message", "mailer_for", "send_email"]


class MailRefused(PluginError):
    """The SMTP server permanently refused the recipient or the message; nothing was delivered."""

    def __init__(self, message: str, *, smtp_code: int) -> None:
        super().__init__(message, smtp_code=smtp_code, permanent=True)
        self.smtp_code = smtp_code


def _sender(settings: MailSettings) -> str:
    sender = settings.from_address or settings.imap_user or settings.smtp_user
    if not sender or "@" not in sender:
        raise TransientError(
            "cashout has no sender address for e-mail: set CASHOUT_MAIL_FROM_ADDRESS (or an IMAP user that is "
            "an e-mail address)"
        )
    return sender


def build_message(settings: MailSettings, mail: OutboundEmail) -> EmailMessage:
    """The message as it will be sent: From, To, Subject, Date, Message-ID and threading headers.

    Args:
        settings: the mail settings (sender address).
        mail: what the plugin asked to send.

    Returns:
        A UTF-8 message; ``In-Reply-To`` and ``References`` thread it under ``mail.in_reply_to``.
    """
    sender = _sender(settings)
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = sender
    msg["To"] = mail.to
    msg["Subject"] = " ".join(mail.subject.split())
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[1])
    references = [ref for ref in mail.references if ref]
    if mail.in_reply_to:
        msg["In-Reply-To"] = mail.in_reply_to
        if mail.in_reply_to not in references:
            references.append(mail.in_reply_to)
    if references:
        msg["References"] = " ".join(references)
    msg["Auto-Submitted"] = "no"
    msg.set_content(mail.text, charset="utf-8")
    return msg


def _where(settings: MailSettings) -> str:
    return f"{settings.smtp_host}:{settings.smtp_port}"


def _refused(code: int, reply: bytes | str, what: str, settings: MailSettings) -> PluginError:
    said = reply.decode("utf-8", errors="replace") if isinstance(reply, bytes) else str(reply)
    said = " ".join(said.split())
    text = f"the SMTP server {_where(settings)} refused {what}: {code} {said}"
    if 400 <= code < 500:
        return TransientError(text, smtp_code=code)
    return MailRefused(text, smtp_code=code)


def _open(settings: MailSettings, context: ssl.SSLContext | None) -> smtplib.SMTP:
    host = settings.smtp_host or ""
    try:
        if settings.smtp_tls == "tls":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(
                host, settings.smtp_port, timeout=settings.timeout, context=context or ssl.create_default_context()
            )
        else:
            conn = smtplib.SMTP(host, settings.smtp_port, timeout=settings.timeout)
        try:
            conn.ehlo()
            if settings.smtp_tls == "starttls":
                conn.starttls(context=context or ssl.create_default_context())
                conn.ehlo()
            if settings.smtp_user:
                password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                conn.login(settings.smtp_user, password)
        except BaseException:
            conn.close()
            raise
        return conn
    except smtplib.SMTPAuthenticationError as exc:
        raise TransientError(
            f"the SMTP server {_where(settings)} refused the login of {settings.smtp_user!r} ({exc.smtp_code}); "
            "check CASHOUT_MAIL_SMTP_USER and CASHOUT_MAIL_SMTP_PASSWORD",
            smtp_code=exc.smtp_code,
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise TransientError(f"the SMTP server {_where(settings)} does not support {exc}") from exc
    except smtplib.SMTPResponseException as exc:
        raise TransientError(
            f"the SMTP server {_where(settings)} refused the session: {exc.smtp_code}", smtp_code=exc.smtp_code
        ) from exc
    except ssl.SSLError as exc:
        raise TransientError(f"TLS with the SMTP server {_where(settings)} failed: {exc.reason or exc}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise TransientError(f"cannot reach the SMTP server {_where(settings)}: {exc}") from exc


def _send(settings: MailSettings, msg: EmailMessage, recipient: str, context: ssl.SSLContext | None) -> None:
    sender = _sender(settings)
    conn = _open(settings, context)
    try:
        try:
            code, reply = conn.mail(sender)
            if code != 250:
                raise _refused(code, reply, f"the sender {sender}", settings)
            code, reply = conn.rcpt(recipient)
            if code not in (250, 251):
                raise _refused(code, reply, f"the recipient {recipient}", settings)
            code, reply = conn.docmd("DATA")
            if code != 354:
                raise _refused(code, reply, "the message (DATA)", settings)
        except (smtplib.SMTPException, OSError) as exc:
            if isinstance(exc, PluginError):
                raise
            raise TransientError(f"the SMTP server {_where(settings)} dropped the session: {exc}") from exc
        # From here on the server may have the message: no answer means the outcome is unknown.
        data = msg.as_bytes(policy=policy.SMTP)
        data = re.sub(rb"(?m)^\.", b"..", data)
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        try:
            conn.send(data + b".\r\n")
            code, reply = conn.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            raise OutcomeUnknown(
                f"the SMTP server {_where(settings)} gave no answer after the message was sent: "
                f"{type(exc).__name__}; it may have been delivered",
                to=recipient,
            ) from exc
        if code != 250:
            raise _refused(code, reply, "the message", settings)
    finally:
        try:
            conn.quit()
        except (TimeoutError, smtplib.SMTPException, OSError):
            conn.close()


async def send_email(settings: MailSettings, email: OutboundEmail, *, ssl_context: ssl.SSLContext | None = None) -> str:
    """Send one e-mail through the configured SMTP server.

    Args:
        settings: the mail settings (``smtp_host`` must be set).
        email: the recipient, subject, UTF-8 text and threading ids.
        ssl_context: the TLS context (default: the system's trusted certificates).

    Returns:
        The Message-ID the mail was sent with.

    Raises:
        TransientError: nothing was delivered and a retry may work (unreachable, TLS, login,
            a 4xx answer, no sender address configured).
        OutcomeUnknown: the message was sent and no final answer came back.
        MailRefused: the server permanently refused the recipient or the message (5xx).
    """
    if not settings.smtp_host:
        raise TransientError("cashout has no SMTP server: set CASHOUT_MAIL_SMTP_HOST")
    recipient = parseaddr(email.to)[1]
    if "@" not in recipient:
        raise MailRefused(f"{email.to!r} is not an e-mail address", smtp_code=553)
    msg = build_message(settings, email)
    await asyncio.to_thread(_send, settings, msg, recipient, ssl_context)
    return str(msg["Message-ID"])


def mailer_for(settings: MailSettings) -> Callable[[OutboundEmail], Awaitable[None]] | None:
    """The ``PluginContext.send_email`` callable for these settings.

    Args:
        settings: the mail settings.

    Returns:
        A coroutine function sending one :class:`OutboundEmail`, or ``None`` when no SMTP
        server is configured (plugins then hand the reply to a person).
    """
    if not settings.smtp_host:
        return None

    async def send(email: OutboundEmail) -> None:
        await send_email(settings, email)

    return send
