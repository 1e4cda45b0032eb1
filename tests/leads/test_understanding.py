"""Message understanding: offer amounts, intents, scam signals and confidence."""

from __future__ import annotations

import pytest

from cashout_server.domain.leads.understanding import Intent, classify, parse_offer_amount


@pytest.mark.parametrize(
    ("text", "list_price", "expected"),
    [
        ("would you take 120", 15000, 12000),
        ("$95 cash today", 12000, 9500),
        ("1.2k", 150000, 120000),
        ("Will you accept 1.2k?", None, 120000),
        ("120 bucks", 15000, 12000),
        ("I can do 85.50", 10000, 8550),
        ("offer 100$", 13000, 10000),
        ("150 for both", 10000, 15000),
        ("Would you take $1,100 for it?", 130000, 110000),
        ("would you take a hundred?", 15000, 10000),
        ("would you take eighty", 10000, 8000),
        ("wud u take 2 hundred for the pair", 26000, 20000),
        ("55?", 7000, 5500),
        ("I paid 300 for mine, would you take 150?", 20000, 15000),
        ("you're asking 400, would you do 320?", 40000, 32000),
        ("Can I come at 5pm and give you 60?", 8000, 6000),
        ("I can pick up at 6 and pay 45", 5000, 4500),
        ("Would you take 120 for the 2019 model?", 15000, 12000),
        ("€80 and I'll pick it up", 10000, 8000),
        # numbers that are not offers
        ("Is it the 2015 model?", 15000, None),
        ("Is this the iPhone 12 or 13?", 30000, None),
        ("Does the PS5 come with 2 controllers?", 40000, None),
        ("Is it 27 inch?", 20000, None),
        ("call me at 555-123-4567", 15000, None),
        ("can I come at 5pm?", 15000, None),
        ("I can come around 6", 1500, None),
        ("Does it fit a 60x80 bed?", 20000, None),
        ("I need 3 chairs", 4000, None),
        ("Is it 64gb?", 30000, None),
        ("I paid 300 for mine new", 20000, None),
        ("It's 200 on amazon new", 15000, None),
        ("Is the $150 firm?", 15000, None),
        ("is 150 firm?", 15000, None),
        ("What's the storage, 128 or 256?", 30000, None),
        ("ship to 94110?", 5000, None),
        ("Is it still available? I'm 20 minutes away", 5000, None),
        ("I have 2 kids and need a bigger one, is this available", 15000, None),
        ("Hi, 3000 people viewed your listing", 15000, None),
        ("Is this available", 15000, None),
    ],
)
def test_offer_amounts(text: str, list_price: int | None, expected: int | None) -> None:
    assert parse_offer_amount(text, list_price_minor=list_price) == expected


def test_an_amount_far_above_the_list_price_in_a_plain_message_is_no_offer() -> None:
    # A plain number 20x the list price is not an offer...
    assert parse_offer_amount("2400?", list_price_minor=12000) is None
    assert parse_offer_amount("I've got 2400 followers, dm me", list_price_minor=12000) is None
    # ...while the same shape near the list price is, and without a list price a plain amount is taken.
    assert parse_offer_amount("100?", list_price_minor=12000) == 10000
    assert parse_offer_amount("2400?") == 240000


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Available?", Intent.AVAILABILITY),
        ("is this still avail?", Intent.AVAILABILITY),
        ("u still have it", Intent.AVAILABILITY),
        ("Still have it?", Intent.AVAILABILITY),
        ("IS THIS STILL AVAILABLE", Intent.AVAILABILITY),
        ("whats ur lowest pls", Intent.PRICE_QUESTION),
        ("Is the price negotiable?", Intent.PRICE_QUESTION),
        ("Firm?", Intent.PRICE_QUESTION),
        ("would you take 120?", Intent.OFFER),
        ("Can I pick it up tmrw after 5?", Intent.PICKUP),
        ("where r u located", Intent.PICKUP),
        ("omw, there in 10", Intent.PICKUP),
        ("do u ship?", Intent.SHIPPING),
        ("How much would shipping be to 10001?", Intent.SHIPPING),
        ("Does it come with the charger?", Intent.QUESTION),
        ("any scratches?", Intent.QUESTION),
        ("thx!", Intent.OTHER),
        ("ok sounds good 👍", Intent.OTHER),
        ("never mind, found one", Intent.OTHER),
        ("Get 10k followers fast, link in bio", Intent.SPAM),
        ("We do SEO for your business, rank #1 on google", Intent.SPAM),
    ],
)
def test_intents(text: str, intent: Intent) -> None:
    assert classify(text, list_price_minor=15000).intent is intent


def test_several_intents_keep_the_others_as_secondary() -> None:
    found = classify("Hi is this still available? I can do $100 cash today", list_price_minor=15000)
    assert found.intent is Intent.OFFER and found.offer_minor == 10000
    assert Intent.AVAILABILITY in found.secondary
    assert "available" in found.reason and "$100" in found.reason


