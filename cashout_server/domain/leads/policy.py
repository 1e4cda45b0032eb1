"""The auto-reply policy: which answers may go out without a person, per platform and intent.

Defaults are deliberately narrow. Only answers made of fixed facts are safe to send alone:
"is it available?" and, when the seller has stated shipping terms, "do you ship?". Offers,
meeting times and everything uncertain wait in the approvals queue with the draft ready.
A connection's ``auto_reply`` map overrides the defaults per intent: ``true``/``false``, or a
number used as that intent's confidence threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SAFE_INTENTS = frozenset({"availability", "shipping"})
"""Intents whose answer is made only of fixed facts (shipping only when the seller stated it)."""

NEVER_AUTO = frozenset({"offer", "pickup", "scam", "spam"})
"""Intents that always wait for a person, whatever a connection's overrides say."""


@dataclass(frozen=True, slots=True)
class AutoDecision:
    """Whether a drafted reply may be sent without a person, and why."""

    send: bool
    reason: str


def decide_auto_reply(
    *,
    intent: str,
    confidence: float,
    enabled: bool,
    threshold: float,
    overrides: Mapping[str, Any],
    facts: Mapping[str, Any],
    approval_policy_requires: bool,
) -> AutoDecision:
    """Decide whether a reply for ``intent`` goes out by itself.

    Args:
        intent: the lead's current intent.
        confidence: the classifier's confidence in it (0..1).
        enabled: the global switch (``CASHOUT_LEADS_AUTO_REPLY``).
        threshold: the global confidence threshold.
        overrides: the connection's ``auto_reply`` map (intent to bool or threshold).
        facts: the item's stated facts (shipping terms make shipping answers safe).
        approval_policy_requires: the connection's approval policy gates every reply.

    Returns:
        The decision with a reason a person can read in the lead's timeline.
    """
    if not enabled:
        return AutoDecision(False, "auto-replies are off (CASHOUT_LEADS_AUTO_REPLY)")
    if approval_policy_requires:
        return AutoDecision(False, "this account's approval policy has every reply approved by a person")
    if intent in NEVER_AUTO:
        return AutoDecision(False, f"{intent.replace('_', ' ')} messages always wait for a person")
    override = overrides.get(intent)
    if override is False:
        return AutoDecision(False, f"auto-replies to {intent} messages are off for this account")
    if isinstance(override, bool) or override is None:
        allowed = intent in SAFE_INTENTS or override is True
        if not allowed:
            return AutoDecision(False, f"{intent.replace('_', ' ')} answers are not fixed facts; a person approves")
        limit = threshold
    else:
        limit = float(override)
    if intent == "shipping" and not facts.get("shipping"):
        return AutoDecision(False, "the seller has not stated shipping terms for this item")
    if confidence < limit:
        return AutoDecision(False, f"confidence {confidence:.2f} is below the auto-reply threshold {limit:.2f}")
    return AutoDecision(True, f"{intent} answer from fixed facts, confidence {confidence:.2f} >= {limit:.2f}")
