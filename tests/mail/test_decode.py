"""Decoding real-world mail shapes into what plugins see."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cashout_server.domain.mail.decode import decode_email, html_to_text

HERE = Path(__file__).parent
FOLDERS = (
    HERE / "fixtures",
    HERE.parent.parent / "plugins" / "craigslist" / "tests" / "fixtures",
    HERE.parent.parent / "plugins" / "offerup" / "tests" / "fixtures",
)


def load(name: str) -> bytes:
    for folder in FOLDERS:
        if (folder / name).exists():
            return (folder / name).read_bytes()
    raise FileNotFoundError(name)


def test_plain_text_relay_mail() -> None:
    mail = decode_email(load("relay_plain.eml"))
    assert mail.message_id == "<20261104022241.4f2c9a0e7b1d@reply.craigslist.org>"
    assert mail.from_address == "4f2c9a0e7b1d3e5f8a6c2b0d9e7f1a3c@reply.craigslist.org"
    assert mail.from_name == "Dana Whitfield"
    assert mail.to_addresses == ("seller@example.com",)
    assert mail.subject == "mid century walnut dresser - $350"
    assert mail.text.startswith("Hi! Is the dresser still available?")
    assert "original craigslist post:" in mail.text
    assert mail.html is None
    assert mail.received_at == datetime(2026, 11, 4, 2, 22, 41, tzinfo=UTC)


def test_html_only_mail_becomes_readable_text() -> None:
    mail = decode_email(load("relay_html_only.eml"))
    assert mail.html is not None and "<div" in mail.html
    lines = mail.text.split("\n")
    assert lines[:2] == ["Hello,", "is the Trek still for sale? I'm 5'10\", would the M frame fit me?"]
    assert "I can come by after 6pm." in lines
    # Styles and scripts never leak into the text.
    assert "margin" not in mail.text and "var x" not in mail.text


def test_html_to_text_keeps_breaks_and_drops_invisible_parts() -> None:
    html = (
        "<html><head><title>T</title><style>.a{color:red}</style></head><body>"
        "<p>One &amp; two</p><div>three<br>four</div><script>alert(1)</script>"
        "<table><tr><td>a</td><td>b</td></tr></table><ul><li>x</li><li>y</li></ul></body></html>"
    )
    assert html_to_text(html) == "One & two\n\nthree\nfour\n\na b\n\n- x\n\n- y"


def test_multipart_alternative_prefers_the_text_part() -> None:
    mail = decode_email(load("relay_alternative.eml"))
    assert mail.text.startswith("Great, Saturday at 11 works.")
    assert "> Yes it is still available." in mail.text
    assert mail.html is not None and "<blockquote>" in mail.html
    assert mail.headers["in-reply-to"] == "<172.seller.reply@example.com>"
    assert mail.headers["references"].split() == [
        "<20261104010101.aa@reply.craigslist.org>",
        "<172.seller.reply@example.com>",
    ]


@pytest.mark.parametrize(
    ("name", "subject", "from_name", "snippet"),
    [
        (
            "relay_windows1252.eml",
            "Commode en noyer \u2013 très bon état - $200",
            "Hélène Lefèvre",
            "m\u2019envoyer une photo de l\u2019intérieur",
        ),
        ("relay_latin1.eml", "Guitarra clásica Yamaha C40 - $180", "José Núñez", "¿sigue disponible la guitarra?"),
        ("relay_iso2022jp.eml", "ソニー ウォークマン - $40", "山田 花子", "ウォークマンはまだありますか"),
        (
            "relay_wrong_charset.eml",
            "Bistro cafe table - $90",
            "Renee Martin",
            "Is the café table still available? I\u2019m",
        ),
        ("relay_no_charset.eml", "Grey sectional sofa - $400", "Carlos Diaz", "I\u2019d pay $20 extra. Señor Díaz"),
    ],
)
def test_charsets_decode_to_the_right_characters(name: str, subject: str, from_name: str, snippet: str) -> None:
    mail = decode_email(load(name))
    assert mail.subject == subject
    assert mail.from_name == from_name
    assert snippet in mail.text
    assert "\ufffd" not in mail.text


def test_base64_and_quoted_printable_parts_and_attachments_ignored() -> None:
    mail = decode_email(load("relay_base64_attachment.eml"))
    assert mail.text.startswith("Hi there \u2014 interested in the espresso machine.")
    assert "I\u2019d offer $90" in mail.text
    assert mail.html is not None and "I\u2019d offer $90" in mail.html
    assert "IMG_2041" not in mail.text


def test_attached_forward_exposes_the_original() -> None:
    mail = decode_email(load("forwarded_attached.eml"))
    assert mail.from_address == "pat.seller@yahoo.com"
    assert mail.text == "forwarding a buyer from my other account"
    assert mail.headers["x-cashout-forwarded-from"] == "1f2e3d4c5b6a79881726354453627180@reply.craigslist.org"
    assert mail.headers["x-cashout-forwarded-from-name"] == "Chris T."
    assert mail.headers["x-cashout-forwarded-subject"] == 'Weber kettle grill 22" - $80'
    assert mail.headers["x-cashout-forwarded-message-id"] == "<20261106014509.1f2e3d4c@reply.craigslist.org>"
    assert mail.headers["x-cashout-forwarded-date"] == "2026-11-06T01:45:09+00:00"
    assert mail.headers["x-cashout-forwarded-text"].startswith(
        "Does the grill come with the cover? I\u2019m in Oakland"
    )


def test_inline_forward_exposes_the_original() -> None:
    mail = decode_email(load("forwarded_inline.eml"))
    assert mail.headers["x-cashout-forwarded-from"] == "7c6b5a49382716f5e4d3c2b1a0918273@reply.craigslist.org"
    assert mail.headers["x-cashout-forwarded-from-name"] == "Lena Park"
    assert mail.headers["x-cashout-forwarded-subject"] == "Vintage Pyrex mixing bowls (set of 4) - $45"
    assert mail.headers["x-cashout-forwarded-text"].startswith("Hi, are the Pyrex bowls the primary colors set?")


def test_forwarded_headers_cannot_be_forged_by_the_sender() -> None:
    raw = (
        b"From: someone@example.net\r\nX-Cashout-Forwarded-From: fake@reply.craigslist.org\r\n"
        b"Subject: hi\r\nMessage-ID: <x@example.net>\r\n\r\nhello\r\n"
    )
    assert "x-cashout-forwarded-from" not in decode_email(raw).headers


def test_newsletter_headers_are_kept() -> None:
    mail = decode_email(load("newsletter.eml"))
    assert mail.headers["list-id"] == "The Flip Report <weekly.flipreport.example>"
    assert mail.headers["precedence"] == "bulk"


@pytest.mark.parametrize("name", ["malformed.eml", "garbage.eml"])
def test_malformed_mail_decodes_without_raising(name: str) -> None:
    raw = load(name)
    mail = decode_email(raw, received_at=datetime(2026, 11, 1, tzinfo=UTC))
    assert mail.from_address == ""
    assert mail.received_at == datetime(2026, 11, 1, tzinfo=UTC)
    # A stable made-up id, so the same broken mail is recognised as the same message.
    assert mail.message_id.endswith("@no-message-id.cashout.invalid>")
    assert decode_email(raw).message_id == mail.message_id


def test_offerup_html_notification_text() -> None:
    mail = decode_email(load("message.eml"))
    assert mail.from_address == "notifications@offerup.com"
    assert "Marcus sent you a message" in mail.text.split("\n")
    assert "\u201cHi, is this still available? I can pick up tonight after 7 near Capitol Hill.\u201d" in mail.text
    assert "font-family" not in mail.text
