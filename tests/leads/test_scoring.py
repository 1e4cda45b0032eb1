"""Lead scores: ordering, explanations that add up and never reveal the floor, and refitting."""

from __future__ import annotations

import json
import math
import random

import pytest

from cashout_server.domain.leads.scoring import (
    DEFAULT_WEIGHTS,
    LeadFeatures,
    Weights,
    features_from,
    log_loss,
    refit,
    score,
)
from cashout_server.domain.leads.understanding import Intent, classify

LIST = 15000
FLOOR = 11300


def lead(*texts: str, floor: int | None = FLOOR, reply: float | None = 240.0, list_price: int = LIST) -> LeadFeatures:
    found = [classify(t, list_price_minor=list_price) for t in texts]
    return features_from(
        found, list(texts), list_price_minor=list_price, floor_price_minor=floor, buyer_reply_seconds=reply
    )


def test_scores_rank_serious_offer_over_question_over_lowball_over_scam() -> None:
    serious = score(lead("Hi! Would you take $125 cash? I can pick up tomorrow at 5"))
    question = score(lead("Is the price negotiable?"))
    lowball = score(lead("would you take 40"))
    scam = score(lead("I'm deployed overseas, I'll pay by Zelle and my mover will collect. Send me your email"))
    spam = score(lead("Earn $500 a day from home!! visit www.getrich.xyz"))
    assert serious.score > question.score > lowball.score > scam.score
    assert scam.score <= 3 and spam.score <= 5
    assert serious.score >= 75


def test_explanation_adds_up_and_names_the_offer_against_list_and_floor() -> None:
    result = score(lead("would you take 120?"))
    assert sum(p.points for p in result.explanation) == result.score
    offer = next(p for p in result.explanation if p.name == "offer_vs_list")
    assert offer.reason == "offer $120 is 80% of list, above floor"
    assert next(p for p in result.explanation if p.name == "offer_vs_floor").points > 0
    low = score(lead("would you take 100?"))
    floor_part = next(p for p in low.explanation if p.name == "offer_vs_floor")
    assert floor_part.points < 0 and "below floor" in floor_part.reason


@pytest.mark.parametrize(
    "texts",
    [
        ("would you take 120?",),
        ("would you take 100?",),
        ("Is this still available?", "ok would you do 115 cash tonight?"),
        ("Firm?",),
    ],
)
def test_the_floor_never_appears_in_an_explanation(texts: tuple[str, ...]) -> None:
    result = score(lead(*texts))
    text = " ".join(p.reason for p in result.explanation)
    assert "$113" not in text and "113.00" not in text and "11300" not in text
    assert "113" not in text


def test_scam_signals_take_the_score_away_and_say_so() -> None:
    result = score(lead("send me the 6 digit code google sent you so I know you're real"))
    assert result.score <= 2
    assert any(p.name == "scam_signals" and p.points <= 0 for p in result.explanation)
    assert any("scam" in p.reason for p in result.explanation)


def test_fast_polite_specific_buyers_score_higher() -> None:
    fast = score(lead("Is the price negotiable?", reply=30))
    slow = score(lead("Is the price negotiable?", reply=3 * 86400))
    assert fast.score > slow.score
    good = score(lead("Hi, does it come with the charger? Thanks!", reply=None))
    shouting = score(lead("DOES IT COME WITH THE CHARGER???", reply=None))
    linked = score(lead("does it come with the charger? see www.example-shop.com", reply=None))
    assert good.score > shouting.score and good.score > linked.score


def test_features_from_a_conversation() -> None:
    texts = ["Is this still available?", "would you take 100?", "ok 120 then, I can come at 6pm"]
    features = lead(*texts)
    assert features.intent is Intent.OFFER
    assert features.offer_minor == 12000
    assert features.message_count == 3 and features.mentions_specifics
    assert features.scam_signal_count == 0
    scam = lead("Is it available?", "I'll pay through zelle, my mover will pick up. check your email for confirmation")
    assert scam.intent is Intent.SCAM and scam.scam_signal_count >= 2 and scam.offer_minor is None
    shouting = lead("IS THIS STILL AVAILABLE I WANT IT NOW")
    assert shouting.all_caps and not shouting.polite


