"""Measure the message classifier on labelled buyer messages.

Run ``python -m cashout_server.domain.leads.evaluate FILE.jsonl [FILE.jsonl ...]``. Each line is a JSON
object ``{"text", "intent", "offer_minor", "list_price_minor", "scam"}``. Labels follow the classifier's
documented convention: scam beats everything, then spam; of several intents the primary one is the
furthest along the sale (offer, price question, pickup, shipping, item question, availability, other);
``offer_minor`` is set only on offers.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cashout_server.domain.leads.understanding import Classification, Intent, classify

__all__ = ["LabelledMessage", "Miss", "Report", "evaluate", "load", "main"]


@dataclass(frozen=True)
class LabelledMessage:
    """One labelled buyer message.

    Attributes:
        text: the message.
        intent: the expected primary intent.
        offer_minor: the expected offered amount (offers only).
        list_price_minor: the listing price the message was sent about.
        scam: whether the message is a scam.
    """

    text: str
    intent: Intent
    offer_minor: int | None
    list_price_minor: int | None
    scam: bool

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> LabelledMessage:
        """Build from one JSON line's object.

        Args:
            row: the decoded object.

        Returns:
            The labelled message.

        Raises:
            ValueError: the intent is unknown or a field has the wrong type.
        """
        offer = row.get("offer_minor")
        price = row.get("list_price_minor")
        if not isinstance(row.get("text"), str) or (offer is not None and not isinstance(offer, int)):
            raise ValueError(f"bad labelled row: {row!r}")
        return cls(str(row["text"]), Intent(row["intent"]), offer, price, bool(row.get("scam", False)))


@dataclass(frozen=True)
class Miss:
    """A message whose intent was not the labelled one.

    Attributes:
        text: the message.
        expected: the label.
        got: the classifier's intent.
        confidence: the classifier's confidence.
        reason: the classifier's reason.
    """

    text: str
    expected: Intent
    got: Intent
    confidence: float
    reason: str


@dataclass(frozen=True)
class Report:
    """Measured figures over a labelled set.

    Attributes:
        total: number of messages.
        intent_accuracy: share of messages whose primary intent matched.
        per_intent: precision, recall and support per intent.
        scam_recall: share of scams flagged as scams.
        scam_precision: share of messages flagged as scams that are scams.
        offer_accuracy: share of labelled offers whose amount was parsed exactly.
        offers: number of labelled offers.
        confusion: counts of (expected, got) pairs among the misses.
        misses: the misclassified messages.
        confident_accuracy: accuracy on messages classified with confidence >= 0.8.
        confident_share: share of messages classified with confidence >= 0.8.
        unsure_accuracy: accuracy on messages classified with confidence < 0.6.
    """

    total: int
    intent_accuracy: float
    per_intent: dict[Intent, tuple[float, float, int]]
    scam_recall: float
    scam_precision: float
    offer_accuracy: float
    offers: int
    confusion: Counter[tuple[Intent, Intent]] = field(default_factory=Counter)
    misses: tuple[Miss, ...] = ()
    confident_accuracy: float = 0.0
    confident_share: float = 0.0
    unsure_accuracy: float = 0.0

    def render(self) -> str:
        """The report as printed by the command line."""
        lines = [
            f"messages: {self.total}",
            f"intent accuracy: {self.intent_accuracy:.3f}",
            f"scam recall: {self.scam_recall:.3f}  scam precision: {self.scam_precision:.3f}",
            f"offer amount accuracy: {self.offer_accuracy:.3f} ({self.offers} offers)",
            f"confidence >= 0.8: {self.confident_share:.0%} of messages, accuracy {self.confident_accuracy:.3f}; "
            f"confidence < 0.6: accuracy {self.unsure_accuracy:.3f}",
            "per intent:          precision  recall  support",
        ]
        for intent in Intent:
            precision, recall, support = self.per_intent.get(intent, (0.0, 0.0, 0))
            lines.append(f"  {intent.value:<16} {precision:>9.3f} {recall:>7.3f} {support:>8}")
        if self.confusion:
            lines.append("misses (expected -> got: count):")
            for (expected, got), count in self.confusion.most_common():
                lines.append(f"  {expected.value} -> {got.value}: {count}")
        return "\n".join(lines)


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 1.0


def evaluate(rows: Iterable[LabelledMessage]) -> Report:
    """Classify every labelled message and measure the results.

    Args:
        rows: labelled messages.

    Returns:
        The report.
    """
    pairs: list[tuple[LabelledMessage, Classification]] = [
        (row, classify(row.text, list_price_minor=row.list_price_minor)) for row in rows
    ]
    total = len(pairs)
    correct = sum(1 for row, got in pairs if got.intent is row.intent)
    per_intent: dict[Intent, tuple[float, float, int]] = {}
    for intent in Intent:
        tp = sum(1 for row, got in pairs if row.intent is intent and got.intent is intent)
        predicted = sum(1 for _, got in pairs if got.intent is intent)
        support = sum(1 for row, _ in pairs if row.intent is intent)
        per_intent[intent] = (_ratio(tp, predicted), _ratio(tp, support), support)
    scams = [(row, got) for row, got in pairs if row.scam]
    flagged = [(row, got) for row, got in pairs if got.intent is Intent.SCAM]
    offers = [(row, got) for row, got in pairs if row.offer_minor is not None]
    confident = [(row, got) for row, got in pairs if got.confidence >= 0.8]
    unsure = [(row, got) for row, got in pairs if got.confidence < 0.6]
    misses = tuple(
        Miss(row.text, row.intent, got.intent, got.confidence, got.reason)
        for row, got in pairs
        if got.intent is not row.intent
    )
    return Report(
        total=total,
        intent_accuracy=_ratio(correct, total),
        per_intent=per_intent,
        scam_recall=_ratio(sum(1 for _, got in scams if got.intent is Intent.SCAM), len(scams)),
        scam_precision=_ratio(sum(1 for row, _ in flagged if row.scam), len(flagged)),
        offer_accuracy=_ratio(sum(1 for row, got in offers if got.offer_minor == row.offer_minor), len(offers)),
        offers=len(offers),
        confusion=Counter((m.expected, m.got) for m in misses),
        misses=misses,
        confident_accuracy=_ratio(sum(1 for row, got in confident if got.intent is row.intent), len(confident)),
        confident_share=_ratio(len(confident), total),
        unsure_accuracy=_ratio(sum(1 for row, got in unsure if got.intent is row.intent), len(unsure)),
    )


def load(path: Path) -> list[LabelledMessage]:
    """Read a JSON-lines file of labelled messages (blank lines are skipped).

    Args:
        path: the file.

    Returns:
        The labelled messages in file order.
    """
    with path.open(encoding="utf-8") as handle:
        return [LabelledMessage.from_json(json.loads(line)) for line in handle if line.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    """Print a report for each file named on the command line.

    Args:
        argv: the file paths (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0, or 2 when no file was named.
    """
    paths = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in paths
    paths = [p for p in paths if p != "-v"]
    if not paths:
        print("usage: python -m cashout_server.domain.leads.evaluate [-v] FILE.jsonl [FILE.jsonl ...]")
        return 2
    for index, name in enumerate(paths):
        report = evaluate(load(Path(name)))
        if index:
            print()
        print(f"== {name}")
        print(report.render())
        if verbose:
            for miss in report.misses:
                print(f"  MISS {miss.expected.value} -> {miss.got.value} ({miss.confidence:.2f}): {miss.text!r}")
                print(f"       {miss.reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
