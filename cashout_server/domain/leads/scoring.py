"""How promising a lead is: a 0..100 score with an explanation, and weights refit from outcomes.

The score is a logistic model over a few named features (intent, offer against list and floor,
response speed, engagement, message quality, scam signals), so it reads as "chance this lead becomes
a sale" and can be refit from the seller's own history. The explanation splits the score into parts
that add up to it exactly; the floor price is never shown, only whether an offer is above or below it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from cashout_server.domain.leads.understanding import Classification, Intent

__all__ = [
    "DEFAULT_WEIGHTS",
    "FEATURE_NAMES",
    "LeadFeatures",
    "LeadScore",
    "ScorePart",
    "Weights",
    "feature_vector",
    "features_from",
    "log_loss",
    "predict",
    "refit",
    "score",
]


@dataclass(frozen=True)
class LeadFeatures:
    """What the score looks at for one lead.

    Attributes:
        intent: the lead's most advanced intent so far (scam if any message was a scam).
        confidence: the classifier's confidence in that intent.
        offer_minor: the latest offered amount, if any.
        list_price_minor: the listing price.
        floor_price_minor: the lowest price the seller accepts (never shown in explanations).
        buyer_reply_seconds: how fast the buyer answers the seller, None when unknown.
        message_count: how many messages the buyer sent.
        text_length: characters the buyer wrote, all messages together.
        mentions_specifics: the buyer names a time, a place or details of the item.
        polite: the buyer greets or says please or thanks.
        all_caps: the buyer shouts (mostly capital letters).
        has_link: the buyer sent a link.
        scam_signal_count: distinct scam signals across the messages.
        bundle: the buyer asks about several items together.
    """

    intent: Intent
    confidence: float
    offer_minor: int | None
    list_price_minor: int | None
    floor_price_minor: int | None
    buyer_reply_seconds: float | None
    message_count: int
    text_length: int = 0
    mentions_specifics: bool = False
    polite: bool = False
    all_caps: bool = False
    has_link: bool = False
    scam_signal_count: int = 0
    bundle: bool = False


# Funnel order used to pick a conversation's intent: the furthest step the buyer has reached.
_FUNNEL = (
    Intent.OFFER,
    Intent.PICKUP,
    Intent.SHIPPING,
    Intent.PRICE_QUESTION,
    Intent.QUESTION,
    Intent.AVAILABILITY,
    Intent.OTHER,
    Intent.SPAM,
)
_SPECIFICS = re.compile(
    r"\b(?:\d{1,2}(?::\d{2})?\s?(?:am|pm)|today|tonight|tomorrow|tmrw|monday|tuesday|wednesday|thursday|friday|"
    r"saturday|sunday|weekend|after work|morning|evening|afternoon|pick ?up|meet|address|cash|condition|size|"
    r"dimensions?|model|charger|box|scratch(?:es)?|works?|battery|color|colour|miles|inch(?:es)?|cm)\b",
    re.IGNORECASE,
)
_POLITE = re.compile(r"\b(?:please|pls|plz|thanks|thank you|thx|ty|hi|hello|hey|good (?:morning|afternoon|evening)|"
                     r"appreciate|sorry)\b", re.IGNORECASE)  # fmt: skip
_LINK = re.compile(r"https?://|www\.|\b[a-z0-9-]+\.(?:com|net|org|xyz|ly|io|top|info|click|site)\b", re.IGNORECASE)


def features_from(
    classifications: Sequence[Classification],
    texts: Sequence[str],
    *,
    list_price_minor: int | None,
    floor_price_minor: int | None,
    buyer_reply_seconds: float | None,
) -> LeadFeatures:
    """Gather a lead's features from its classified messages.

    Args:
        classifications: each buyer message's classification, oldest first.
        texts: the same messages' texts, oldest first.
        list_price_minor: the listing price.
        floor_price_minor: the seller's floor, if set.
        buyer_reply_seconds: the buyer's typical reply delay, if known.

    Returns:
        The features. A lead with any scam message is a scam lead.
    """
    signal_names = {s.name for c in classifications for s in c.scam_signals}
    scams = [c for c in classifications if c.intent is Intent.SCAM]
    if scams:
        lead = max(scams, key=lambda c: c.confidence)
    elif classifications:
        rank = {intent: index for index, intent in enumerate(_FUNNEL)}
        # The furthest step wins; among equals the latest message does.
        lead = min(reversed(classifications), key=lambda c: rank.get(c.intent, len(_FUNNEL)))
    else:
        lead = Classification(Intent.OTHER, 0.0, "no messages")
    offers = [c.offer_minor for c in classifications if c.offer_minor is not None]
    joined = "\n".join(texts)
    letters = [ch for ch in joined if ch.isalpha()]
    upper = sum(1 for ch in letters if ch.isupper())
    return LeadFeatures(
        intent=lead.intent,
        confidence=lead.confidence,
        offer_minor=offers[-1] if offers and not scams else None,
        list_price_minor=list_price_minor,
        floor_price_minor=floor_price_minor,
        buyer_reply_seconds=buyer_reply_seconds,
        message_count=len(texts),
        text_length=len(joined),
        mentions_specifics=bool(_SPECIFICS.search(joined)),
        polite=bool(_POLITE.search(joined)),
        all_caps=len(letters) >= 8 and upper / len(letters) > 0.7,
        has_link=bool(_LINK.search(joined)),
        scam_signal_count=len(signal_names),
        bundle=any(c.bundle for c in classifications),
    )


# --------------------------------------------------------------------------------------------
# Features as numbers
# --------------------------------------------------------------------------------------------

FEATURE_NAMES = (
    "intent_offer",
    "intent_logistics",
    "intent_price_question",
    "intent_question",
    "intent_junk",
    "offer_vs_list",
    "offer_vs_floor",
    "reply_speed",
    "engagement",
    "quality",
    "scam_signals",
)


def _offer_ratio(f: LeadFeatures) -> float | None:
    if f.offer_minor is None or not f.list_price_minor:
        return None
    return f.offer_minor / f.list_price_minor


def _quality(f: LeadFeatures) -> float:
    value = 0.0
    if f.mentions_specifics:
        value += 0.4
    if f.polite:
        value += 0.3
    if 15 <= f.text_length <= 600:
        value += 0.3
    elif f.text_length < 6:
        value -= 0.2
    if f.all_caps:
        value -= 0.5
    if f.has_link:
        value -= 0.6
    return max(-1.0, min(1.0, value))


def _reply_speed(seconds: float | None) -> float:
    if seconds is None:
        return 0.0
    # +1 for an answer within a minute, 0 at about an hour, -1 at a day or slower (log scale).
    return max(-1.0, min(1.0, 1 - 2 * math.log1p(max(0.0, seconds) / 60) / math.log1p(1440)))


def feature_vector(f: LeadFeatures) -> dict[str, float]:
    """The numeric features the weights apply to, by name.

    Args:
        f: the lead's features.

    Returns:
        One value per name in :data:`FEATURE_NAMES`.
    """
    conf = max(0.0, min(1.0, f.confidence))
    ratio = _offer_ratio(f)
    floor = 0.0
    if f.offer_minor is not None and f.floor_price_minor is not None:
        floor = 1.0 if f.offer_minor >= f.floor_price_minor else -1.0
    return {
        "intent_offer": conf if f.intent is Intent.OFFER else 0.0,
        "intent_logistics": conf if f.intent in (Intent.PICKUP, Intent.SHIPPING) else 0.0,
        "intent_price_question": conf if f.intent is Intent.PRICE_QUESTION else 0.0,
        "intent_question": conf if f.intent in (Intent.QUESTION, Intent.AVAILABILITY) else 0.0,
        "intent_junk": conf if f.intent in (Intent.SPAM, Intent.SCAM) else 0.0,
        # Centred on 80% of list, a typical accepted offer; capped so a huge "offer" is no windfall.
        "offer_vs_list": max(-0.8, min(0.3, ratio - 0.8)) if ratio is not None else 0.0,
        "offer_vs_floor": floor,
        "reply_speed": _reply_speed(f.buyer_reply_seconds),
        "engagement": min(max(f.message_count, 0), 6) / 6,
        "quality": _quality(f),
        "scam_signals": float(min(f.scam_signal_count, 3)),
    }


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Weights:
    """Named weights of the lead-score model, plus its bias (all in log-odds)."""

    bias: float = -0.8
    intent_offer: float = 1.6
    intent_logistics: float = 1.4
    intent_price_question: float = 0.6
    intent_question: float = 0.2
    intent_junk: float = -4.0
    offer_vs_list: float = 2.0
    offer_vs_floor: float = 0.8
    reply_speed: float = 0.6
    engagement: float = 0.5
    quality: float = 0.8
    scam_signals: float = -2.5

    def to_json(self) -> dict[str, float]:
        """The weights as a JSON object (``ScoreModel.weights``)."""
        return {name: float(value) for name, value in asdict(self).items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> Weights:
        """Read weights saved by :meth:`to_json` (a mapping or its JSON text).

        Unknown names are ignored and missing ones keep their defaults, so weights saved by an
        older version still load.

        Args:
            data: the saved weights.

        Returns:
            The weights.

        Raises:
            ValueError: a weight is not a finite number.
        """
        raw = json.loads(data) if isinstance(data, str) else dict(data)
        known = {f.name for f in fields(cls)}
        values: dict[str, float] = {}
        for name, value in raw.items():
            if name not in known:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"weight {name!r} must be a finite number")
            values[name] = float(value)
        return cls(**values)

    def get(self, name: str) -> float:
        """The weight called ``name``."""
        return float(getattr(self, name))


DEFAULT_WEIGHTS = Weights()


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScorePart:
    """One part of a lead's score.

    Attributes:
        name: the feature (or ``base``).
        points: its signed contribution in score points; all parts add up to the score.
        reason: why, for the seller to read.
    """

    name: str
    points: int
    reason: str


@dataclass(frozen=True)
class LeadScore:
    """A lead's score and how it came about.

    Attributes:
        score: 0..100, roughly the chance in percent that the lead becomes a sale.
        explanation: the parts, in a fixed order, adding up to ``score``.
    """

    score: int
    explanation: tuple[ScorePart, ...]


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


def predict(features: LeadFeatures, weights: Weights = DEFAULT_WEIGHTS) -> float:
    """The model's probability (0..1) that the lead becomes a sale.

    Args:
        features: the lead's features.
        weights: the model's weights.

    Returns:
        The probability.
    """
    x = feature_vector(features)
    return _sigmoid(weights.bias + sum(weights.get(n) * x[n] for n in FEATURE_NAMES))


def _money(minor: int) -> str:
    return f"${minor // 100:,}" if minor % 100 == 0 else f"${minor / 100:,.2f}"


_INTENT_WORDS = {
    Intent.OFFER: "made an offer",
    Intent.PICKUP: "is arranging pickup",
    Intent.SHIPPING: "is asking about shipping",
    Intent.PRICE_QUESTION: "is asking about the price",
    Intent.QUESTION: "is asking about the item",
    Intent.AVAILABILITY: "asked if it is available",
    Intent.SPAM: "message is spam",
    Intent.SCAM: "message looks like a scam",
    Intent.OTHER: "sent a message with no clear intent",
}


def _reason(name: str, f: LeadFeatures, x: float) -> str:
    if name.startswith("intent_"):
        return f"buyer {_INTENT_WORDS[f.intent]} (confidence {f.confidence:.0%})"
    if name == "offer_vs_list":
        ratio = _offer_ratio(f) or 0.0
        assert f.offer_minor is not None
        text = f"offer {_money(f.offer_minor)} is {ratio:.0%} of list"
        if f.floor_price_minor is not None:
            text += ", above floor" if f.offer_minor >= f.floor_price_minor else ", below floor"
        return text
    if name == "offer_vs_floor":
        assert f.offer_minor is not None
        side = "above floor" if x > 0 else "below floor"
        return f"offer {_money(f.offer_minor)} is {side}"
    if name == "reply_speed":
        seconds = f.buyer_reply_seconds or 0.0
        pace = "fast" if x > 0.3 else "slow" if x < -0.3 else "moderate"
        when = f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.0f} h"
        return f"buyer replies in about {when} ({pace})"
    if name == "engagement":
        return f"{f.message_count} message{'s' if f.message_count != 1 else ''} from the buyer"
    if name == "quality":
        notes = [
            label
            for flag, label in (
                (f.mentions_specifics, "mentions specifics"),
                (f.polite, "polite"),
                (f.all_caps, "all caps"),
                (f.has_link, "contains a link"),
            )
            if flag
        ]
        return "message quality: " + (", ".join(notes) if notes else "plain")
    count = f.scam_signal_count
    return f"{count} scam signal{'s' if count != 1 else ''}"


def score(features: LeadFeatures, weights: Weights = DEFAULT_WEIGHTS) -> LeadScore:
    """Score a lead 0..100 and explain the score.

    The parts are attributed in a fixed order (base, intent, offer, speed, engagement, quality, scam
    signals): each part is how much the score moves when its feature is added to those before it,
    so the parts add up to the score exactly and scam signals, coming last, show how much they took.

    Args:
        features: the lead's features.
        weights: the model's weights.

    Returns:
        The score and its explanation; the floor price never appears in the text.
    """
    x = feature_vector(features)
    z = weights.bias
    exact = [100 * _sigmoid(z)]
    names = ["base"]
    for name in FEATURE_NAMES:
        shown_anyway = name == "offer_vs_list" and _offer_ratio(features) is not None
        if (x[name] == 0.0 or weights.get(name) == 0.0) and not shown_anyway:
            continue
        z += weights.get(name) * x[name]
        exact.append(100 * _sigmoid(z) - sum(exact))
        names.append(name)
    total = round(sum(exact))
    # Round the parts so they still add up to the rounded total (largest remainders first).
    floors = [math.floor(p) for p in exact]
    short = total - sum(floors)
    order = sorted(range(len(exact)), key=lambda i: exact[i] - floors[i], reverse=True)
    for i in order[: max(0, short)]:
        floors[i] += 1
    parts = [ScorePart("base", floors[0], "starting point for any lead")]
    parts.extend(
        ScorePart(name, points, _reason(name, features, x[name]))
        for name, points in zip(names[1:], floors[1:], strict=True)
    )
    return LeadScore(max(0, min(100, total)), tuple(parts))


# --------------------------------------------------------------------------------------------
# Refitting from outcomes
# --------------------------------------------------------------------------------------------


def log_loss(samples: Sequence[tuple[LeadFeatures, bool]], weights: Weights) -> float:
    """Mean negative log-likelihood of the outcomes under ``weights`` (lower is better).

    Args:
        samples: features and whether the lead became a sale.
        weights: the model's weights.

    Returns:
        The mean log-loss (0 for no samples).
    """
    if not samples:
        return 0.0
    eps = 1e-12
    total = 0.0
    for features, sold in samples:
        p = min(1 - eps, max(eps, predict(features, weights)))
        total -= math.log(p if sold else 1 - p)
    return total / len(samples)


def refit(
    samples: Sequence[tuple[LeadFeatures, bool]],
    *,
    min_samples: int = 40,
    base: Weights = DEFAULT_WEIGHTS,
    strength: float = 4.0,
    iterations: int = 400,
) -> Weights | None:
    """Refit the weights from outcomes with logistic regression regularised toward ``base``.

    Minimises mean log-loss plus ``strength / n`` times the squared distance from ``base`` (the bias
    included), so a short history moves the weights a little and a long one may move them far.
    Plain gradient descent with a backtracking step, in pure Python: a few thousand leads fit in
    well under a second.

    Args:
        samples: features and whether the lead became a sale (True).
        min_samples: fewest samples worth fitting.
        base: the weights to start from and to pull toward.
        strength: how strongly to pull toward ``base``.
        iterations: most descent steps.

    Returns:
        The new weights, or None with fewer than ``min_samples`` samples or only one outcome.
    """
    n = len(samples)
    if n < max(1, min_samples) or len({sold for _, sold in samples}) < 2:
        return None
    names = ("bias", *FEATURE_NAMES)
    rows = [([1.0] + [feature_vector(f)[name] for name in FEATURE_NAMES], 1.0 if sold else 0.0) for f, sold in samples]
    prior = [base.get(name) for name in names]
    penalty = strength / n

    def objective(w: list[float]) -> float:
        loss = 0.0
        for x, y in rows:
            z = sum(wi * xi for wi, xi in zip(w, x, strict=True))
            # log(1 + e^z) - y z, computed without overflow
            loss += (z if z > 0 else 0.0) + math.log1p(math.exp(-abs(z))) - y * z
        return loss / n + penalty * sum((wi - pi) ** 2 for wi, pi in zip(w, prior, strict=True))

    def gradient(w: list[float]) -> list[float]:
        grad = [2 * penalty * (wi - pi) for wi, pi in zip(w, prior, strict=True)]
        for x, y in rows:
            err = (_sigmoid(sum(wi * xi for wi, xi in zip(w, x, strict=True))) - y) / n
            for j, xj in enumerate(x):
                grad[j] += err * xj
        return grad

    w = list(prior)
    current = objective(w)
    step = 1.0
    for _ in range(iterations):
        g = gradient(w)
        norm = sum(gi * gi for gi in g)
        if norm < 1e-10:
            break
        while step > 1e-8:
            trial = [wi - step * gi for wi, gi in zip(w, g, strict=True)]
            value = objective(trial)
            if value <= current - 0.5 * step * norm:  # Armijo condition
                w, current = trial, value
                step *= 1.5
                break
            step /= 2
        else:
            break
    return replace(base, **{name: round(value, 6) for name, value in zip(names, w, strict=True)})
