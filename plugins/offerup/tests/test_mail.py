"""OfferUp's notification e-mails become buyer messages and offers.

The fixtures are synthetic (see fixtures/PROVENANCE.md): no real OfferUp notification was
available, so these tests pin the tolerant parser's behaviour on plausible variants.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import cashout_offerup
import pytest

from cashout_server import Capability, InboundEmail, InboundMessage, Money
from cashout_server.testing.mailserver import load_email

FIXTURES = Path(__file__).parent / "fixtures"


def parse(name: str) -> InboundMessage | None:
    return cashout_offerup.parse_lead_email(load_email(FIXTURES / name))


def notification(subject: str, text: str, sender: str = "notifications@offerup.com") -> InboundEmail:
    return InboundEmail(
        message_id="<n1@offerup.com>",
        from_address=sender,
        from_name="OfferUp",
        to_addresses=("seller@example.com",),
        subject=subject,
        text=text,
        received_at=datetime(2026, 11, 10, tzinfo=UTC),
    )


def test_message_notification_html() -> None:
    message = parse("message.eml")
    assert message is not None
    assert message.platform == "offerup"
    assert message.external_id == "<0100018f2a1b3c4d-msg-5e6f7a8b@email.offerup.com>"
    assert message.sender_name == "Marcus"
    assert message.item_hint == "Mid-Century Walnut Dresser"
    assert message.body == "Hi, is this still available? I can pick up tonight after 7 near Capitol Hill."
    assert message.listing_external_id == "1712345678"
    assert message.thread_id == "7f3e2a1b-0c9d-4e8f-a7b6-5c4d3e2f1a0b"
    assert message.offer is None
    assert message.sender_handle is None
    assert message.sent_at == datetime(2026, 11, 10, 19, 3, 27, tzinfo=UTC)


def test_offer_notification_sets_the_offer() -> None:
    message = parse("offer.eml")
    assert message is not None
    assert message.offer == Money(amount_minor=28000, currency="USD")
    assert message.sender_name == "Jordan"
    assert message.item_hint == "Mid-Century Walnut Dresser"
    assert message.body == "Can do cash today if that works."
    assert message.thread_id == "2b9c8d7e-6f5a-4b3c-9d2e-1f0a9b8c7d6e"


def test_message_variant_with_name_line_and_wrapped_links() -> None:
    message = parse("message_variant.eml")
    assert message is not None
    assert message.sender_name == "Priya"
    assert message.item_hint == "Vintage Schwinn Cruiser"
    assert message.body == "Would you take $120? The tires look a bit flat in the photos."
    assert message.offer is None  # an amount in a chat message is not an OfferUp offer
    assert message.listing_external_id is None
    assert message.thread_id.startswith("mail-")


def test_offer_variant_without_quoted_words() -> None:
    message = parse("offer_variant.eml")
    assert message is not None
    assert message.offer == Money(amount_minor=21550, currency="USD")
    assert message.sender_name == "Alex W."
    assert message.item_hint == "Nintendo Switch OLED"
    assert message.body == "Alex W. offered $215.50 for Nintendo Switch OLED."
    assert message.listing_external_id == "1799988877"


def test_promotional_mail_from_offerup_is_not_a_lead() -> None:
    assert parse("promo.eml") is None


@pytest.mark.parametrize(
    ("subject", "name", "item", "amount"),
    [
        ("Sam sent you a message about Oak desk", "Sam", "Oak desk", None),
        ("New message from Sam about \u201cOak desk\u201d", "Sam", "Oak desk", None),
        ("You have a new message about Oak desk", None, "Oak desk", None),
        ("Sam offered $1,200 for Oak desk", "Sam", "Oak desk", 120000),
        ("New offer: $75 on Oak desk", None, "Oak desk", 7500),
        ("Sam made an offer of $75.50 on Oak desk \U0001f389", "Sam", "Oak desk", 7550),
    ],
)
def test_subject_wordings(subject: str, name: str | None, item: str, amount: int | None) -> None:
    message = cashout_offerup.parse_lead_email(notification(subject, "Open the OfferUp app to reply."))
    assert message is not None
    assert message.sender_name == name
    assert message.item_hint == item
    assert message.offer == (Money(amount_minor=amount) if amount is not None else None)
    assert message.body  # never empty: the headline stands in for unquoted words


def test_same_buyer_and_item_share_a_thread_without_an_inbox_link() -> None:
    first = cashout_offerup.parse_lead_email(notification("Sam sent you a message about Oak desk", "x"))
    second = cashout_offerup.parse_lead_email(notification("Sam offered $90 for Oak desk", "y"))
    other = cashout_offerup.parse_lead_email(notification("Kim sent you a message about Oak desk", "z"))
    assert first is not None and second is not None and other is not None
    assert first.thread_id == second.thread_id != other.thread_id


@pytest.mark.parametrize("sender", ["notifications@offerup.com.example", "offerup@gmail.com", "news@notofferup.com"])
def test_other_senders_are_ignored(sender: str) -> None:
    assert cashout_offerup.parse_lead_email(notification("Sam sent you a message about Oak desk", "", sender)) is None


def test_subdomains_of_offerupnow_are_accepted() -> None:
    mail = notification("Sam sent you a message about Oak desk", "", "no-reply@em.offerupnow.com")
    assert cashout_offerup.parse_lead_email(mail) is not None


def test_descriptor_does_not_claim_reply() -> None:
    caps = cashout_offerup.descriptor().capabilities
    assert Capability.REPLY not in caps
    assert not hasattr(cashout_offerup, "send_reply")
