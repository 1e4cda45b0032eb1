"""Checks every generated text passes before anyone sees it (model output and templates alike).

Each failure is a short reason in plain words, never the offending value: reasons are stored with
the draft, logged and sent back to the model, and must not carry a secret or personal data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cashout_server.domain.ai.money import bare_numbers, mentioned_amounts
from cashout_server.domain.ai.schemas import ListingCopyRequest, ReplyDraftRequest

__all__ = [
    "CheckRules",
    "check_text",
    "is_stated_yes",
    "personal_data",
    "rules_for_listing",
    "rules_for_reply",
]

# --- personal data ----------------------------------------------------------------------------

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|[\w.+-]+\s*[\[(]at[\])]\s*[\w-]+\s*[\[(]dot[\])]\s*\w+", re.I)
_PHONE = re.compile(r"(?<![\w$€£¥.,])\+?\(?\d[\d\s().-]{5,}\d(?![\w])")
_YEARS = re.compile(r"(?:19|20)\d\d\s*[-\u2013]\s*(?:19|20)\d\d")
_URL = re.compile(
    r"\b(?:https?://|www\.)\S+"
    r"|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|co|me|ly|app|shop|store|biz|info|us|uk|de|fr|ca|au|xyz"
    r"|link|site|online)\b(?:/\S*)?",
    re.I,
)
# Suffixes that are rarely anything but a street are matched in any case; words like "Drive" or
# "Way" only capitalised, so "a 5 minute drive" is not taken for an address.
# A suffix followed by an ordinary lower-case word ("58 cm steel road bike") is a noun phrase, not
# an address; addresses end there or go on with punctuation, a number or a preposition.
_NOT_A_NOUN_PHRASE = r"(?!\s+(?!(?:in|near|by|at|on|and|or|off|apt|suite|unit)\b)[a-z])"
_STREET = re.compile(
    r"\b\d{1,6}[a-z]?\s+(?:[\w'.-]+\s+){1,4}(?i:street|st|avenue|ave|road|rd|boulevard|blvd|terrace|parkway|pkwy"
    r"|highway|hwy|straße|strasse)\b" + _NOT_A_NOUN_PHRASE + r""
    r"|\b\d{1,6}[a-z]?\s+(?:[A-Z][\w'.-]*\s+){1,4}(?:Drive|Dr|Lane|Ln|Court|Ct|Way|Place|Pl|Circle|Cir)\b"
    + _NOT_A_NOUN_PHRASE
)

# --- promises ---------------------------------------------------------------------------------

_CLAUSES = re.compile(r"[.!?;,:\n]+|\b(?:but|however|though|although)\b", re.I)
_NEGATION = re.compile(r"\b(?:no|not|never|cannot|unable|without|false|none)\b|n't\b|\bpickup only\b", re.I)
_PROMISES: dict[str, tuple[re.Pattern[str], tuple[str, ...], str]] = {
    "delivery": (
        re.compile(
            r"\b(?:deliver(?:y|ies|ing|ed|s)?|drop (?:it|them) off|bring (?:it|them) (?:to|over|round)"
            r"|(?:come|drive) (?:to|by) (?:you|your))\b",
            re.I,
        ),
        ("delivery", "deliver", "delivers"),
        "promises delivery the seller did not offer",
    ),
    "shipping": (
        re.compile(
            r"\b(?:ship(?:ping|ped|s)?|mail (?:it|them)|post (?:it|them)|courier|send (?:it|them) (?:to|by|via))\b",
            re.I,
        ),
        ("shipping", "ships", "ship"),
        "promises shipping the seller did not offer",
    ),
    "hold": (
        re.compile(
            r"\b(?:hold(?:ing)? (?:it|them|the \w+|onto|on to)|reserved?|reserving|(?:set|put) (?:it|them) aside"
            r"|(?:save|keep) (?:it|them) for)\b",
            re.I,
        ),
        ("hold", "reserve", "holds"),
        "promises to hold the item, which the seller did not offer",
    ),
    "warranty": (
        re.compile(
            r"\b(?:warrant(?:y|ies|eed)|guarantee[sd]?|returns?|returnable|refunds?|refundable|money[- ]back)\b", re.I
        ),
        ("warranty", "guarantee", "returns", "refunds", "refund"),
        "promises a warranty, guarantee, returns or refunds the seller did not offer",
    ),
}
_NEW = re.compile(
    r"\b(?:brand[- ]new|new in (?:the )?box|new with tags|never (?:been )?used|unused|unworn|still sealed"
    r"|factory sealed|mint condition|NIB|NWT)\b",
    re.I,
)
_TIME = re.compile(
    r"\b(?:\d{1,2}(?::\d{2})?\s?(?:am|pm|a\.m\.|p\.m\.)|\d{1,2}:\d{2}|noon|midday|midnight|tonight|tomorrow|today"
    r"|this (?:morning|afternoon|evening|weekend)|(?:mon|tues|wednes|thurs|fri|satur|sun)days?|weekends?)(?!\w)",
    re.I,
)
_FALSY = frozenset({"", "no", "n", "false", "0", "none", "n/a", "na", "never", "not available", "unavailable"})

# --- the model talking about itself -----------------------------------------------------------

_ECHO = re.compile(
    r"\b(?:system (?:prompt|message)|my instructions|(?:the|these|previous|above|prior) (?:rules|instructions)"
    r"|ignore (?:all |any )?(?:previous|prior|above)|SELLER_FACTS|BUYER_CONVERSATION|ITEM_DETAILS)\b|<\|\w+\|>",
    re.I,
)
_AI_SELF = re.compile(r"\b(?:as an ai|an ai (?:language )?model|language model|i am an ai|i'm an ai|chatgpt)\b", re.I)
_REFUSAL = re.compile(
    r"\b(?:i can(?:'|no)?t|i am unable to|i'm unable to|i won't) (?:help|assist|comply)(?: you)? with (?:that|this)\b",
    re.I,
)
_WORD = re.compile(r"[a-z0-9']+")
_SHINGLE = 6


@dataclass(frozen=True)
class CheckRules:
    """What one generated text may and may not say."""

    max_length: int
    currency: str = "USD"
    allowed_amounts_minor: frozenset[int] = frozenset()
    forbidden_amounts_minor: frozenset[int] = frozenset()
    secrets: tuple[str, ...] = ()
    facts: Mapping[str, str] = field(default_factory=dict)
    stated: tuple[str, ...] = ()
    """Other words of the seller's (a listing's own description) that count as statements."""
    condition: str | None = None
    allowed_urls: tuple[str, ...] = ()
    instructions: tuple[str, ...] = ()
    """Text of the prompt the model must not quote back (system prompt, marker)."""


def is_stated_yes(value: str | None) -> bool:
    """Whether a fact's value says yes (``"yes"``, ``"local only, $10"``) rather than no or nothing."""
    if value is None:
        return False
    text = value.strip().lower()
    return text not in _FALSY and not text.startswith(("no ", "no,", "not ", "none"))