def test_without_list_or_floor_the_offer_still_scores() -> None:
    features = lead("would you take $120?", floor=None)
    result = score(features)
    assert all("floor" not in p.reason for p in result.explanation)
    assert 0 <= result.score <= 100


def test_weights_json_round_trip() -> None:
    changed = Weights(bias=-1.25, reply_speed=1.5)
    assert Weights.from_json(changed.to_json()) == changed
    assert Weights.from_json(json.dumps(changed.to_json())) == changed
    assert Weights.from_json({"reply_speed": 2.0, "retired_feature": 9}) == Weights(reply_speed=2.0)
    with pytest.raises(ValueError, match="finite"):
        Weights.from_json({"bias": math.nan})
    with pytest.raises(ValueError, match="finite"):
        Weights.from_json({"bias": "high"})


# ------------------------------------------------------------------ refit


def synthetic(n: int, seed: int) -> list[tuple[LeadFeatures, bool]]:
    """Leads whose outcome depends on reply speed much more, and on quality less, than the defaults say."""
    rng = random.Random(seed)
    intents = [Intent.OFFER, Intent.PICKUP, Intent.PRICE_QUESTION, Intent.QUESTION, Intent.AVAILABILITY]
    out = []
    for _ in range(n):
        intent = rng.choice(intents)
        reply = rng.choice([20.0, 60.0, 300.0, 1800.0, 7200.0, 40000.0, 200000.0])
        specifics = rng.random() < 0.5
        features = LeadFeatures(
            intent=intent,
            confidence=rng.uniform(0.6, 0.95),
            offer_minor=rng.randrange(6000, 15000) if intent is Intent.OFFER else None,
            list_price_minor=15000,
            floor_price_minor=10000,
            buyer_reply_seconds=reply,
            message_count=rng.randint(1, 5),
            text_length=rng.randint(10, 200),
            mentions_specifics=specifics,
            polite=rng.random() < 0.5,
        )
        speed = 1 - 2 * math.log1p(reply / 60) / math.log1p(1440)
        z = -0.5 + 3.0 * max(-1.0, min(1.0, speed)) + (0.8 if intent is Intent.OFFER else 0.0)
        out.append((features, rng.random() < 1 / (1 + math.exp(-z))))
    return out


def test_refit_needs_enough_samples_of_both_outcomes() -> None:
    data = synthetic(60, seed=1)
    assert refit(data[:39]) is None
    assert refit([(f, True) for f, _ in data]) is None
    assert refit(data[:10], min_samples=5) is not None


def test_refit_moves_weights_toward_the_outcomes_and_improves_held_out_loss() -> None:
    train, held_out = synthetic(300, seed=7), synthetic(300, seed=8)
    fitted = refit(train)
    assert fitted is not None
    assert fitted.reply_speed > DEFAULT_WEIGHTS.reply_speed + 0.5
    assert log_loss(held_out, fitted) < log_loss(held_out, DEFAULT_WEIGHTS) - 0.05
    # The fitted model ranks fast responders above slow ones by more than the default does.
    fast = LeadFeatures(Intent.QUESTION, 0.8, None, 15000, 10000, 30.0, 2)
    slow = LeadFeatures(Intent.QUESTION, 0.8, None, 15000, 10000, 100000.0, 2)
    gap_fitted = score(fast, fitted).score - score(slow, fitted).score
    gap_default = score(fast).score - score(slow).score
    assert gap_fitted > gap_default


def test_small_histories_move_the_weights_less_than_long_ones() -> None:
    data = synthetic(400, seed=3)
    small = refit(data[:40])
    large = refit(data)
    assert small is not None and large is not None
    base = DEFAULT_WEIGHTS.reply_speed
    assert 0 < small.reply_speed - base < large.reply_speed - base
