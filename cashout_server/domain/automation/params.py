"""Rule kinds and their parameters: validated once, at the API, into plain typed values.

Each kind's parameters are checked with clear messages (``params.percent: ...``) and stored
normalised (defaults filled in), so the job never meets a malformed rule.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class RuleKind(enum.StrEnum):
    """What a rule does."""

    PRICE_DROP = "price_drop"
    RELIST = "relist"
    FOLLOW_UP = "follow_up"


class RuleInvalid(ValueError):
    """A rule that cannot be accepted; the message says which field and why."""


@dataclass(frozen=True)
class PriceDropParams:
    """Lower the list price by ``percent`` or ``amount_minor`` every ``every_days`` days."""

    every_days: int
    percent: float | None = None
    amount_minor: int | None = None
    only_without_offers: bool = False
    offer_days: int = 7
    """With ``only_without_offers``: an offer younger than this many days counts as open."""
    min_price_minor: int | None = None


@dataclass(frozen=True)
class RelistParams:
    """Refresh listings live more than ``after_days`` days without a lead in that time."""

    after_days: int


@dataclass(frozen=True)
class FollowUpParams:
    """Follow up with buyers who went quiet ``after_hours`` hours after our last message."""

    after_hours: float
    max_followups: int = 1
    auto_send: bool = False
    """Send without a person's approval where the connection's approval policy allows it."""


def _int(params: Mapping[str, Any], name: str, *, minimum: int, maximum: int | None = None) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RuleInvalid(f"params.{name} must be a whole number")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise RuleInvalid(f"params.{name} must be at least {minimum}{upper}")
    return value


def _number(params: Mapping[str, Any], name: str) -> float | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleInvalid(f"params.{name} must be a number")
    return float(value)


def _bool(params: Mapping[str, Any], name: str, default: bool) -> bool:
    value = params.get(name, default)
    if not isinstance(value, bool):
        raise RuleInvalid(f"params.{name} must be true or false")
    return value


def _known(params: Mapping[str, Any], kind: RuleKind, allowed: set[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise RuleInvalid(f"params.{unknown[0]} is not a {kind.value} parameter; use {', '.join(sorted(allowed))}")


def _price_drop(params: Mapping[str, Any]) -> PriceDropParams:
    _known(
        params,
        RuleKind.PRICE_DROP,
        {"percent", "amount_minor", "every_days", "only_without_offers", "offer_days", "min_price_minor"},
    )
    every = _int(params, "every_days", minimum=1, maximum=365)
    if every is None:
        raise RuleInvalid("params.every_days is required: how many days between drops")
    percent = _number(params, "percent")
    amount = _int(params, "amount_minor", minimum=1)
    if (percent is None) == (amount is None):
        raise RuleInvalid("give exactly one of params.percent or params.amount_minor")
    if percent is not None and not 0 < percent < 100:
        raise RuleInvalid("params.percent must be above 0 and below 100")
    return PriceDropParams(
        every_days=every,
        percent=percent,
        amount_minor=amount,
        only_without_offers=_bool(params, "only_without_offers", False),
        offer_days=_int(params, "offer_days", minimum=1, maximum=365) or 7,
        min_price_minor=_int(params, "min_price_minor", minimum=1),
    )


def _relist(params: Mapping[str, Any]) -> RelistParams:
    _known(params, RuleKind.RELIST, {"after_days"})
    after = _int(params, "after_days", minimum=1, maximum=365)
    if after is None:
        raise RuleInvalid("params.after_days is required: how many days a listing may go without leads")
    return RelistParams(after_days=after)


def _follow_up(params: Mapping[str, Any]) -> FollowUpParams:
    _known(params, RuleKind.FOLLOW_UP, {"after_hours", "max_followups", "auto_send"})
    after = _number(params, "after_hours")
    if after is None:
        raise RuleInvalid("params.after_hours is required: how long a buyer may stay quiet before a follow-up")
    if not 1 <= after <= 24 * 90:
        raise RuleInvalid("params.after_hours must be between 1 and 2160 (90 days)")
    return FollowUpParams(
        after_hours=after,
        max_followups=_int(params, "max_followups", minimum=1, maximum=5) or 1,
        auto_send=_bool(params, "auto_send", False),
    )


_PARSERS: dict[RuleKind, Callable[[Mapping[str, Any]], Any]] = {
    RuleKind.PRICE_DROP: _price_drop,
    RuleKind.RELIST: _relist,
    RuleKind.FOLLOW_UP: _follow_up,
}


def parse_params(kind: str, params: Mapping[str, Any]) -> PriceDropParams | RelistParams | FollowUpParams:
    """Check ``params`` for a rule of ``kind`` and return them typed, defaults filled in.

    Raises:
        RuleInvalid: an unknown kind, a missing, unknown or out-of-range parameter.
    """
    try:
        rule_kind = RuleKind(kind)
    except ValueError:
        raise RuleInvalid(f"kind must be one of {', '.join(k.value for k in RuleKind)}") from None
    result: PriceDropParams | RelistParams | FollowUpParams = _PARSERS[rule_kind](params)
    return result


def normalised(kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters as stored: checked, with defaults filled in and unset options left out.

    Raises:
        RuleInvalid: as :func:`parse_params`.
    """
    parsed = parse_params(kind, params)
    return {k: v for k, v in vars(parsed).items() if v is not None}
