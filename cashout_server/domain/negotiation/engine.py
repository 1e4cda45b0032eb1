"""The negotiation engine: what to answer a buyer's price offer, never below the floor.

Pure and deterministic: no database, no network, no clock (the caller passes ``now``). One call to
:func:`decide` judges one offer against an item's :class:`Strategy` and the lead's
:class:`NegotiationState` and returns a :class:`Decision` plus the new state (the given state is
never changed).

The rules, in the order they are applied:

1. A non-positive offer, or one above ten times the list price, is declined as unreadable.
2. An offer for a different set of items (one item, then a bundle) after a price was named needs a person.
3. Once agreed, the same or a higher offer confirms the agreed price; a lower one needs a person.
4. An offer at or above the list price is accepted at the list price.
5. An offer at or above ``accept_at_minor``, or at or above the last price named to the buyer, is accepted.
6. A lowball (below ``floor * lowball_fraction``) beyond ``lowball_limit`` closes the negotiation politely;
   afterwards lowballs are declined again and other offers need a person. (So does an offer below a
   floor that was raised above the price already named.)
7. A firm price (floor equal to list) is restated, never countered. With every counter used, an
   offer at or above the floor is accepted; anything lower is declined with a final "lowest is X".
8. Otherwise the engine counters on a schedule that closes ``round_concession`` of the remaining gap
   to the floor per counter and ``daily_concession`` of the list-to-floor gap per day since listing.
   If that counter would not be above the buyer's offer, the offer is accepted instead.

Guarantees: no accepted or named price is below the floor; the prices named to the buyer never go up;
nothing is accepted above the list price; a :attr:`Decision.buyer_message_hint` names at most one
amount, :attr:`Decision.price_minor`, so it reveals the floor only when the floor is the price offered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, TypeGuard, get_args

from cashout_server.text import minor_unit

__all__ = [
    "BundleItem",
    "Decision",
    "DecisionKind",
    "NegotiationState",
    "SeenOffer",
    "Status",
    "Strategy",
    "bundle_strategy",
    "decide",
    "format_money",
]

DecisionKind = Literal["accept", "counter", "decline", "hold"]
"""``hold`` means the engine will not answer by itself: a person should decide."""

Status = Literal["open", "agreed", "declined", "exhausted"]
"""``declined``: closed after repeat lowballs; ``exhausted``: every counter used, a final price named."""

ABSURD_MULTIPLE = 10
"""An offer above this many times the list price is taken for a typo (or an overpayment scam)."""

_DAY_SECONDS = 86400
_ITEM_SCOPE = "item"
_STATE_VERSION = 1
_SYMBOLS = {"USD": "$", "CAD": "$", "AUD": "$", "NZD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def format_money(amount_minor: int, currency: str = "USD") -> str:
    """Render an amount the way a person writes it in a message.

    Args:
        amount_minor: the amount in minor units.
        currency: the ISO 4217 code.

    Returns:
        ``"$1,250"`` for 125000 USD cents, ``"$12.50"`` for 1250, ``"1,250.500 KWD"`` for
        1250500 fils: decimals only when the amount is not whole, never rounded.
    """
    unit = minor_unit(currency)
    whole, fraction = divmod(abs(amount_minor), unit)
    digits = len(str(unit)) - 1
    number = f"{whole:,}" + (f".{fraction:0{digits}d}" if fraction else "")
    sign = "-" if amount_minor < 0 else ""
    code = currency.upper()
    symbol = _SYMBOLS.get(code)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {code}"


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


@dataclass(frozen=True)
class Strategy:
    """How one item (or bundle) is negotiated.

    Build it with :meth:`from_item` from the item's columns and its ``negotiation`` overrides; the
    constructor validates every field and raises :class:`ValueError` naming the field.

    Attributes:
        list_minor: the asking price, in minor units.
        floor_minor: the lowest acceptable price; never revealed to the buyer unless it is the price
            being offered, never crossed. Equal to the list price for a firm price.
        accept_at_minor: any offer at or above this is accepted at once (between floor and list).
        max_rounds: how many counters the engine makes before naming a final price (0 to 20).
        round_concession: the fraction of the remaining gap between the last price named and the
            floor that each counter gives up (above 0, at most 1).
        daily_concession: the fraction of the list-to-floor gap given up per full day since listing,
            compounding (0 to 0.5).
        lowball_fraction: offers below ``floor_minor * lowball_fraction`` are lowballs (above 0, at most 1).
        lowball_limit: how many lowballs still get a counter; the next one closes the negotiation (0 to 20).
        currency: the ISO 4217 code of every amount.
    """

    list_minor: int
    floor_minor: int
    accept_at_minor: int
    max_rounds: int = 3
    round_concession: float = 0.35
    daily_concession: float = 0.02
    lowball_fraction: float = 0.6
    lowball_limit: int = 1
    currency: str = "USD"

    def __post_init__(self) -> None:
        if not _is_int(self.list_minor) or self.list_minor <= 0:
            raise ValueError(f"list_minor must be a positive whole number of minor units, not {self.list_minor!r}")
        if not _is_int(self.floor_minor) or not 0 < self.floor_minor <= self.list_minor:
            raise ValueError(f"floor_minor must be a whole number above 0 and at most list_minor ({self.list_minor})")
        if not _is_int(self.accept_at_minor) or not self.floor_minor <= self.accept_at_minor <= self.list_minor:
            raise ValueError("accept_at_minor must be a whole number between the floor and the list price")
        _check_int("max_rounds", self.max_rounds, 0, 20)
        _check_int("lowball_limit", self.lowball_limit, 0, 20)
        _check_fraction("round_concession", self.round_concession, 0.0, 1.0, low_open=True)
        _check_fraction("daily_concession", self.daily_concession, 0.0, 0.5, low_open=False)
        _check_fraction("lowball_fraction", self.lowball_fraction, 0.0, 1.0, low_open=True)
        if not isinstance(self.currency, str) or len(self.currency) != 3 or not self.currency.isalpha():
            raise ValueError(f"currency must be a three-letter ISO 4217 code, not {self.currency!r}")

    @classmethod
    def from_item(
        cls,
        list_minor: int,
        floor_minor: int | None,
        overrides: Mapping[str, object] | None = None,
        *,
        currency: str = "USD",
    ) -> Strategy:
        """The strategy for one item.

        Args:
            list_minor: the item's list price.
            floor_minor: the item's floor price; ``None`` makes the list price firm.
            overrides: the item's ``negotiation`` JSON: any of ``accept_at_minor``, ``max_rounds``,
                ``round_concession``, ``daily_concession``, ``lowball_fraction``, ``lowball_limit``.
            currency: the item's currency.

        Returns:
            The strategy; ``accept_at_minor`` defaults to the list price less 5%, never below the floor.

        Raises:
            ValueError: an override is unknown, of the wrong type or out of bounds (the message names
                the key), or the prices are inconsistent.
        """
        if not _is_int(list_minor) or list_minor <= 0:
            raise ValueError(f"list_minor must be a positive whole number of minor units, not {list_minor!r}")
        floor = list_minor if floor_minor is None else floor_minor
        if not _is_int(floor):
            raise ValueError(f"floor_minor must be a whole number of minor units, not {floor_minor!r}")
        values: dict[str, Any] = {}
        for key, value in (overrides or {}).items():
            if key in ("list_minor", "floor_minor", "currency"):
                raise ValueError(f"negotiation setting {key!r} cannot be overridden: it is set on the item itself")
            expected = _OVERRIDES.get(key)
            if expected is None:
                known = ", ".join(sorted(_OVERRIDES))
                raise ValueError(f"unknown negotiation setting {key!r} (known: {known})")
            if expected is int and not _is_int(value):
                raise ValueError(f"negotiation setting {key!r} must be a whole number, not {value!r}")
            if expected is float:
                if not _is_number(value):
                    raise ValueError(f"negotiation setting {key!r} must be a number, not {value!r}")
                value = float(value)
            values[key] = value
        values.setdefault("accept_at_minor", max(floor, list_minor - list_minor // 20))
        return cls(list_minor=list_minor, floor_minor=floor, currency=currency.upper(), **values)


_OVERRIDES: dict[str, type] = {
    "accept_at_minor": int,
    "max_rounds": int,
    "round_concession": float,
    "daily_concession": float,
    "lowball_fraction": float,
    "lowball_limit": int,
}


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if not _is_int(value) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, not {value!r}")


def _check_fraction(name: str, value: object, low: float, high: float, *, low_open: bool) -> None:
    inside = _is_number(value) and (low < value if low_open else low <= value) and value <= high
    if not inside:
        bound = f"above {low}" if low_open else f"at least {low}"
        raise ValueError(f"{name} must be a number {bound} and at most {high}, not {value!r}")


@dataclass(frozen=True)
class BundleItem:
    """One item of a bundle offer ("both for 150").

    Attributes:
        list_minor: the item's list price.
        floor_minor: the item's floor; ``None`` means its list price is firm.
    """

    list_minor: int
    floor_minor: int | None = None

    def __post_init__(self) -> None:
        if not _is_int(self.list_minor) or self.list_minor <= 0:
            raise ValueError(f"bundle item list_minor must be a positive whole number, not {self.list_minor!r}")
        if self.floor_minor is not None and (
            not _is_int(self.floor_minor) or not 0 < self.floor_minor <= self.list_minor
        ):
            raise ValueError("bundle item floor_minor must be above 0 and at most its list_minor")

    @property
    def effective_floor_minor(self) -> int:
        """The floor, or the list price when the item has none."""
        return self.list_minor if self.floor_minor is None else self.floor_minor


def bundle_strategy(base: Strategy, items: Sequence[BundleItem]) -> Strategy:
    """The strategy for a bundle: summed list and floor prices, the base item's tactics.

    Args:
        base: the strategy of the item the conversation is about (rounds, schedule, lowball rules).
        items: every item the offer covers, that item included.

    Returns:
        A strategy whose list and floor are the sums over ``items`` and whose accept-at price keeps
        the base's discount from list (never below the summed floor).

    Raises:
        ValueError: ``items`` is empty.
    """
    if not items:
        raise ValueError("a bundle needs at least one item")
    list_sum = sum(item.list_minor for item in items)
    floor_sum = sum(item.effective_floor_minor for item in items)
    discount = list_sum * (base.list_minor - base.accept_at_minor) // base.list_minor
    return replace(
        base, list_minor=list_sum, floor_minor=floor_sum, accept_at_minor=max(floor_sum, list_sum - discount)
    )


@dataclass(frozen=True)
class SeenOffer:
    """One offer the buyer made.

    Attributes:
        amount_minor: the offered amount as received (may be zero, negative or huge).
        at: when it was judged (UTC).
    """

    amount_minor: int
    at: datetime


@dataclass
class NegotiationState:
    """Where one lead's negotiation stands; stored as JSON in ``leads.negotiation``.

    Attributes:
        status: ``open``, ``agreed``, ``declined`` (after repeat lowballs) or ``exhausted`` (every counter used).
        rounds: offers judged (unreadable ones not counted).
        counters: counters made.
        last_counter_minor: the lowest price named to the buyer so far (a counter or a final price).
        offers: every offer seen, oldest first.
        lowballs: lowball offers seen.
        agreed_minor: the agreed price once ``status`` is ``agreed``.
        started_at: when the first offer came in.
        scope: ``"item"``, or ``"bundle:<count>:<summed list price>"`` for a bundle negotiation.
    """

    status: Status = "open"
    rounds: int = 0
    counters: int = 0
    last_counter_minor: int | None = None
    offers: list[SeenOffer] = field(default_factory=list)
    lowballs: int = 0
    agreed_minor: int | None = None
    started_at: datetime | None = None
    scope: str = _ITEM_SCOPE

    def to_json(self) -> dict[str, Any]:
        """The state as JSON-safe data (strings, numbers, lists, ``None``)."""
        return {
            "version": _STATE_VERSION,
            "status": self.status,
            "rounds": self.rounds,
            "counters": self.counters,
            "last_counter_minor": self.last_counter_minor,
            "offers": [{"amount_minor": offer.amount_minor, "at": offer.at.isoformat()} for offer in self.offers],
            "lowballs": self.lowballs,
            "agreed_minor": self.agreed_minor,
            "started_at": None if self.started_at is None else self.started_at.isoformat(),
            "scope": self.scope,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NegotiationState:
        """Read a state written by :meth:`to_json`; an empty mapping is a fresh negotiation.

        Args:
            data: the stored JSON object. Unknown keys are ignored.

        Returns:
            The state.

        Raises:
            ValueError: a known key holds the wrong type (the message names it).
        """
        status = data.get("status", "open")
        if status not in get_args(Status):
            raise ValueError(f"negotiation state 'status' must be one of {get_args(Status)}, not {status!r}")
        offers_data = data.get("offers", [])
        if not isinstance(offers_data, list):
            raise ValueError("negotiation state 'offers' must be a list")
        offers: list[SeenOffer] = []
        for entry in offers_data:
            if not isinstance(entry, Mapping):
                raise ValueError("negotiation state 'offers' entries must be objects")
            amount = entry.get("amount_minor")
            if not _is_int(amount):
                raise ValueError(f"negotiation state offer 'amount_minor' must be a whole number, not {amount!r}")
            offers.append(SeenOffer(amount_minor=amount, at=_read_time("offers.at", entry.get("at"))))
        scope = data.get("scope", _ITEM_SCOPE)
        if not isinstance(scope, str):
            raise ValueError(f"negotiation state 'scope' must be a string, not {scope!r}")
        started = data.get("started_at")
        return cls(
            status=status,
            rounds=_read_count(data, "rounds"),
            counters=_read_count(data, "counters"),
            last_counter_minor=_read_amount(data, "last_counter_minor"),
            offers=offers,
            lowballs=_read_count(data, "lowballs"),
            agreed_minor=_read_amount(data, "agreed_minor"),
            started_at=None if started is None else _read_time("started_at", started),
            scope=scope,
        )

    def _copy(self) -> NegotiationState:
        return replace(self, offers=list(self.offers))


def _read_count(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key, 0)
    if not _is_int(value) or value < 0:
        raise ValueError(f"negotiation state {key!r} must be a whole number of at least 0, not {value!r}")
    return int(value)


def _read_amount(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is not None and not _is_int(value):
        raise ValueError(f"negotiation state {key!r} must be a whole number or null, not {value!r}")
    return value


def _read_time(key: str, value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"negotiation state {key!r} must be an ISO 8601 time, not {value!r}")
    try:
        return _utc(datetime.fromisoformat(value))
    except ValueError as exc:
        raise ValueError(f"negotiation state {key!r} must be an ISO 8601 time, not {value!r}") from exc


def _utc(when: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything cashout stores is UTC.
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


@dataclass(frozen=True)
class Decision:
    """The answer to one offer.

    Attributes:
        kind: ``accept``, ``counter``, ``decline`` or ``hold`` (a person should decide).
        price_minor: the price the buyer is told: the accepted price, the counter, or on a decline
            the price still on the table; ``None`` when no price is named. Never below the floor.
        explanation: one or two sentences for the lead's timeline, for the seller's eyes.
        buyer_message_hint: what to tell the buyer; names no amount other than ``price_minor``.
        reason: a short machine-readable code (``accept_at``, ``above_list``, ``scheduled``,
            ``lowball``, ``repeat_lowball``, ``final``, ``unreadable``, ...).
    """

    kind: DecisionKind
    price_minor: int | None
    explanation: str
    buyer_message_hint: str
    reason: str


def decide(
    strategy: Strategy,
    state: NegotiationState,
    offer_minor: int,
    *,
    now: datetime,
    listed_at: datetime | None = None,
    bundle: Sequence[BundleItem] | None = None,
) -> tuple[Decision, NegotiationState]:
    """Judge one buyer offer.

    Args:
        strategy: the item's strategy (for a bundle, the tactics; prices come from ``bundle``).
        state: the lead's state so far (not changed).
        offer_minor: the offered amount in minor units, as the buyer wrote it.
        now: when the offer is judged (naive means UTC).
        listed_at: when the item was listed; the daily concession counts from it, or from the first
            offer when unknown.
        bundle: every item the offer covers (this one included) when it is a bundle offer.

    Returns:
        The decision and the new state.

    Raises:
        ValueError: ``offer_minor`` is not a whole number, or ``bundle`` holds an invalid item.
    """
    if not _is_int(offer_minor):
        raise ValueError(f"offer_minor must be a whole number of minor units, not {offer_minor!r}")
    return _Judge(strategy, state, offer_minor, _utc(now), listed_at, bundle).run()


class _Judge:
    """One call of :func:`decide`: the inputs, the new state and the sentences being built."""

    def __init__(
        self,
        strategy: Strategy,
        state: NegotiationState,
        offer: int,
        now: datetime,
        listed_at: datetime | None,
        bundle: Sequence[BundleItem] | None,
    ) -> None:
        self.s = bundle_strategy(strategy, bundle) if bundle else strategy
        self.scope = f"bundle:{len(bundle)}:{self.s.list_minor}" if bundle else _ITEM_SCOPE
        self.offer = offer
        self.state = state._copy()
        self.state.offers.append(SeenOffer(amount_minor=offer, at=now))
        if self.state.started_at is None:
            self.state.started_at = now
        start = self.state.started_at if listed_at is None else _utc(listed_at)
        self.days = max(0, int((now - start).total_seconds() // _DAY_SECONDS))
        self.prefix = ""
        if bundle:
            self.prefix = (
                f"Bundle offer for {len(bundle)} items, judged against their summed list price "
                f"{self.m(self.s.list_minor)} and summed floor {self.m(self.s.floor_minor)}. "
            )
        self.what = "the bundle" if bundle else "it"
        self.for_what = " for the bundle" if bundle else ""

    def m(self, amount: int) -> str:
        return format_money(amount, self.s.currency)

    def run(self) -> tuple[Decision, NegotiationState]:
        s, st, offer = self.s, self.state, self.offer
        if offer <= 0 or offer > s.list_minor * ABSURD_MULTIPLE:
            return self.unreadable()
        if st.scope != self.scope:
            if st.status != "open" or st.last_counter_minor is not None:
                return self.hold(
                    "scope",
                    f"Offer {self.m(offer)} covers different items than the prices named so far; needs your decision.",
                )
            st.scope = self.scope
        st.rounds += 1
        if st.status == "agreed":
            return self.after_agreement()
        if offer >= s.list_minor:
            return self.accept(s.list_minor, "above_list" if offer > s.list_minor else "list", self.list_reason())
        if offer >= s.accept_at_minor:
            why = f"Offer {self.m(offer)} is at or above the accept-at price {self.m(s.accept_at_minor)}; accepted."
            return self.accept(offer, "accept_at", why)
        last = st.last_counter_minor
        if last is not None and offer >= last and offer >= s.floor_minor:
            why = f"Offer {self.m(offer)} meets the last price named, {self.m(last)}; accepted."
            return self.accept(offer, "met_counter", why)
        lowball = offer < s.floor_minor * s.lowball_fraction
        if st.status == "declined":
            return self.after_decline(lowball)
        if last is not None and last < s.floor_minor:
            # The floor was raised above a price already named: no counter can be both >= floor and <= last.
            if offer >= s.floor_minor:
                why = f"Offer {self.m(offer)} is at or above the floor, which was raised after the last counter."
                return self.accept(offer, "floor_raised", why)
            return self.hold(
                "floor_raised",
                f"Offer {self.m(offer)} is below the floor, which was raised above the last counter "
                f"{self.m(last)}; needs your decision.",
            )
        lowball_note = ""
        if lowball:
            st.lowballs += 1
            if st.lowballs > s.lowball_limit:
                return self.close_lowballer()
            lowball_note = (
                f" It is a lowball (below {round(s.lowball_fraction * 100)}% of the floor; "
                f"{st.lowballs} of {s.lowball_limit} tolerated)."
            )
        if s.floor_minor == s.list_minor:
            return self.firm(lowball_note)
        if st.counters >= s.max_rounds:
            return self.final(lowball_note)
        return self.counter(lowball_note)

    # -- outcomes --------------------------------------------------------------------------------

    def list_reason(self) -> str:
        if self.offer > self.s.list_minor:
            return (
                f"Offer {self.m(self.offer)} is above the list price; accepted at the list price "
                f"{self.m(self.s.list_minor)} (never charge more than asked)."
            )
        return f"Offer {self.m(self.offer)} is the full list price; accepted."

    def accept(self, price: int, reason: str, why: str) -> tuple[Decision, NegotiationState]:
        self.state.status = "agreed"
        self.state.agreed_minor = price
        if reason == "above_list":
            hint = f"No need to go over the asking price: {self.what}'s yours for {self.m(price)}."
        else:
            hint = f"Deal: {self.what}'s yours for {self.m(price)}."
        return self.done("accept", price, why, hint, reason)

    def after_agreement(self) -> tuple[Decision, NegotiationState]:
        agreed = self.state.agreed_minor
        if agreed is not None and self.offer >= agreed and self.s.floor_minor <= agreed <= self.s.list_minor:
            why = f"Offer {self.m(self.offer)} comes after agreeing on {self.m(agreed)}; the agreed price stands."
            return self.done("accept", agreed, why, f"We're agreed: {self.m(agreed)}.", "agreed")
        shown = "an agreed price" if agreed is None else f"the agreed {self.m(agreed)}"
        return self.hold("renegotiation", f"Offer {self.m(self.offer)} comes after {shown}; needs your decision.")

    def after_decline(self, lowball: bool) -> tuple[Decision, NegotiationState]:
        if lowball:
            why = (
                f"Offer {self.m(self.offer)} is another lowball after the negotiation was closed; "
                "declined again without a counter."
            )
            hint = "Thanks, but I can't go that low."
            return self.done("decline", None, why, hint, "repeat_lowball")
        return self.hold(
            "returning_buyer",
            f"Offer {self.m(self.offer)} comes from a buyer declined earlier for lowballing and is no longer a "
            "lowball, but below what is accepted automatically; needs your decision.",
        )

    def close_lowballer(self) -> tuple[Decision, NegotiationState]:
        st, s = self.state, self.s
        st.status = "declined"
        why = (
            f"Offer {self.m(self.offer)} is lowball {st.lowballs} (below {round(s.lowball_fraction * 100)}% "
            f"of the floor; {s.lowball_limit} tolerated); declined politely without a counter and the "
            "negotiation closed."
        )
        hint = "Thanks for the offer, but I can't go that low. Good luck with your search!"
        return self.done("decline", None, why, hint, "repeat_lowball")

    def firm(self, lowball_note: str) -> tuple[Decision, NegotiationState]:
        price = self.s.list_minor
        self.state.last_counter_minor = price
        why = (
            f"Offer {self.m(self.offer)} is below the list price {self.m(price)}, which is firm "
            f"(the floor is the list price); declined."
        )
        hint = f"Sorry, the price is firm at {self.m(price)}{self.for_what}."
        return self.done("decline", price, why + lowball_note, hint, "firm")

    def final(self, lowball_note: str) -> tuple[Decision, NegotiationState]:
        st, s = self.state, self.s
        used = f"all {s.max_rounds} counters are used" if s.max_rounds else "this item gets no counters"
        if self.offer >= s.floor_minor:
            why = f"Offer {self.m(self.offer)} is at or above the floor and {used}; accepted."
            return self.accept(self.offer, "final_accept", why)
        price = st.last_counter_minor if st.last_counter_minor is not None else self.scheduled(None, concede=False)
        st.last_counter_minor = price
        st.status = "exhausted"
        why = (
            f"Offer {self.m(self.offer)} is below the floor and {used}; declined with the final price {self.m(price)}."
        )
        hint = f"Sorry, {self.m(price)} is the lowest I can go{self.for_what}."
        return self.done("decline", price, why + lowball_note, hint, "final")

    def counter(self, lowball_note: str) -> tuple[Decision, NegotiationState]:
        st, s = self.state, self.s
        last = st.last_counter_minor
        price = self.scheduled(last)
        if price <= self.offer:
            why = (
                f"Offer {self.m(self.offer)} is at or above the floor and the next scheduled counter "
                f"({self.m(price)}) would not be above it; accepted instead of countering."
            )
            return self.accept(self.offer, "schedule_reached", why)
        st.counters += 1
        st.last_counter_minor = price
        if st.counters >= s.max_rounds:
            st.status = "exhausted"
        position = "below the floor" if self.offer < s.floor_minor else "below the accept-at price"
        steps = [f"round {st.counters} of {s.max_rounds}"]
        if last is None:
            gap = s.list_minor - s.floor_minor
            moved = 0 if gap == 0 else round(100 * (s.list_minor - price) / gap)
            steps.append(f"{moved}% of the way from the list price to the floor")
        elif last == price:
            steps.append("no lower than the last counter: the schedule has reached its lowest price")
        else:
            moved = round(100 * (last - price) / (last - s.floor_minor))
            steps.append(f"{moved}% closer to the floor than the last counter")
        if self.days and s.daily_concession:
            steps.append(f"{self.days} day{'s' if self.days != 1 else ''} since listing")
        why = f"Offer {self.m(self.offer)} is {position}; countered at {self.m(price)} ({', '.join(steps)})."
        if last == price or st.counters >= s.max_rounds:
            hint = f"The best I can do{self.for_what} is {self.m(price)}."
        elif lowball_note:
            hint = f"That's a bit low. I could do {self.m(price)}{self.for_what}."
        else:
            hint = f"I can't do that, but I could do {self.m(price)}{self.for_what}."
        return self.done("counter", price, why + lowball_note, hint, "lowball" if lowball_note else "scheduled")

    def scheduled(self, last: int | None, *, concede: bool = True) -> int:
        """The next price on the schedule: whole currency units, within [floor, min(list, last)].

        ``concede=False`` gives the price the days alone have reached, without a counter's concession.
        """
        s = self.s
        gap = s.list_minor - s.floor_minor
        day_ask = s.floor_minor + gap * (1 - s.daily_concession) ** self.days
        base = day_ask if last is None else min(float(last), day_ask)
        raw = s.floor_minor + (base - s.floor_minor) * (1 - s.round_concession if concede else 1.0)
        unit = minor_unit(s.currency)
        # Rounded first so float noise (105.0000001) does not push a counter up a whole unit.
        price = math.ceil(round(raw / unit, 6)) * unit
        price = min(max(price, s.floor_minor), s.list_minor)
        return price if last is None else min(price, last)

    def unreadable(self) -> tuple[Decision, NegotiationState]:
        st, s = self.state, self.s
        what = "is not a positive amount" if self.offer <= 0 else f"is over {ABSURD_MULTIPLE} times the list price"
        candidates = [s.list_minor]
        if st.scope == self.scope:
            named = st.agreed_minor if st.status == "agreed" else st.last_counter_minor
            if named is not None and named >= s.floor_minor:
                candidates.append(named)
        price = min(candidates)
        why = (
            f"Offer {self.m(self.offer)} {what}, so it was not taken as an offer; declined and the standing "
            f"price {self.m(price)} repeated."
        )
        hint = f"Sorry, I couldn't make sense of that offer. The price{self.for_what} is {self.m(price)}."
        return self.done("decline", price, why, hint, "unreadable")

    def hold(self, reason: str, why: str) -> tuple[Decision, NegotiationState]:
        return self.done("hold", None, why, "Thanks! Let me check and get back to you shortly.", reason)

    def done(
        self, kind: DecisionKind, price: int | None, why: str, hint: str, reason: str
    ) -> tuple[Decision, NegotiationState]:
        decision = Decision(
            kind=kind, price_minor=price, explanation=self.prefix + why, buyer_message_hint=hint, reason=reason
        )
        return decision, self.state
