"""Sending through a real SMTP server (aiosmtpd on loopback), and what each failure means."""

from __future__ import annotations

import pytest
from cashout_test_support import free_port

from cashout_server import OutboundEmail, OutcomeUnknown, TransientError
from cashout_server.domain.mail.smtp import MailRefused, mailer_for, send_email
from cashout_server.settings import MailSettings
from cashout_server.testing.mailserver import SmtpServer

RELAY = "4f2c9a0e7b1d3e5f8a6c2b0d9e7f1a3c@reply.craigslist.org"


def reply(**changes: object) -> OutboundEmail:
    values: dict[str, object] = {
        "to": RELAY,
        "subject": "Re: mid century walnut dresser - $350",
        "text": "Hi Dana, yes it is still available. Saturday 10am works — see you then!",
        "in_reply_to": "<20261104022241.4f2c9a0e7b1d@reply.craigslist.org>",
    }
    values.update(changes)
    return OutboundEmail(**values)  # type: ignore[arg-type]


async def test_mail_arrives_threaded_and_in_utf8(smtp: SmtpServer) -> None:
    message_id = await send_email(smtp.settings(), reply(references=("<earlier@reply.craigslist.org>",)))
    (received,) = smtp.received
    assert received.mail_from == "seller@example.com"
    assert received.rcpt_tos == (RELAY,)
    msg = received.message()
    assert msg["From"] == "seller@example.com"
    assert msg["To"] == RELAY
    assert msg["Subject"] == "Re: mid century walnut dresser - $350"
    assert msg["Message-ID"] == message_id and message_id.endswith("@example.com>")
    assert msg["In-Reply-To"] == "<20261104022241.4f2c9a0e7b1d@reply.craigslist.org>"
    assert msg["References"].split() == [
        "<earlier@reply.craigslist.org>",
        "<20261104022241.4f2c9a0e7b1d@reply.craigslist.org>",
    ]
    assert msg["Date"] is not None
    assert msg.get_content_charset() == "utf-8"
    assert msg.get_content().strip() == "Hi Dana, yes it is still available. Saturday 10am works — see you then!"


async def test_sender_defaults_to_the_imap_user(smtp: SmtpServer) -> None:
    await send_email(smtp.settings(from_address=None, imap_user="pat@example.org"), reply())
    assert smtp.received[0].message()["From"] == "pat@example.org"


async def test_a_line_starting_with_a_dot_survives(smtp: SmtpServer) -> None:
    await send_email(smtp.settings(), reply(text="first\n.\n.second line"))
    assert smtp.received[0].message().get_content().splitlines() == ["first", ".", ".second line"]


async def test_temporary_refusal_is_transient() -> None:
    with SmtpServer(mode="tempfail") as server:
        with pytest.raises(TransientError, match="451") as caught:
            await send_email(server.settings(), reply())
        assert caught.value.details["smtp_code"] == 451
        assert server.received == []


async def test_permanent_refusal_is_mail_refused() -> None:
    with SmtpServer(mode="reject") as server, pytest.raises(MailRefused, match="550") as caught:
        await send_email(server.settings(), reply())
    assert caught.value.smtp_code == 550
    assert not isinstance(caught.value, TransientError | OutcomeUnknown)


async def test_no_answer_after_the_data_is_outcome_unknown() -> None:
    with SmtpServer(mode="hang") as server:
        with pytest.raises(OutcomeUnknown, match="may have been delivered"):
            await send_email(server.settings(timeout=1.0), reply())
        assert server.hung.is_set()


async def test_unreachable_server_is_transient() -> None:
    settings = MailSettings(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_tls="none", from_address="s@example.com")
    with pytest.raises(TransientError, match="cannot reach the SMTP server"):
        await send_email(settings, reply())


async def test_mailer_for_is_none_without_smtp(smtp: SmtpServer) -> None:
    assert mailer_for(MailSettings(smtp_host=None)) is None
    send = mailer_for(smtp.settings())
    assert send is not None
    await send(reply())
    assert len(smtp.received) == 1
