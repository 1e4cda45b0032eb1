"""End to end: mail in a real Dovecot mailbox becomes buyer messages through the installed plugins."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cashout_craigslist
import pytest
from sqlalchemy import select

from cashout_server import InboundMessage, Money, NeedsAction, ReplyRequest, ReplySent
from cashout_server.db.models import ServerState
from cashout_server.domain.mail.intake import poll_mailbox, state_key
from cashout_server.domain.mail.smtp import mailer_for
from cashout_server.runtime import Runtime
from cashout_server.testing import make_context
from cashout_server.testing.mailserver import Dovecot, SmtpServer

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
CRAIGSLIST = ROOT / "plugins" / "craigslist" / "tests" / "fixtures"
OFFERUP = ROOT / "plugins" / "offerup" / "tests" / "fixtures"

# (file, platform or None when no plugin may claim it)
MAILBOX = [
    (CRAIGSLIST / "relay_plain.eml", "craigslist"),
    (CRAIGSLIST / "relay_html_only.eml", "craigslist"),
    (CRAIGSLIST / "relay_alternative.eml", "craigslist"),
    (CRAIGSLIST / "forwarded_inline.eml", "craigslist"),
    (CRAIGSLIST / "forwarded_attached.eml", "craigslist"),
    (HERE / "fixtures" / "relay_windows1252.eml", "craigslist"),
    (HERE / "fixtures" / "relay_latin1.eml", "craigslist"),
    (HERE / "fixtures" / "relay_iso2022jp.eml", "craigslist"),
    (HERE / "fixtures" / "relay_base64_attachment.eml", "craigslist"),
    (HERE / "fixtures" / "relay_wrong_charset.eml", "craigslist"),
    (HERE / "fixtures" / "newsletter.eml", None),
    (HERE / "fixtures" / "malformed.eml", None),
    (HERE / "fixtures" / "garbage.eml", None),
    (OFFERUP / "message.eml", "offerup"),
    (OFFERUP / "offer.eml", "offerup"),
    (OFFERUP / "promo.eml", None),
]


class Store:
    """The caller's store: records every batch it is given."""

    def __init__(self) -> None:
        self.batches: list[list[InboundMessage]] = []
        self.fail = False

    async def __call__(self, messages: Sequence[InboundMessage]) -> int:
        if self.fail:
            raise RuntimeError("database down")
        self.batches.append(list(messages))
        return len(messages)

    @property
    def messages(self) -> list[InboundMessage]:
        return [m for batch in self.batches for m in batch]


async def stored_mark(runtime: Runtime) -> dict[str, int] | None:
    async with runtime.session() as session:
        value = await session.scalar(
            select(ServerState.value).where(ServerState.key == state_key(runtime.settings.mail))
        )
    return json.loads(value) if value is not None else None


async def test_mailbox_to_buyer_messages(mail_runtime: Runtime, dovecot: Dovecot) -> None:
    for path, _ in MAILBOX:
        dovecot.deliver(path.read_bytes(), seen=path.name == "relay_plain.eml")
    flags_before = dovecot.flags()
    store = Store()

    summary = await poll_mailbox(mail_runtime, store)

    expected = [platform for _, platform in MAILBOX if platform]
    assert summary == {
        "fetched": len(MAILBOX),
        "recognised": len(expected),
        "stored": len(expected),
        "ignored": len(MAILBOX) - len(expected),
        "undecodable": 0,
        "errors": 0,
        "more": 0,
        "reset": 0,
    }
    assert len(store.batches) == 1
    assert [m.platform for m in store.messages] == expected

    by_id = {m.external_id: m for m in store.messages}
    dana = by_id["<20261104022241.4f2c9a0e7b1d@reply.craigslist.org>"]
    assert dana.thread_id == dana.sender_handle == "4f2c9a0e7b1d3e5f8a6c2b0d9e7f1a3c@reply.craigslist.org"
    assert dana.sender_name == "Dana Whitfield"
    assert dana.item_hint == "mid century walnut dresser"
    assert dana.listing_external_id == "7801234567"
    assert dana.body.endswith("Would you take $300 cash?\n\nThanks,\nDana")
    japanese = by_id["<relay.iso2022jp.20261108@reply.craigslist.org>"]
    assert japanese.sender_name == "山田 花子" and japanese.item_hint == "ソニー ウォークマン"
    forwarded = by_id["<20261106014509.1f2e3d4c@reply.craigslist.org>"]
    assert forwarded.thread_id == "1f2e3d4c5b6a79881726354453627180@reply.craigslist.org"
    offer = by_id["<20261110214002.offer.91ab@em.offerupnow.com>"]
    assert offer.offer == Money(amount_minor=28000, currency="USD")
    assert offer.sender_handle is None

    # The seller's unread marks are untouched.
    assert dovecot.flags() == flags_before

    mark = await stored_mark(mail_runtime)
    assert mark is not None and mark["last_uid"] == len(MAILBOX)

    # Nothing new: nothing fetched, store not called.
    again = await poll_mailbox(mail_runtime, store)
    assert again["fetched"] == 0 and len(store.batches) == 1

    # One more buyer mail: only it is fetched.
    dovecot.deliver((CRAIGSLIST / "relay_plain.eml").read_bytes().replace(b"<20261104022241", b"<20261105000000"))
    third = await poll_mailbox(mail_runtime, store)
    assert third["fetched"] == 1 and third["recognised"] == 1
    assert store.batches[-1][0].external_id == "<20261105000000.4f2c9a0e7b1d@reply.craigslist.org>"