def _is_new(condition: str | None) -> bool:
    if not condition:
        return False
    return re.match(r"(?:brand[ -])?new\b", condition.strip().lower().replace("_", " ")) is not None


def _clauses(text: str) -> list[str]:
    return [c for c in _CLAUSES.split(text) if c and c.strip()]


def _negated(clause: str, start: int, end: int) -> bool:
    # A negation shortly before ("I'm not able to ship") or right after ("shipping isn't
    # available") the promise word; farther away it belongs to something else.
    before = " ".join(clause[:start].split()[-4:])
    after = " ".join(clause[end:].split()[:2])
    return bool(_NEGATION.search(before) or _NEGATION.search(after))


def _asserts(pattern: re.Pattern[str], texts: Iterable[str]) -> bool:
    """Whether some clause of ``texts`` says what ``pattern`` matches, not negated."""
    for text in texts:
        for clause in _clauses(text):
            for match in pattern.finditer(clause):
                if not _negated(clause, match.start(), match.end()):
                    return True
    return False


def personal_data(text: str, allowed_urls: Sequence[str] = ()) -> list[str]:
    """Reasons ``text`` carries contact details: e-mail, phone, street address or a link not allowed."""
    reasons = []
    if _EMAIL.search(text):
        reasons.append("contains an e-mail address")
    for match in _PHONE.finditer(text):
        digits = sum(ch.isdigit() for ch in match.group(0))
        if 7 <= digits <= 15 and not _YEARS.fullmatch(match.group(0).strip()):
            reasons.append("contains a phone number")
            break
    if _STREET.search(text):
        reasons.append("contains a street address")
    for match in _URL.finditer(text):
        link = match.group(0).rstrip(".,;:!?)")
        if not any(link.startswith(allowed) or allowed.startswith(link) for allowed in allowed_urls if allowed):
            reasons.append("contains a link")
            break
    return reasons


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _secret_found(text: str, secrets: Sequence[str]) -> bool:
    haystack = _normal(text)
    for secret in secrets:
        needle = _normal(secret)
        if needle and re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", haystack):
            return True
    return False


