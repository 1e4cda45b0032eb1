"""Buyers' relay mail: recognising it (received or forwarded) and answering it by e-mail."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import cashout_craigslist
import pytest
from cashout_craigslist import _mail

from cashout_server import (
    Capability,
    InboundEmail,
    InboundMessage,
    NeedsAction,
    OutboundEmail,
    OutcomeUnknown,
    ReplyRequest,
    ReplySent,
    TransientError,
)
from cashout_server.testing import MemoryState, make_context
from cashout_server.testing.mailserver import load_email

FIXTURES = Path(__file__).parent / "fixtures"
RELAY = "4f2c9a0e7b1d3e5f8a6c2b0d9e7f1a3c@reply.craigslist.org"


def parse(name: str) -> InboundMessage | None:
    return cashout_craigslist.parse_lead_email(load_email(FIXTURES / name))


def test_plain_relay_mail() -> None:
    message = parse("relay_plain.eml")
    assert message is not None
    assert message.platform == "craigslist"
    assert message.external_id == "<20261104022241.4f2c9a0e7b1d@reply.craigslist.org>"
    assert message.thread_id == message.sender_handle == RELAY
    assert message.sender_name == "Dana Whitfield"
    assert message.body == (
        "Hi! Is the dresser still available? I could pick it up Saturday morning\n"
        "in Brooklyn. Would you take $300 cash?\n\nThanks,\nDana"
    )
    assert message.item_hint == "mid century walnut dresser"
    assert message.subject == "mid century walnut dresser - $350"
    assert message.listing_external_id == "7801234567"
    assert message.sent_at == datetime(2026, 11, 4, 2, 22, 41, tzinfo=UTC)
    assert message.offer is None


def test_html_only_relay_mail_drops_signature_and_footer() -> None:
    message = parse("relay_html_only.eml")
    assert message is not None
    assert message.body == (
        "Hello,\nis the Trek still for sale? I'm 5'10\", would the M frame fit me?\n\n"
        "I can come by after 6pm.\n\nMiguel"
    )
    assert message.item_hint == "Trek FX 2 hybrid bike"
    assert message.listing_external_id == "7798765432"


def test_reply_in_a_thread_drops_quoted_history_and_sign_off() -> None:
    message = parse("relay_alternative.eml")
    assert message is not None
    assert message.body == "Great, Saturday at 11 works. What is the cross street?"
    assert message.item_hint == "Ikea Kallax shelf 4x4 white"
    assert message.thread_id == "0a1b2c3d4e5f60718293a4b5c6d7e8f9@reply.craigslist.org"


def test_forwarded_inline_uses_the_original_sender() -> None:
    message = parse("forwarded_inline.eml")
    assert message is not None
    assert message.thread_id == message.sender_handle == "7c6b5a49382716f5e4d3c2b1a0918273@reply.craigslist.org"
    assert message.sender_name == "Lena Park"
    assert message.item_hint == "Vintage Pyrex mixing bowls (set of 4)"
    assert message.body.startswith("Hi, are the Pyrex bowls the primary colors set?")
    assert message.body.endswith("Lena")
    assert message.listing_external_id == "7805551212"


def test_forwarded_as_attachment_uses_the_original() -> None:
    message = parse("forwarded_attached.eml")
    assert message is not None
    assert message.external_id == "<20261106014509.1f2e3d4c@reply.craigslist.org>"
    assert message.thread_id == "1f2e3d4c5b6a79881726354453627180@reply.craigslist.org"
    assert message.sender_name == "Chris T."
    assert message.item_hint == 'Weber kettle grill 22"'
    assert message.body == "Does the grill come with the cover? I\u2019m in Oakland, can pick up tomorrow."
    assert message.sent_at == datetime(2026, 11, 6, 1, 45, 9, tzinfo=UTC)
    assert message.listing_external_id == "7806667788"


@pytest.mark.parametrize(
    "sender",
    [
        "someone@craigslist.org",
        "abc@sale.craigslist.org",  # the buyer-facing side of the relay, never a sender to the seller
        "abc@reply.craigslist.org.evil.example",
        "reply.craigslist.org@example.com",
    ],
)
def test_other_senders_are_not_leads(sender: str) -> None:
    mail = InboundEmail(
        message_id="<x@example.com>",
        from_address=sender,
        from_name=None,
        to_addresses=("seller@example.com",),
        subject="Trek bike - $250",
        text="Is it available?",
    )
    assert cashout_craigslist.parse_lead_email(mail) is None


@pytest.mark.parametrize(
    ("subject", "hint"),
    [
        ("Trek bike - $250", "Trek bike"),
        ("Re: RE: Fwd: Trek bike - $1,250.00", "Trek bike"),
        ("Trek bike", "Trek bike"),
        ("Trek bike (Oakland) \u2013 $250", "Trek bike (Oakland)"),
        ("", None),
    ],
)
def test_item_hint_from_subject(subject: str, hint: str | None) -> None:
    assert _mail.item_hint(subject) == hint


def test_descriptor_claims_reply_and_not_leads() -> None:
    desc = cashout_craigslist.descriptor()
    assert Capability.REPLY in desc.capabilities
    assert Capability.LEADS not in desc.capabilities


# --- send_reply ---------------------------------------------------------------------------


class Outbox:
    def __init__(self, *errors: Exception) -> None:
        self.sent: list[OutboundEmail] = []
        self.errors = list(errors)

    async def __call__(self, mail: OutboundEmail) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(mail)


def request(**changes: object) -> ReplyRequest:
    values: dict[str, object] = {
        "lead_external_id": RELAY,
        "to_address": RELAY,
        "body": "Yes, still available. Saturday at 10?",
        "idempotency_key": "key-1",
        "subject": "mid century walnut dresser - $350",
        "in_reply_to": "<20261104022241.4f2c9a0e7b1d@reply.craigslist.org>",
    }
    values.update(changes)
    return ReplyRequest(**values)  # type: ignore[arg-type]


async def test_reply_is_mailed_to_the_relay() -> None:
    outbox = Outbox()
    async with make_context("craigslist", base_url="http://127.0.0.1:9", send_email=outbox) as ctx:
        assert await cashout_craigslist.send_reply(ctx, request()) == ReplySent()
    assert outbox.sent == [
        OutboundEmail(
            to=RELAY,
            subject="Re: mid century walnut dresser - $350",
            text="Yes, still available. Saturday at 10?",
            in_reply_to="<20261104022241.4f2c9a0e7b1d@reply.craigslist.org>",
            references=("<20261104022241.4f2c9a0e7b1d@reply.craigslist.org>",),
        )
    ]


async def test_reply_keeps_an_existing_re_prefix_and_falls_back_to_the_thread() -> None:
    outbox = Outbox()
    async with make_context("craigslist", base_url="http://127.0.0.1:9", send_email=outbox) as ctx:
        await cashout_craigslist.send_reply(ctx, request(to_address=None, subject="RE: Trek bike"))
    assert outbox.sent[0].to == RELAY
    assert outbox.sent[0].subject == "RE: Trek bike"


async def test_without_smtp_a_person_sends_it() -> None:
    async with make_context("craigslist", base_url="http://127.0.0.1:9") as ctx:
        outcome = await cashout_craigslist.send_reply(ctx, request())
    assert isinstance(outcome, NeedsAction)
    assert "CASHOUT_MAIL_SMTP_HOST" in outcome.instructions
    assert outcome.url == f"mailto:{RELAY}"
    assert outcome.copy == {
        "to": RELAY,
        "subject": "Re: mid century walnut dresser - $350",
        "body": "Yes, still available. Saturday at 10?",
    }


async def test_not_a_relay_address_goes_to_a_person() -> None:
    outbox = Outbox()
    async with make_context("craigslist", base_url="http://127.0.0.1:9", send_email=outbox) as ctx:
        outcome = await cashout_craigslist.send_reply(ctx, request(to_address="buyer@example.net"))
    assert isinstance(outcome, NeedsAction)
    assert outbox.sent == []


async def test_transient_failure_can_be_retried() -> None:
    outbox = Outbox(TransientError("smtp down"))
    state = MemoryState()
    async with make_context("craigslist", base_url="http://127.0.0.1:9", send_email=outbox, state=state) as ctx:
        with pytest.raises(TransientError):
            await cashout_craigslist.send_reply(ctx, request())
        assert await cashout_craigslist.send_reply(ctx, request()) == ReplySent()
    assert len(outbox.sent) == 1


async def test_unknown_outcome_is_never_resent() -> None:
    outbox = Outbox(OutcomeUnknown("no answer after DATA"))
    async with make_context("craigslist", base_url="http://127.0.0.1:9", send_email=outbox) as ctx:
        with pytest.raises(OutcomeUnknown):
            await cashout_craigslist.send_reply(ctx, request())
        with pytest.raises(OutcomeUnknown, match="check your sent mail"):
            await cashout_craigslist.send_reply(ctx, request())
        # A new idempotency key (a person decided to send again) goes out.
        assert await cashout_craigslist.send_reply(ctx, request(idempotency_key="key-2")) == ReplySent()
    assert len(outbox.sent) == 1