async def test_a_failing_store_keeps_the_mail_for_the_next_poll(mail_runtime: Runtime, dovecot: Dovecot) -> None:
    dovecot.deliver((CRAIGSLIST / "relay_plain.eml").read_bytes())
    store = Store()
    store.fail = True
    with pytest.raises(RuntimeError, match="database down"):
        await poll_mailbox(mail_runtime, store)
    assert await stored_mark(mail_runtime) is None

    store.fail = False
    summary = await poll_mailbox(mail_runtime, store)
    assert summary["stored"] == 1
    assert store.messages[0].platform == "craigslist"


async def test_uidvalidity_change_reads_the_folder_again(
    mail_runtime: Runtime, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    dovecot.create_folder("Leads")
    mail_runtime.settings.mail.imap_folder = "Leads"
    dovecot.deliver((CRAIGSLIST / "relay_plain.eml").read_bytes(), folder="Leads")
    dovecot.deliver((CRAIGSLIST / "relay_html_only.eml").read_bytes(), folder="Leads")
    store = Store()
    assert (await poll_mailbox(mail_runtime, store))["recognised"] == 2
    before = await stored_mark(mail_runtime)

    dovecot.delete_folder("Leads")
    dovecot.create_folder("Leads")
    dovecot.deliver((CRAIGSLIST / "relay_alternative.eml").read_bytes(), folder="Leads")
    summary = await poll_mailbox(mail_runtime, store)

    assert summary["reset"] == 1 and summary["recognised"] == 1
    assert store.messages[-1].external_id == "<DM6PR11MB4010.namprd11.prod.outlook.com@outlook.com>"
    after = await stored_mark(mail_runtime)
    assert before is not None and after is not None
    assert after["uidvalidity"] != before["uidvalidity"] and after["last_uid"] == 1


async def test_intake_is_off_without_an_imap_host(mail_runtime: Runtime) -> None:
    mail_runtime.settings.mail.imap_host = None
    summary = await poll_mailbox(mail_runtime, Store())
    assert set(summary.values()) == {0}


async def test_craigslist_reply_reaches_the_relay_threaded(mail_runtime: Runtime, smtp: SmtpServer) -> None:
    send = mailer_for(mail_runtime.settings.mail)
    assert send is not None
    request = ReplyRequest(
        lead_external_id="4f2c9a0e7b1d3e5f8a6c2b0d9e7f1a3c@reply.craigslist.org",
        to_address="4f2c9a0e7b1d3e5f8a6c2b0d9e7f1a3c@reply.craigslist.org",
        body="Hi Dana, it is still available. Saturday at 10 works; $320 and it's yours.",
        idempotency_key="reply-1",
        subject="mid century walnut dresser - $350",
        in_reply_to="<20261104022241.4f2c9a0e7b1d@reply.craigslist.org>",
    )
    async with make_context("craigslist", base_url="http://127.0.0.1:9", send_email=send) as ctx:
        assert await cashout_craigslist.send_reply(ctx, request) == ReplySent()
        # A retry of the same reply does not mail the buyer twice.
        assert await cashout_craigslist.send_reply(ctx, request) == ReplySent()
    (received,) = smtp.received
    assert received.rcpt_tos == ("4f2c9a0e7b1d3e5f8a6c2b0d9e7f1a3c@reply.craigslist.org",)
    msg = received.message()
    assert msg["Subject"] == "Re: mid century walnut dresser - $350"
    assert msg["In-Reply-To"] == "<20261104022241.4f2c9a0e7b1d@reply.craigslist.org>"
    assert msg["References"] == "<20261104022241.4f2c9a0e7b1d@reply.craigslist.org>"
    assert msg["From"] == "seller@example.com"
    assert "$320 and it's yours." in msg.get_content()


async def test_craigslist_reply_refused_for_good_goes_to_a_person() -> None:
    with SmtpServer(mode="reject") as server:
        send = mailer_for(server.settings())
        request = ReplyRequest(
            lead_external_id="0a1b2c3d4e5f60718293a4b5c6d7e8f9@reply.craigslist.org",
            body="Yes, Saturday works.",
            idempotency_key="reply-2",
            subject="Re: Ikea Kallax shelf 4x4 white - $60",
        )
        async with make_context("craigslist", base_url="http://127.0.0.1:9", send_email=send) as ctx:
            outcome = await cashout_craigslist.send_reply(ctx, request)
    assert isinstance(outcome, NeedsAction)
    assert "550" in outcome.instructions
    assert outcome.copy["to"] == "0a1b2c3d4e5f60718293a4b5c6d7e8f9@reply.craigslist.org"
    assert outcome.copy["subject"] == "Re: Ikea Kallax shelf 4x4 white - $60"