def _quotes_instructions(text: str, instructions: Sequence[str]) -> bool:
    words = _WORD.findall(text.lower())
    shingles = {tuple(words[i : i + _SHINGLE]) for i in range(len(words) - _SHINGLE + 1)}
    for instruction in instructions:
        source = _WORD.findall(instruction.lower())
        if len(source) < _SHINGLE:
            if source and " ".join(source) in " ".join(words):
                return True
            continue
        if any(tuple(source[i : i + _SHINGLE]) in shingles for i in range(len(source) - _SHINGLE + 1)):
            return True
    return False


def _money(text: str, rules: CheckRules) -> list[str]:
    reasons = []
    floor = max(rules.forbidden_amounts_minor, default=None)
    for amount in mentioned_amounts(text, rules.currency):
        if amount in rules.allowed_amounts_minor:
            continue
        if amount in rules.forbidden_amounts_minor or (floor is not None and amount <= floor):
            reasons.append("mentions a price at or below the seller's minimum")
        else:
            reasons.append("mentions a price the seller did not agree to")
        break
    if not reasons and rules.forbidden_amounts_minor:
        for amount in bare_numbers(text, rules.currency):
            if amount in rules.forbidden_amounts_minor and amount not in rules.allowed_amounts_minor:
                reasons.append("mentions a price at or below the seller's minimum")
                break
    return reasons


def _promises(text: str, rules: CheckRules) -> list[str]:
    reasons = []
    stated = [*rules.facts.values(), *rules.stated]
    for pattern, keys, reason in _PROMISES.values():
        if not _asserts(pattern, [text]):
            continue
        said = any(is_stated_yes(v) for k, v in rules.facts.items() if k.lower() in keys) or _asserts(pattern, stated)
        if not said:
            reasons.append(reason)
    if _NEW.search(text) and not _is_new(rules.condition) and not any(_NEW.search(s) for s in stated):
        reasons.append("calls the item new, but its condition is not new")
    facts_text = re.sub(r"[\s.]", "", " ".join([*rules.facts.values(), *rules.stated]).lower())
    for match in _TIME.finditer(text):
        token = re.sub(r"[\s.]", "", match.group(0).lower()).removesuffix("s")
        if token not in facts_text:
            reasons.append("proposes a meeting time the seller did not give")
            break
    return reasons


