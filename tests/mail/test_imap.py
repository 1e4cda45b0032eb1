"""Reading a real Dovecot mailbox: new mail by UID, read-only, over plain IMAP, STARTTLS and TLS."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cashout_test_support import free_port
from pydantic import SecretStr

from cashout_server.domain.mail.imap import (
    MailAuthError,
    MailConnectionError,
    MailProtocolError,
    MailTLSError,
    fetch_new,
    imap_utf7,
)
from cashout_server.testing.mailserver import Dovecot

FIXTURES = Path(__file__).parent / "fixtures"


def message(n: int) -> bytes:
    return (
        f"From: Buyer {n} <buyer{n}@example.net>\r\nTo: seller@example.com\r\nSubject: Question {n}\r\n"
        f"Message-ID: <q{n}@example.net>\r\nDate: Mon, 09 Nov 2026 10:00:00 +0000\r\n\r\nIs item {n} available?\r\n"
    ).encode()


async def test_first_look_fetches_everything_then_only_what_is_new(dovecot: Dovecot) -> None:
    uids = [dovecot.deliver(message(n)) for n in range(3)]
    settings = dovecot.settings()

    first = await fetch_new(settings, last_uid=None, uidvalidity=None)
    assert [m.uid for m in first.emails] == uids
    assert [m.raw.split(b"\r\n")[2] for m in first.emails] == [
        b"Subject: Question 0",
        b"Subject: Question 1",
        b"Subject: Question 2",
    ]
    assert first.last_uid == uids[-1]
    assert first.more is False and first.reset is False
    assert all(m.internal_date is not None for m in first.emails)

    again = await fetch_new(settings, last_uid=first.last_uid, uidvalidity=first.uidvalidity)
    assert again.emails == []
    assert again.last_uid == first.last_uid

    new_uid = dovecot.deliver(message(3))
    later = await fetch_new(settings, last_uid=first.last_uid, uidvalidity=first.uidvalidity)
    assert [m.uid for m in later.emails] == [new_uid]
    assert later.last_uid == new_uid


async def test_reading_leaves_unread_mail_unread(dovecot: Dovecot) -> None:
    unread = dovecot.deliver(message(1))
    read = dovecot.deliver(message(2), seen=True)
    before = dovecot.flags()
    assert "\\Seen" not in before[unread] and "\\Seen" in before[read]

    result = await fetch_new(dovecot.settings(), last_uid=None, uidvalidity=None)
    assert len(result.emails) == 2
    assert dovecot.flags() == before


async def test_batches_are_bounded_and_continue_where_they_stopped(dovecot: Dovecot) -> None:
    uids = [dovecot.deliver(message(n)) for n in range(5)]
    settings = dovecot.settings()
    first = await fetch_new(settings, last_uid=None, uidvalidity=None, batch_size=2)
    assert [m.uid for m in first.emails] == uids[:2] and first.more is True
    second = await fetch_new(settings, last_uid=first.last_uid, uidvalidity=first.uidvalidity, batch_size=2)
    assert [m.uid for m in second.emails] == uids[2:4] and second.more is True
    third = await fetch_new(settings, last_uid=second.last_uid, uidvalidity=second.uidvalidity, batch_size=2)
    assert [m.uid for m in third.emails] == uids[4:] and third.more is False


async def test_a_new_uidvalidity_starts_over(dovecot: Dovecot) -> None:
    dovecot.create_folder("Leads")
    settings = dovecot.settings(imap_folder="Leads")
    for n in range(3):
        dovecot.deliver(message(n), folder="Leads")
    first = await fetch_new(settings, last_uid=None, uidvalidity=None)
    assert first.last_uid == 3

    # The folder is recreated: UIDs start again at 1, below the stored high-water mark.
    dovecot.delete_folder("Leads")
    dovecot.create_folder("Leads")
    dovecot.deliver(message(7), folder="Leads")
    after = await fetch_new(settings, last_uid=first.last_uid, uidvalidity=first.uidvalidity)
    assert after.reset is True
    assert after.uidvalidity != first.uidvalidity
    assert [m.uid for m in after.emails] == [1]
    assert b"Subject: Question 7" in after.emails[0].raw
    assert after.last_uid == 1


async def test_folder_names_outside_ascii(dovecot: Dovecot) -> None:
    assert imap_utf7("Käufer & Co") == "K&AOQ-ufer &- Co"
    dovecot.create_folder(imap_utf7("Käufer"))
    dovecot.deliver(message(1), folder=imap_utf7("Käufer"))
    result = await fetch_new(dovecot.settings(imap_folder="Käufer"), last_uid=None, uidvalidity=None)
    assert len(result.emails) == 1


async def test_missing_folder_is_named(dovecot: Dovecot) -> None:
    with pytest.raises(MailProtocolError, match="CASHOUT_MAIL_IMAP_FOLDER") as caught:
        await fetch_new(dovecot.settings(imap_folder="Nope"), last_uid=None, uidvalidity=None)
    assert "'Nope'" in str(caught.value)


async def test_wrong_password_names_the_settings_and_never_the_password(dovecot: Dovecot) -> None:
    secret = "hunter2-wrong-password"
    settings = dovecot.settings(imap_password=SecretStr(secret))
    with pytest.raises(MailAuthError) as caught:
        await fetch_new(settings, last_uid=None, uidvalidity=None)
    text = str(caught.value)
    assert "CASHOUT_MAIL_IMAP_USER" in text and "CASHOUT_MAIL_IMAP_PASSWORD" in text
    assert secret not in text
    assert caught.value.__cause__ is None and caught.value.__context__ is not None
    assert secret not in repr(caught.value.__context__)


async def test_connection_refused(dovecot: Dovecot) -> None:
    settings = dovecot.settings(imap_port=free_port())
    with pytest.raises(MailConnectionError, match="refused"):
        await fetch_new(settings, last_uid=None, uidvalidity=None)


async def test_implicit_tls_with_a_trusted_certificate(dovecot_tls: Dovecot) -> None:
    dovecot_tls.deliver(message(1))
    settings = dovecot_tls.settings(imap_tls="tls", imap_port=dovecot_tls.imaps_port)
    result = await fetch_new(settings, last_uid=None, uidvalidity=None, ssl_context=dovecot_tls.ssl_context())
    assert len(result.emails) == 1


async def test_starttls(dovecot_tls: Dovecot) -> None:
    dovecot_tls.deliver(message(1))
    settings = dovecot_tls.settings(imap_tls="starttls")
    result = await fetch_new(settings, last_uid=None, uidvalidity=None, ssl_context=dovecot_tls.ssl_context())
    assert len(result.emails) == 1


async def test_untrusted_certificate_is_a_tls_error(dovecot_tls: Dovecot) -> None:
    settings = dovecot_tls.settings(imap_tls="tls", imap_port=dovecot_tls.imaps_port)
    with pytest.raises(MailTLSError, match="TLS with the IMAP server"):
        await fetch_new(settings, last_uid=None, uidvalidity=None, ssl_context=ssl.create_default_context())


async def test_tls_against_a_plain_port_is_a_tls_error(dovecot: Dovecot) -> None:
    settings = dovecot.settings(imap_tls="tls")
    with pytest.raises(MailTLSError, match="993"):
        await fetch_new(settings, last_uid=None, uidvalidity=None)
