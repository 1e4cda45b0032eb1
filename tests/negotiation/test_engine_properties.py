"""Properties of the negotiation engine for any strategy and any run of buyer offers.

For every strategy (floor at most list, any valid overrides) and every sequence of offers (repeats,
rises, drops, zero, negative, huge) at non-decreasing times:

1. no accepted or named price is below the floor;
2. the prices named to the buyer (counters and final prices) never go up;
3. nothing is accepted above the list price;
4. a buyer hint names no amount but the decided price, so never the floor unless that is the price;
5. the state survives a JSON round trip;
6. the same inputs give the same decisions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cashout_server.domain.negotiation.engine import (
    BundleItem,
    Decision,
    NegotiationState,
    Strategy,
    bundle_strategy,
    decide,
    format_money,
)
from cashout_server.text import minor_unit

SETTINGS = settings(max_examples=300, deadline=None)
CURRENCIES = ["USD", "EUR", "GBP", "JPY", "KWD", "CHF"]
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


# Strategies are built once at import: building them inside every draw is what makes a run slow.
SHARE = st.floats(0.0, 1.0)
OVERRIDES = st.fixed_dictionaries(
    {},
    optional={
        "accept_at_share": SHARE,
        "max_rounds": st.integers(0, 20),
        "round_concession": st.floats(0.0, 1.0, exclude_min=True),
        "daily_concession": st.floats(0.0, 0.5),
        "lowball_fraction": st.floats(0.0, 1.0, exclude_min=True),
        "lowball_limit": st.integers(0, 20),
    },
)
PRICE = st.integers(1, 10**9) | st.sampled_from([1, 2, 99, 100, 101, 999, 1000, 12000])
# An offer is a share of the list price (most offers are near it) or any integer at all.
OFFER = st.one_of(
    st.tuples(st.just("share"), st.floats(0.0, 1.3)),
    st.tuples(st.just("share"), st.floats(0.0, 1.3)),
    st.tuples(st.just("raw"), st.integers(-(10**6), 10**15)),
    st.tuples(st.just("raw"), st.sampled_from([0, 1, -1])),
    st.tuples(st.just("list"), st.integers(-1, 1)),
)
GAP = st.sampled_from([timedelta(0), timedelta(minutes=5), timedelta(hours=20), timedelta(days=3)]) | st.timedeltas(
    timedelta(0), timedelta(days=400)
)
STEP = st.tuples(OFFER, GAP, st.booleans())


def floor_of(list_minor: int, share: float | None) -> int | None:
    return None if share is None else max(1, min(list_minor, round(list_minor * share)))


@st.composite
def strategies(draw: st.DrawFn) -> Strategy:
    list_minor = draw(PRICE)
    floor_minor = floor_of(list_minor, draw(st.none() | SHARE))
    floor = list_minor if floor_minor is None else floor_minor
    overrides: dict[str, object] = dict(draw(OVERRIDES))
    if "accept_at_share" in overrides:
        share = overrides.pop("accept_at_share")
        assert isinstance(share, float)
        overrides["accept_at_minor"] = floor + round((list_minor - floor) * share)
    return Strategy.from_item(list_minor, floor_minor, overrides, currency=draw(st.sampled_from(CURRENCIES)))


@dataclass(frozen=True)
class Step:
    offer: int
    after: timedelta
    bundled: bool


def offer_of(list_minor: int, kind: str, value: float) -> int:
    if kind == "share":
        return int(list_minor * value)
    if kind == "list":
        return list_minor + int(value)
    return int(value)


@dataclass(frozen=True)
class Case:
    strategy: Strategy
    bundle: tuple[BundleItem, ...]
    plan: list[Step]
    start: datetime
    listed_at: datetime | None
    mixes_scopes: bool


@st.composite
def cases(draw: st.DrawFn) -> Case:
    strategy = draw(strategies())
    others = tuple(
        BundleItem(price, floor_of(price, share))
        for price, share in draw(st.lists(st.tuples(PRICE, st.none() | SHARE), min_size=1, max_size=3))
    )
    bundle = (BundleItem(strategy.list_minor, strategy.floor_minor), *others)
    mixes_scopes = draw(st.booleans())
    everything_bundled = draw(st.booleans())
    plan = [
        Step(offer_of(strategy.list_minor, *offer), after, bundled if mixes_scopes else everything_bundled)
        for offer, after, bundled in draw(st.lists(STEP, min_size=1, max_size=10))
    ]
    start = draw(START)
    listed_at = draw(st.none() | AGO.map(lambda ago: start - ago))
    return Case(strategy, bundle, plan, start, listed_at, mixes_scopes)


START = st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC))  # noqa: DTZ001 (hypothesis bounds are naive)
AGO = st.timedeltas(timedelta(0), timedelta(days=900))


Answer = tuple[Step, Decision, NegotiationState]


def run(case: Case) -> list[Answer]:
    state = NegotiationState()
    now = case.start
    answers = []
    for step in case.plan:
        now += step.after
        bundle = case.bundle if step.bundled else None
        decision, state = decide(case.strategy, state, step.offer, now=now, listed_at=case.listed_at, bundle=bundle)
        answers.append((step, decision, state))
    return answers


def effective(case: Case, step: Step) -> Strategy:
    return bundle_strategy(case.strategy, case.bundle) if step.bundled else case.strategy


def amounts(hint: str, currency: str) -> list[int]:
    unit = minor_unit(currency)
    found = []
    for number in NUMBER.findall(hint):
        whole, _, fraction = number.replace(",", "").partition(".")
        digits = len(str(unit)) - 1
        found.append(int(whole) * unit + (int(fraction.ljust(digits, "0")) if fraction else 0))
    return found


def check_floor_and_list(case: Case, answers: list[Answer]) -> None:
    """(1) nothing named below the floor, (3) nothing accepted above list; counters above the offer."""
    for step, decision, state in answers:
        strategy = effective(case, step)
        if decision.price_minor is not None:
            assert decision.price_minor >= strategy.floor_minor, decision
        if decision.kind == "accept":
            assert decision.price_minor is not None and decision.price_minor <= strategy.list_minor, decision
            assert state.status == "agreed" and state.agreed_minor == decision.price_minor
        if decision.kind == "counter":
            assert decision.price_minor is not None
            assert step.offer < decision.price_minor <= strategy.list_minor, decision
            assert state.last_counter_minor == decision.price_minor
        assert state.counters <= strategy.max_rounds


def check_never_up(case: Case, answers: list[Answer]) -> None:
    """(2) counters never go up; in one scope, neither does any price named before agreement."""
    counters = [decision.price_minor or 0 for _, decision, _ in answers if decision.kind == "counter"]
    assert counters == sorted(counters, reverse=True)
    if case.mixes_scopes:
        return
    named = []
    for _, decision, state in answers:
        if state.status == "agreed":
            break  # from here on the agreed price is what is named
        if decision.kind in ("counter", "decline") and decision.price_minor is not None:
            named.append(decision.price_minor)
    assert named == sorted(named, reverse=True)


def check_hints(case: Case, answers: list[Answer]) -> None:
    """(4) a hint names only the decided price, so the floor only when it is that price."""
    currency = case.strategy.currency
    for step, decision, _ in answers:
        floor = effective(case, step).floor_minor
        named = amounts(decision.buyer_message_hint, currency)
        assert named == ([] if decision.price_minor is None else [decision.price_minor]), decision
        if decision.price_minor != floor:
            shown = re.escape(format_money(floor, currency))
            assert not re.search(rf"(?<![\d.,]){shown}(?![\d,]|\.\d)", decision.buyer_message_hint), decision
            assert floor not in named


@SETTINGS
@given(cases())
def test_prices_stay_between_floor_and_list_never_rise_and_hints_hide_the_floor(case: Case) -> None:
    answers = run(case)
    for step, decision, _ in answers:
        # Every timeline entry names the offer it answers.
        assert f"Offer {format_money(step.offer, case.strategy.currency)} " in decision.explanation, decision
    check_floor_and_list(case, answers)
    check_never_up(case, answers)
    check_hints(case, answers)


@SETTINGS
@given(cases())
def test_state_round_trips_and_decisions_are_deterministic(case: Case) -> None:
    answers = run(case)
    for _, _, state in answers:
        stored = json.loads(json.dumps(state.to_json()))
        assert NegotiationState.from_json(stored) == state
        assert NegotiationState.from_json(stored).to_json() == stored
    first = [(decision, state.to_json()) for _, decision, state in answers]

    # A second run, storing and reloading the state between offers as a lead does, answers the same.
    state = NegotiationState()
    now = case.start
    reloaded = []
    for step in case.plan:
        now += step.after
        bundle = case.bundle if step.bundled else None
        stored = json.loads(json.dumps(state.to_json()))
        decision, state = decide(
            case.strategy,
            NegotiationState.from_json(stored),
            step.offer,
            now=now,
            listed_at=case.listed_at,
            bundle=bundle,
        )
        reloaded.append((decision, state.to_json()))
    assert reloaded == first