def check_text(text: str, rules: CheckRules) -> tuple[str, ...]:
    """Check one generated text against ``rules``.

    Args:
        text: the reply, or a listing's title and description joined.
        rules: what it may say.

    Returns:
        Reasons it must not be used; empty when it passes.
    """
    body = text.strip()
    if not body:
        return ("is empty",)
    reasons: list[str] = []
    if len(body) > rules.max_length:
        reasons.append(f"is too long ({len(body)} characters, the limit is {rules.max_length})")
    if _secret_found(body, rules.secrets):
        reasons.append("contains a confidential value")
    reasons.extend(_money(body, rules))
    reasons.extend(personal_data(body, rules.allowed_urls))
    reasons.extend(_promises(body, rules))
    if _ECHO.search(body) or _quotes_instructions(body, rules.instructions):
        reasons.append("repeats its instructions")
    if _AI_SELF.search(body):
        reasons.append("talks about being an AI")
    if _REFUSAL.search(body):
        reasons.append("refuses instead of replying")
    return tuple(dict.fromkeys(reasons))


_AMOUNT_ONLY = re.compile(r"[$€£¥]?\s?[\d.,]+\s?(?:[A-Za-z]{3})?|[A-Za-z]{3}\s?[\d.,]+")


def _secrets_except(secrets: Sequence[str], allowed: set[int], currency: str) -> tuple[str, ...]:
    """Drop secrets that are just a price this text is allowed to say (accepting exactly the floor)."""
    kept = []
    for secret in secrets:
        if _AMOUNT_ONLY.fullmatch(secret.strip()) and set(bare_numbers(secret, currency)) & allowed:
            continue
        kept.append(secret)
    return tuple(kept)


def _amounts_in(texts: Iterable[str], currency: str) -> set[int]:
    return {amount for text in texts for amount in mentioned_amounts(text, currency)}


def rules_for_reply(request: ReplyDraftRequest, *, instructions: Sequence[str] = ()) -> CheckRules:
    """The rules a reply to ``request`` must pass.

    Allowed prices: the list price, the decision price, and prices the seller wrote in ``facts``
    (e.g. a shipping cost); never a forbidden amount.
    """
    forbidden = frozenset(request.forbidden_amounts_minor)
    allowed = {request.list_price_minor} | _amounts_in(request.facts.values(), request.currency)
    if request.decision_price_minor is not None:
        allowed.add(request.decision_price_minor)
    # A decided price may equal the floor (accepting exactly the minimum); facts never override it.
    decided = {request.decision_price_minor, request.list_price_minor}
    allowed = {a for a in allowed if a not in forbidden or a in decided}
    return CheckRules(
        max_length=request.max_length,
        currency=request.currency,
        allowed_amounts_minor=frozenset(allowed),
        forbidden_amounts_minor=forbidden,
        secrets=_secrets_except(request.secrets, {a for a in decided if a is not None}, request.currency),
        facts=dict(request.facts),
        stated=(request.item_title,),
        condition=request.facts.get("condition"),
        allowed_urls=tuple(request.allowed_urls),
        instructions=tuple(instructions),
    )


def rules_for_listing(request: ListingCopyRequest, *, max_length: int, instructions: Sequence[str] = ()) -> CheckRules:
    """The content rules listing copy must pass (lengths of title and description are checked apart).

    The seller's own description counts as their statement (a warranty they wrote may be repeated).
    """
    forbidden = frozenset(request.forbidden_amounts_minor)
    allowed = _amounts_in([*request.facts.values(), request.description], request.currency)
    if request.list_price_minor is not None:
        allowed.add(request.list_price_minor)
    return CheckRules(
        max_length=max_length,
        currency=request.currency,
        allowed_amounts_minor=frozenset(a for a in allowed if a not in forbidden or a == request.list_price_minor),
        forbidden_amounts_minor=forbidden,
        secrets=tuple(request.secrets),
        facts=dict(request.facts),
        stated=(request.item_title, request.description, *request.photo_captions),
        condition=request.condition,
        instructions=tuple(instructions),
    )
