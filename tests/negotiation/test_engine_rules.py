"""Each negotiation rule on a worked example, with the seller's explanation and the buyer's hint checked."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from cashout_server.domain.negotiation.engine import (
    BundleItem,
    NegotiationState,
    Strategy,
    bundle_strategy,
    decide,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# list $120, floor $90, accept at $114 (list - 5%); no daily concession so counters are easy to follow:
# counters 9000 + 3000 * 0.65 = 10950 -> $110, then 9000 + 2000 * 0.65 = 10300 -> $103, then 9845 -> $99.
PLAIN = Strategy.from_item(12000, 9000, {"daily_concession": 0})


def play(strategy: Strategy, offers: list[int]) -> list[tuple[str, int | None, str, str]]:
    state = NegotiationState()
    answers: list[tuple[str, int | None, str, str]] = []
    for index, offer in enumerate(offers):
        decision, state = decide(strategy, state, offer, now=T0 + timedelta(minutes=index))
        answers.append((decision.kind, decision.price_minor, decision.explanation, decision.buyer_message_hint))
    return answers


def test_accepts_an_offer_at_the_accept_at_price() -> None:
    decision, state = decide(PLAIN, NegotiationState(), 11400, now=T0)

    assert (decision.kind, decision.price_minor) == ("accept", 11400)
    assert "at or above the accept-at price $114" in decision.explanation
    assert decision.buyer_message_hint == "Deal: it's yours for $114."
    assert (state.status, state.agreed_minor) == ("agreed", 11400)


def test_an_offer_above_list_is_accepted_at_list_and_the_explanation_says_so() -> None:
    decision, state = decide(PLAIN, NegotiationState(), 15000, now=T0)

    assert (decision.kind, decision.price_minor, decision.reason) == ("accept", 12000, "above_list")
    assert decision.explanation == (
        "Offer $150 is above the list price; accepted at the list price $120 (never charge more than asked)."
    )
    assert "$120" in decision.buyer_message_hint and "$150" not in decision.buyer_message_hint
    assert state.agreed_minor == 12000


def test_counters_step_toward_the_floor_and_say_how_far() -> None:
    answers = play(PLAIN, [8000, 8000, 8000])

    assert [(kind, price) for kind, price, _, _ in answers] == [
        ("counter", 11000),
        ("counter", 10300),
        ("counter", 9900),
    ]
    assert answers[0][2] == (
        "Offer $80 is below the floor; countered at $110 "
        "(round 1 of 3, 33% of the way from the list price to the floor)."
    )
    assert answers[1][2] == (
        "Offer $80 is below the floor; countered at $103 (round 2 of 3, 35% closer to the floor than the last counter)."
    )
    assert answers[1][3] == "I can't do that, but I could do $103."
    # The last counter is presented as the best price.
    assert answers[2][3] == "The best I can do is $99."


def test_an_offer_between_floor_and_accept_at_gets_a_counter_that_says_why() -> None:
    decision, _ = decide(PLAIN, NegotiationState(), 9500, now=T0)

    assert (decision.kind, decision.price_minor) == ("counter", 11000)
    assert decision.explanation.startswith("Offer $95 is below the accept-at price; countered at $110")


def test_an_offer_meeting_the_last_counter_is_accepted() -> None:
    state = NegotiationState()
    _, state = decide(PLAIN, state, 8000, now=T0)
    decision, state = decide(PLAIN, state, 11000, now=T0 + timedelta(minutes=5))

    assert (decision.kind, decision.price_minor, decision.reason) == ("accept", 11000, "met_counter")
    assert "meets the last price named, $110" in decision.explanation
    assert state.status == "agreed"


def test_accepts_the_offer_rather_than_countering_at_or_below_it() -> None:
    state = NegotiationState()
    _, state = decide(PLAIN, state, 8000, now=T0)  # countered at $110; the next counter would be $103
    decision, _ = decide(PLAIN, state, 10500, now=T0 + timedelta(minutes=5))

    assert (decision.kind, decision.price_minor, decision.reason) == ("accept", 10500, "schedule_reached")
    assert "next scheduled counter ($103) would not be above it" in decision.explanation


def test_after_the_last_counter_a_floor_offer_is_accepted_and_a_lower_one_gets_a_final_price() -> None:
    state = NegotiationState()
    for minute in range(3):
        _, state = decide(PLAIN, state, 8000, now=T0 + timedelta(minutes=minute))
    assert (state.status, state.counters, state.last_counter_minor) == ("exhausted", 3, 9900)

    decision, state = decide(PLAIN, state, 8500, now=T0 + timedelta(minutes=10))
    assert (decision.kind, decision.price_minor, decision.reason) == ("decline", 9900, "final")
    assert decision.explanation == (
        "Offer $85 is below the floor and all 3 counters are used; declined with the final price $99."
    )
    assert decision.buyer_message_hint == "Sorry, $99 is the lowest I can go."
    assert state.counters == 3

    decision, state = decide(PLAIN, state, 9000, now=T0 + timedelta(minutes=11))
    assert (decision.kind, decision.price_minor) == ("accept", 9000)
    assert "at or above the floor and all 3 counters are used" in decision.explanation
    assert state.status == "agreed"


def test_no_counters_at_all_names_the_list_price_as_final() -> None:
    strategy = Strategy.from_item(12000, 9000, {"max_rounds": 0, "daily_concession": 0})

    decision, state = decide(strategy, NegotiationState(), 8000, now=T0)

    assert (decision.kind, decision.price_minor) == ("decline", 12000)
    assert "this item gets no counters" in decision.explanation
    assert state.status == "exhausted"


def test_a_repeat_lowballer_gets_one_counter_then_a_polite_decline() -> None:
    state = NegotiationState()
    first, state = decide(PLAIN, state, 3000, now=T0)
    assert (first.kind, first.reason) == ("counter", "lowball")
    assert "It is a lowball (below 60% of the floor; 1 of 1 tolerated)." in first.explanation
    assert first.buyer_message_hint == "That's a bit low. I could do $110."

    second, state = decide(PLAIN, state, 3500, now=T0 + timedelta(minutes=1))
    assert (second.kind, second.price_minor, second.reason) == ("decline", None, "repeat_lowball")
    assert "declined politely without a counter and the negotiation closed" in second.explanation
    assert not re.search(r"\d", second.buyer_message_hint)
    assert state.status == "declined"

    third, state = decide(PLAIN, state, 3000, now=T0 + timedelta(minutes=2))
    assert (third.kind, third.price_minor) == ("decline", None)
    assert state.counters == 1


def test_a_declined_lowballer_is_still_accepted_at_a_good_price_and_otherwise_left_to_the_seller() -> None:
    strategy = Strategy.from_item(12000, 9000, {"lowball_limit": 0, "daily_concession": 0})
    closed, state = decide(strategy, NegotiationState(), 1000, now=T0)
    assert (closed.kind, state.status) == ("decline", "declined")

    middling, state = decide(strategy, state, 9500, now=T0 + timedelta(minutes=1))
    assert (middling.kind, middling.price_minor) == ("hold", None)
    assert "declined earlier for lowballing" in middling.explanation

    good, state = decide(strategy, state, 11500, now=T0 + timedelta(minutes=2))
    assert (good.kind, good.price_minor, state.status) == ("accept", 11500, "agreed")


@pytest.mark.parametrize(
    ("offer", "phrase"),
    [(0, "is not a positive amount"), (-500, "is not a positive amount"), (12000 * 10 + 1, "over 10 times")],
)
def test_unreadable_offers_are_declined_without_using_a_round(offer: int, phrase: str) -> None:
    decision, state = decide(PLAIN, NegotiationState(), offer, now=T0)

    assert (decision.kind, decision.price_minor, decision.reason) == ("decline", 12000, "unreadable")
    assert phrase in decision.explanation
    assert decision.buyer_message_hint == "Sorry, I couldn't make sense of that offer. The price is $120."
    assert (state.status, state.rounds, state.counters, state.lowballs) == ("open", 0, 0, 0)
    assert [offer.amount_minor for offer in state.offers] == [offer]


def test_an_item_without_a_floor_is_firm_at_list() -> None:
    strategy = Strategy.from_item(5000, None, {})

    decision, _ = decide(strategy, NegotiationState(), 4500, now=T0)

    assert (decision.kind, decision.price_minor, decision.reason) == ("decline", 5000, "firm")
    assert "which is firm (the floor is the list price)" in decision.explanation
    assert decision.buyer_message_hint == "Sorry, the price is firm at $50."


def test_days_since_listing_lower_the_counter_and_are_explained() -> None:
    strategy = Strategy.from_item(12000, 9000, {"daily_concession": 0.05})

    fresh, _ = decide(strategy, NegotiationState(), 8000, now=T0, listed_at=T0)
    aged, _ = decide(strategy, NegotiationState(), 8000, now=T0, listed_at=T0 - timedelta(days=10, hours=5))

    assert fresh.price_minor == 11000
    # 3000 * 0.95**10 = 1796 above the floor after the days, then 35% of that off: 9000 + 1168 -> $102.
    assert aged.price_minor == 10200
    assert "10 days since listing" in aged.explanation
    assert "since listing" not in fresh.explanation


def test_without_listed_at_the_days_count_from_the_first_offer() -> None:
    strategy = Strategy.from_item(12000, 9000, {"daily_concession": 0.05, "round_concession": 0.1})
    state = NegotiationState()
    _, state = decide(strategy, state, 8000, now=T0)
    same_day, _ = decide(strategy, state, 8000, now=T0 + timedelta(hours=3))
    week_later, _ = decide(strategy, state, 8000, now=T0 + timedelta(days=7))

    assert week_later.price_minor is not None and same_day.price_minor is not None
    assert week_later.price_minor < same_day.price_minor
    assert "7 days since listing" in week_later.explanation


def test_a_bundle_offer_is_judged_against_the_summed_floors() -> None:
    items = [BundleItem(12000, 9000), BundleItem(6000, 5000)]
    decision, state = decide(PLAIN, NegotiationState(), 15000, now=T0, bundle=items)

    # Summed list $180 and floor $140: $150 is above the floor but below the bundle's accept-at ($171).
    assert decision.kind == "counter"
    assert decision.price_minor is not None and 15000 < decision.price_minor < 18000
    assert decision.explanation.startswith(
        "Bundle offer for 2 items, judged against their summed list price $180 and summed floor $140. "
    )
    assert decision.buyer_message_hint.endswith("for the bundle.")
    assert state.scope == "bundle:2:18000"

    below, _ = decide(PLAIN, NegotiationState(), 13000, now=T0, bundle=items)
    assert below.explanation.endswith(")."), below.explanation
    assert "is below the floor" in below.explanation


def test_a_bundle_offer_at_the_summed_floor_is_accepted_once_counters_are_used() -> None:
    strategy = Strategy.from_item(12000, 9000, {"max_rounds": 0})
    items = [BundleItem(12000, 9000), BundleItem(6000)]

    decision, _ = decide(strategy, NegotiationState(), 15000, now=T0, bundle=items)

    assert (decision.kind, decision.price_minor) == ("accept", 15000)


def test_bundle_strategy_sums_prices_and_keeps_the_discount() -> None:
    bundle = bundle_strategy(PLAIN, [BundleItem(12000, 9000), BundleItem(8000)])

    assert (bundle.list_minor, bundle.floor_minor, bundle.accept_at_minor) == (20000, 17000, 19000)
    assert (bundle.max_rounds, bundle.round_concession) == (PLAIN.max_rounds, PLAIN.round_concession)
    with pytest.raises(ValueError, match="at least one item"):
        bundle_strategy(PLAIN, [])


def test_switching_from_one_item_to_a_bundle_after_a_counter_needs_a_person() -> None:
    _, state = decide(PLAIN, NegotiationState(), 8000, now=T0)

    decision, after = decide(PLAIN, state, 15000, now=T0, bundle=[BundleItem(12000, 9000), BundleItem(6000)])

    assert (decision.kind, decision.price_minor, decision.reason) == ("hold", None, "scope")
    assert after.scope == "item" and after.last_counter_minor == 11000


def test_after_agreement_a_repeat_confirms_and_a_lower_offer_needs_a_person() -> None:
    _, state = decide(PLAIN, NegotiationState(), 11500, now=T0)

    again, state = decide(PLAIN, state, 11500, now=T0 + timedelta(minutes=1))
    assert (again.kind, again.price_minor) == ("accept", 11500)
    lower, state = decide(PLAIN, state, 10000, now=T0 + timedelta(minutes=2))
    assert (lower.kind, lower.reason) == ("hold", "renegotiation")
    assert "comes after the agreed $115" in lower.explanation
    assert (state.status, state.agreed_minor) == ("agreed", 11500)


def test_a_floor_raised_above_the_last_counter_is_never_crossed() -> None:
    _, state = decide(PLAIN, NegotiationState(), 8000, now=T0)  # countered at $110
    raised = Strategy.from_item(12000, 11500, {"daily_concession": 0})

    below, state = decide(raised, state, 11200, now=T0 + timedelta(minutes=1))
    assert (below.kind, below.price_minor) == ("hold", None)
    at_floor, _ = decide(raised, state, 11500, now=T0 + timedelta(minutes=2))
    assert (at_floor.kind, at_floor.price_minor) == ("accept", 11500)


def test_decide_leaves_the_given_state_alone_and_repeats_itself() -> None:
    state = NegotiationState()
    _, state = decide(PLAIN, state, 8000, now=T0)
    before = state.to_json()

    first = decide(PLAIN, state, 8500, now=T0 + timedelta(hours=1))
    second = decide(PLAIN, state, 8500, now=T0 + timedelta(hours=1))

    assert state.to_json() == before
    assert first[0] == second[0] and first[1].to_json() == second[1].to_json()


def test_naive_times_are_taken_as_utc() -> None:
    _, aware = decide(PLAIN, NegotiationState(), 8000, now=T0)
    _, naive = decide(PLAIN, NegotiationState(), 8000, now=T0.replace(tzinfo=None))

    assert aware.to_json() == naive.to_json()


def test_an_offer_that_is_not_a_whole_number_is_refused() -> None:
    with pytest.raises(ValueError, match="offer_minor"):
        decide(PLAIN, NegotiationState(), 80.5, now=T0)  # type: ignore[arg-type]