def test_bundles() -> None:
    assert classify("150 for both?", list_price_minor=10000).bundle
    assert classify("would you do 250 for all three?", list_price_minor=10000).bundle
    assert classify("if I buy the two would you do a deal?", list_price_minor=10000).bundle
    assert not classify("would you take 80?", list_price_minor=10000).bundle


@pytest.mark.parametrize(
    ("text", "signal"),
    [
        ("I'll pay with Zelle now and my mover will come collect it", "off_platform_payment"),
        ("Can I pay with Apple gift cards?", "off_platform_payment"),
        ("I'll pay through paypal friends and family, my cousin will pick up", "off_platform_payment"),
        ("I can wire transfer the money today, my agent will collect", "off_platform_payment"),
        ("can you send me the 6-digit code I just texted you?", "verification_code"),
        ("Google Voice will text you a code, read it back to me so I know you're real", "verification_code"),
        ("I'll send a certified cheque for more than the price, refund the difference", "overpayment"),
        ("I sent extra by mistake, please send back the difference via zelle", "overpayment"),
        ("My moving company will collect it once paid, I'm out of state", "third_party_pickup"),
        ("I already paid, payment pending, check your email for the confirmation", "fake_payment"),
        ("Funds will be released once you provide the tracking number", "fake_payment"),
        ("I'm deployed offshore, can you ship it? I'll pay by cashapp", "away_from_home"),
        ("is this your listing? bit.ly/3kPz9 confirm here", "suspicious_link"),
        ("To verify you are real send your full name, email and phone number", "personal_info"),
        ("text me on whatsapp +44 7700 900123", "off_platform_contact"),
    ],
)
def test_scam_signals(text: str, signal: str) -> None:
    found = classify(text, list_price_minor=20000)
    assert found.intent is Intent.SCAM
    assert signal in {s.name for s in found.scam_signals}
    assert signal in found.reason
    assert all(s.reason for s in found.scam_signals)
    assert found.offer_minor is None


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Can I pay with venmo when I pick up?", Intent.PICKUP),
        ("I'll pay cash, can you send the address?", Intent.PICKUP),
        ("My husband will pick it up at 6, is that ok?", Intent.PICKUP),
        ("Can you ship? I'll pay with PayPal goods and services", Intent.SHIPPING),
        ("What's the zip code so I can see how far you are?", Intent.PICKUP),
        ("I sent you the $20 deposit on venmo, see you at 5", Intent.PICKUP),
        ("Can I have my movers grab it Saturday? They'll pay cash when they come", Intent.PICKUP),
        ("Will you take $200 via Zelle at pickup?", Intent.OFFER),
        ("Here it is on amazon: https://www.amazon.com/dp/B0TEST, same model?", Intent.QUESTION),
    ],
)
def test_honest_messages_that_look_like_scams(text: str, intent: Intent) -> None:
    found = classify(text, list_price_minor=25000)
    assert found.intent is intent


def test_scam_beats_every_other_intent() -> None:
    found = classify(
        "Is it still available? Would you take $200? I'll pay through zelle and my courier picks it up",
        list_price_minor=25000,
    )
    assert found.intent is Intent.SCAM
    assert Intent.AVAILABILITY in found.secondary


def test_confidence_tracks_the_strength_of_the_cues() -> None:
    strong = classify("Is this still available? Do you still have it?")
    single = classify("for sale?")
    nothing = classify("hmm")
    assert strong.confidence > single.confidence > nothing.confidence
    assert strong.confidence >= 0.8 and nothing.confidence < 0.5
    many = classify("I'm deployed, I'll pay via zelle, my mover will collect, send the code I texted you")
    one = classify("Text me on whatsapp please")
    assert many.confidence > 0.9
    assert one.intent is not Intent.SCAM  # one weak hint is not enough...
    assert "off_platform_contact" in {s.name for s in one.scam_signals}  # ...but it is reported
    clear_offer = classify("I can do $120 cash today", list_price_minor=15000)
    vague_offer = classify("120?", list_price_minor=15000)
    assert clear_offer.confidence > vague_offer.confidence
    assert 0.0 <= vague_offer.confidence <= 1.0


def test_subject_words_count_but_its_price_is_not_an_offer() -> None:
    found = classify("", subject="Re: Oak dresser - $150 (Oakland)", list_price_minor=15000)
    assert found.offer_minor is None and found.intent is not Intent.OFFER
    asked = classify("hi there", subject="Is this still available?")
    assert asked.intent is Intent.AVAILABILITY


def test_long_messages_and_empty_ones() -> None:
    long = classify(
        "Hi there! I saw your listing for the walnut dining table and my partner and I have been looking for "
        "something like it since we moved. Does it come with the leaves, and are there water marks on the top? "
        "Would you be open to 350 if we pick up this weekend? Thanks so much!",
        list_price_minor=45000,
    )
    assert long.intent is Intent.OFFER and long.offer_minor == 35000
    assert {Intent.PICKUP, Intent.QUESTION} <= set(long.secondary)
    empty = classify("   ")
    assert empty.intent is Intent.OTHER and empty.confidence < 0.3
