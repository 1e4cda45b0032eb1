"""Building a strategy from an item's overrides, money formatting, and the stored state's JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from cashout_server.domain.negotiation.engine import (
    BundleItem,
    NegotiationState,
    SeenOffer,
    Strategy,
    format_money,
)


def test_defaults_accept_five_percent_under_list() -> None:
    strategy = Strategy.from_item(12000, 9000, {})

    assert (strategy.list_minor, strategy.floor_minor, strategy.accept_at_minor) == (12000, 9000, 11400)
    assert (strategy.max_rounds, strategy.currency) == (3, "USD")


def test_the_default_accept_at_never_goes_below_the_floor() -> None:
    assert Strategy.from_item(10000, 9800, None).accept_at_minor == 9800


def test_no_floor_means_the_list_price_is_firm() -> None:
    strategy = Strategy.from_item(5000, None, {})

    assert (strategy.floor_minor, strategy.accept_at_minor) == (5000, 5000)


def test_overrides_are_applied() -> None:
    strategy = Strategy.from_item(
        20000,
        15000,
        {
            "accept_at_minor": 18000,
            "max_rounds": 5,
            "round_concession": 0.5,
            "daily_concession": 0,
            "lowball_fraction": 1,
            "lowball_limit": 3,
        },
        currency="eur",
    )

    assert strategy == Strategy(
        list_minor=20000,
        floor_minor=15000,
        accept_at_minor=18000,
        max_rounds=5,
        round_concession=0.5,
        daily_concession=0.0,
        lowball_fraction=1.0,
        lowball_limit=3,
        currency="EUR",
    )


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"accept_at": 100}, "accept_at"),
        ({"floor_minor": 100}, "floor_minor"),
        ({"currency": "EUR"}, "currency"),
        ({"accept_at_minor": 8000}, "accept_at_minor"),
        ({"accept_at_minor": 13000}, "accept_at_minor"),
        ({"accept_at_minor": "11000"}, "accept_at_minor"),
        ({"max_rounds": True}, "max_rounds"),
        ({"max_rounds": 21}, "max_rounds"),
        ({"max_rounds": -1}, "max_rounds"),
        ({"max_rounds": 2.0}, "max_rounds"),
        ({"round_concession": 0}, "round_concession"),
        ({"round_concession": 1.5}, "round_concession"),
        ({"round_concession": "0.3"}, "round_concession"),
        ({"daily_concession": 0.6}, "daily_concession"),
        ({"daily_concession": float("nan")}, "daily_concession"),
        ({"lowball_fraction": 0}, "lowball_fraction"),
        ({"lowball_fraction": float("inf")}, "lowball_fraction"),
        ({"lowball_limit": None}, "lowball_limit"),
    ],
)
def test_a_bad_override_is_refused_naming_its_key(overrides: dict[str, object], key: str) -> None:
    with pytest.raises(ValueError, match=rf"'?{key}'?\b"):
        Strategy.from_item(12000, 9000, overrides)


@pytest.mark.parametrize(
    ("list_minor", "floor_minor", "key"),
    [(0, None, "list_minor"), (1000, 2000, "floor_minor"), (1000, 0, "floor_minor"), (1000, 99.5, "floor_minor")],
)
def test_inconsistent_prices_are_refused(list_minor: int, floor_minor: Any, key: str) -> None:
    with pytest.raises(ValueError, match=key):
        Strategy.from_item(list_minor, floor_minor, {})


def test_a_bundle_item_must_have_a_sane_floor() -> None:
    assert BundleItem(1000).effective_floor_minor == 1000
    with pytest.raises(ValueError, match="floor_minor"):
        BundleItem(1000, 1500)


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (12000, "USD", "$120"),
        (1250, "usd", "$12.50"),
        (123456789, "USD", "$1,234,567.89"),
        (5, "USD", "$0.05"),
        (-1250, "USD", "-$12.50"),
        (9000, "EUR", "€90"),
        (1500, "JPY", "¥1,500"),
        (1250500, "KWD", "1,250.500 KWD"),
        (1250000, "KWD", "1,250 KWD"),
        (4999, "CHF", "49.99 CHF"),
    ],
)
def test_format_money(amount: int, currency: str, text: str) -> None:
    assert format_money(amount, currency) == text


def test_an_empty_stored_state_is_a_fresh_negotiation() -> None:
    assert NegotiationState.from_json({}) == NegotiationState()


def test_state_round_trips_through_json_text() -> None:
    state = NegotiationState(
        status="exhausted",
        rounds=4,
        counters=3,
        last_counter_minor=9900,
        offers=[SeenOffer(8000, datetime(2026, 1, 1, tzinfo=UTC)), SeenOffer(-1, datetime(2026, 1, 2, tzinfo=UTC))],
        lowballs=1,
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        scope="bundle:2:18000",
    )

    assert NegotiationState.from_json(json.loads(json.dumps(state.to_json()))) == state


def test_stored_times_come_back_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    data = {"started_at": "2026-01-01T12:00:00+02:00", "offers": [{"amount_minor": 5, "at": "2026-01-01T12:00:00"}]}

    state = NegotiationState.from_json(data)

    assert state.started_at == datetime(2026, 1, 1, 12, tzinfo=plus_two)
    assert state.started_at is not None and state.started_at.tzinfo is UTC
    assert state.offers[0].at == datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"status": "won"}, "status"),
        ({"rounds": -1}, "rounds"),
        ({"counters": "2"}, "counters"),
        ({"last_counter_minor": 99.5}, "last_counter_minor"),
        ({"offers": {}}, "offers"),
        ({"offers": [{"amount_minor": 5, "at": "yesterday"}]}, "offers.at"),
        ({"offers": [{"amount_minor": None, "at": "2026-01-01T00:00:00"}]}, "amount_minor"),
        ({"started_at": 5}, "started_at"),
        ({"scope": 3}, "scope"),
    ],
)
def test_a_corrupt_stored_state_is_refused_naming_the_key(data: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=key):
        NegotiationState.from_json(data)
