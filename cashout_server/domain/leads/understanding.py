"""What a buyer's message means: its intent, an offered amount and any scam signals.

Pure rules with weighted cues, no model and no I/O, so the inbox can classify every message on
arrival and explain each decision. Each cue carries a strength in ``(0, 1)``; the cues of one intent
combine like independent pieces of evidence (``1 - prod(1 - s)``), so several strong cues give a
high confidence and one weak cue a low one. Callers gate automatic replies on that confidence.

When a message carries several intents the primary one is the furthest along the sale: an offer
before a price question, before pickup or shipping logistics, before a question about the item,
before a plain availability check. Scam beats everything, then spam.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

__all__ = [
    "SCAM_THRESHOLD",
    "Classification",
    "Intent",
    "ScamSignal",
    "classify",
    "parse_offer_amount",
    "scam_signals",
]


class Intent(enum.StrEnum):
    """What a buyer's message is mainly about.

    Members are upper case (``Intent.OFFER``); the lower-case names (``Intent.offer``) are aliases of
    the same members. The value is the lower-case word stored and sent on the wire.
    """

    AVAILABILITY = "availability"
    """Is the item still for sale?"""
    PRICE_QUESTION = "price_question"
    """Asks about the price (lowest, firm, negotiable) without naming an amount."""
    OFFER = "offer"
    """Names an amount."""
    PICKUP = "pickup"
    """Pickup or meeting time and place."""
    SHIPPING = "shipping"
    """Shipping or delivery."""
    QUESTION = "question"
    """Another question about the item."""
    SPAM = "spam"
    """Ads, promotions, unrelated links, mass messages."""
    SCAM = "scam"
    """A known scam script; beats every other intent."""
    OTHER = "other"
    """Thanks, ok, chit-chat."""

    availability = "availability"
    price_question = "price_question"
    offer = "offer"
    pickup = "pickup"
    shipping = "shipping"
    question = "question"
    spam = "spam"
    scam = "scam"
    other = "other"


@dataclass(frozen=True)
class ScamSignal:
    """One named reason to think a message is a scam.

    Attributes:
        name: a stable name, e.g. ``verification_code``.
        reason: what in the message raised it, for a person to read.
        strength: how strongly it points to a scam on its own (0..1).
    """

    name: str
    reason: str
    strength: float = 0.5


@dataclass(frozen=True)
class Classification:
    """The understanding of one message.

    Attributes:
        intent: the primary intent.
        confidence: 0..1; several strong cues give a high value, a weak or ambiguous message a low one.
        reason: why, naming the matched cues.
        offer_minor: an offered amount in minor units, when the message makes an offer.
        bundle: the buyer asks about or offers for several items together.
        scam_signals: the scam signals found (also on messages that are not judged scams).
        secondary: other intents present in the message, strongest first.
    """

    intent: Intent
    confidence: float
    reason: str
    offer_minor: int | None = None
    bundle: bool = False
    scam_signals: tuple[ScamSignal, ...] = ()
    secondary: tuple[Intent, ...] = ()


# --------------------------------------------------------------------------------------------
# Normalising text
# --------------------------------------------------------------------------------------------

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " ", "\u2013": "-"})
# Marketplace shorthand and frequent misspellings, mapped to the word the cues look for.
_SHORTHAND: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), word)
    for pattern, word in (
        (r"\bu\b", "you"),
        (r"\by\b(?=\s+(?:still|selling|have))", "you"),
        (r"\bur\b", "your"),
        (r"\br\b", "are"),
        (r"\bpl[sz]e?\b", "please"),
        (r"\b(?:th(?:a)?nx|thx|thnks|ty|tysm|tks)\b", "thanks"),
        (r"\b(?:tmrw|tmr|tmrow|tomoro|tomorow|tommorow|tommorrow|2moro|2morrow|tmw)\b", "tomorrow"),
        (r"\b(?:avail|avl|availble|avaliable|availabe|availible|avalible|avalable|availabile|avaible)\b", "available"),
        (r"\b(?:wud|wld)\b", "would"),
        (r"\bcud\b", "could"),
        (r"\bim\b", "i'm"),
        (r"\bill\b(?=\s+(?:take|do|pay|give|come|be|send|offer|bring|buy|grab|pick))", "i'll"),
        (r"\bi\s?d\b(?=\s+(?:take|do|pay|give|like|love|be))", "i'd"),
        (r"\bcant\b", "can't"),
        (r"\bdont\b", "don't"),
        (r"\bwont\b", "won't"),
        (r"\bwats\b|\bwhats\b", "what's"),
        (r"\blmk\b", "let me know"),
        (r"\bw/\s?", "with "),
        (r"\bb4\b", "before"),
        (r"\bomw\b", "on my way"),
        (r"\bpick-up\b|\bpick\s?up\b|\bpickup\b", "pick up"),
        (r"\bcash\s?app\b", "cashapp"),
    )
)
_SPACE = re.compile(r"\s+")


def _normalise(text: str) -> str:
    low = text.translate(_QUOTES).lower()
    for pattern, word in _SHORTHAND:
        low = pattern.sub(word, low)
    return _SPACE.sub(" ", low).strip()


# --------------------------------------------------------------------------------------------
# Offer amounts
# --------------------------------------------------------------------------------------------

_UNITS = {
    "ones": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}  # fmt: skip
_NUMBER_WORDS = re.compile(
    r"\b(?:a|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    r"seventeen|eighteen|nineteen|twenty|thirty|fou?rty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|grand)\b"
    r"(?:[\s-]+(?:and\s+)?(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|fou?rty|fifty|sixty|seventy|eighty|ninety|hundred|"
    r"thousand|grand)\b)*"
)


def _words_to_number(words: str) -> int | None:
    """Read ``"two hundred fifty"`` as 250; only runs with a tens, teens or scale word count."""
    tokens = [t for t in re.split(r"[\s-]+", words) if t and t != "and"]
    if not any(t in _TENS or t in {"hundred", "thousand", "grand"} or _UNITS.get(t, 0) >= 10 for t in tokens):
        return None
    total = current = 0
    for word in tokens:
        if word == "a":
            current = max(current, 1)
        elif word in _UNITS:
            current += _UNITS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word == "hundred":
            current = max(current, 1) * 100
        else:  # thousand / grand
            total += max(current, 1) * 1000
            current = 0
    value = total + current
    return value or None


# Spans that hold digits but never a price: removed before looking for amounts.
_NOT_PRICES = re.compile(
    r"|".join(
        (
            r"\+?\d{1,2}[\s.-]?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}",  # phone numbers with country code
            r"\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b",  # phone numbers
            r"\b\d{10,}\b",
            r"\b\d{1,2}:\d{2}\s?(?:am|pm|a\.m\.|p\.m\.)?",  # clock times
            r"\b\d{1,2}\s?(?:am|pm|a\.m\.|p\.m\.|o'?clock)\b",
            r"\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b",  # dates
            # dimensions
            r"\b\d+(?:\.\d+)?\s?(?:\"|''|'|x|by|\u00d7)\s?\d+(?:\.\d+)?(?:\s?(?:\"|''|'|x|\u00d7)\s?\d+(?:\.\d+)?)*",
            r"\b\d+(?:\.\d+)?\s?%",
            r"\b\d+(?:st|nd|rd|th)\b",
            r"\bzip(?:\s?code)?\s*(?:is\s*)?\d{5}\b",
            r"\b\d+\s+\w+\s+(?:st|street|ave|avenue|rd|road|blvd|dr|drive|ln|lane|way|ct|court|pl|place|hwy)\b",
            r"#\s?\d+",
            r"\b\d{5}(?:-\d{4})?\b(?=\s*(?:area|zip|$))",
        )
    )
)
_CANDIDATE = re.compile(
    r"(?P<cur1>[$€£]|\busd\s?|\bcad\s?)?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?)"
    r"(?P<k>\s?k\b)?(?P<cur2>\s?(?:\$|€|£|usd\b|cad\b|dollars?\b|bucks?\b|buck\b|dollar\b|ish\b))?"
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_UNIT_WORDS = _words(
    "inch inches in ft feet foot cm mm m meter meters lb lbs pound pounds kg kgs oz gb tb mb ghz hz mhz w watt watts "
    "v volt volts mah mph mile miles mi km minute minutes min mins hour hours hr hrs day days week weeks wk wks month "
    "months mo mos year years yr yrs yo people person persons kid kids piece pieces pc pcs item items unit units pair "
    "pairs set sets of more chair chairs seat seater seats drawer drawers door doors speed speeds gallon gallons qt "
    "series gen generation pro max plus mini ti xt inchs cu cubic sq bed beds bath baths hp cc sizes size times ways "
    "tickets ticket copies copy games game boxes box bags bag"
)
_PRICE_FOLLOWERS = _words(
    "bucks dollars dollar cash firm obo shipped thanks works work sounds sound please today tonight tomorrow now each "
    "total is ok okay for and if or would could can do does then max tops even flat out otd via with through on at "
    "when right venmo zelle paypal cashapp deal maybe possible lol haha plus including incl delivered picked "
    "final tonite asap cool fair good still just"
)
_MODEL_WORDS = re.compile(
    r"\b(?:iphone|ipad|galaxy|pixel|note|model|rtx|gtx|rx|ps|xbox|series|gen|generation|version|size|no\.?|number|"
    r"macbook|air|pro|watch|nintendo|switch|canon|nikon|sony|dell|hp|ryzen|core|i[3579]|intel|year|class|type|"
    r"route|apt|apartment|unit|suite|room|exit|chapter|level|mk|mark|v|s|z|fold|flip|se|ultra|plus|mini|"
    r"bmw|audi|honda|toyota|ford|f|c|e|g|t|x|since|circa)\s*$"
)
_OFFER_VERBS = re.compile(
    r"(?:take|do|offer(?:ing)?|give|pay|accept|how about|what about|would you|could you|can you|will you|i'?ll|"
    r"i can|i could|i would|ok with|okay with|settle(?: for| on)?|meet (?:me )?at|deal at|go|thinking|was hoping|"
    r"hoping|willing to (?:pay|do|spend|go)|budget(?: is| of)?|max|up to|most i can(?: do| go| pay)?|i have|"
    r"spend|sell (?:it )?(?:to me )?for|let it go for|part with it for|any chance (?:of|for)|would|could|is|"
    r"buy (?:it|them|both|all)? ?(?:for|at)|got|bring|offer you|counter|open to|consider|considering|"
    r"be ok with)\s*(?:it|them|both|you|me|at|for|with|"
    r"like|around|about|maybe|just|only|\$)?\s*(?:it|them|for|at|like|around|about)?\s*$"
)
_WEAK_BEFORE = re.compile(r"(?:\bfor|\bat|\baround|\babout|\blike|\bmaybe|\bjust|\bonly|\bhow about|\bsay|~)\s*$")
# Words shortly before a number that mark it as someone else's price, not this buyer's offer.
_NOT_OFFER_BEFORE = re.compile(
    r"\b(?:paid|retail(?:s)?|msrp|worth|asking|ask|listed|list price|listing|sells? for|selling (?:it )?for|"
    r"sold (?:mine|it|one|them)? ?for|new (?:for|at|is|they'?re|it'?s)|costs?|cost me|originally|original price|"
    r"value|valued|amazon|ebay|walmart|target|best ?buy|store|stores|saw (?:one|it|them|these|some)|"
    r"you(?:'re| are) asking|your price|price is|priced at|shipping (?:is|was|costs?|would be|will be|of|about|fee)|"
    r"tax|fee|fees|deposit of|was|were|bought (?:it|mine|one)? ?for|got (?:it|mine|one) for|going for|"
    r"(?:they|these|those|ones|usually|typically|normally|often) (?:go|goes|sell) for|sent(?: you)?|paid you|"
    r"venmo'?d(?: you)?|zelled(?: you)?|market|kbb|appraised|insured|same one for|used ones? (?:are|go|sell)|"
    r"lower than|more than)"
    r"\W+(?:\w+\W+){0,2}$"
)
_FOLLOW_OFFER = re.compile(
    r"^\s*(?:\?|cash\b|firm\b|obo\b|shipped\b|for (?:both|all|it|them|the|everything|this|that|each)|"
    r"today|tonight|tomorrow|now\b|ok\b|okay\b|deal\b|total\b|out the door|otd\b|and i|if you|work\b|works\b|"
    r"sound\b|sounds\b|would work|is my|is all|tops\b|max\b|flat\b|picked up|delivered|final|even\b|"
    r"via|with venmo|with zelle|in cash|cash in hand|right now|asap|please|then\b)"
)


@dataclass(frozen=True)
class _Candidate:
    amount_minor: int
    points: int
    cues: tuple[str, ...]
    start: int


def _mask(text: str, pattern: re.Pattern[str]) -> str:
    return pattern.sub(lambda m: " " * len(m.group(0)), text)


def _offer_candidates(text: str, list_price_minor: int | None) -> list[_Candidate]:
    low = _normalise(text)
    low = re.sub(r"\b(\d+)\s*hundred\b", lambda m: str(int(m.group(1)) * 100), low)
    low = _NUMBER_WORDS.sub(lambda m: str(n) if (n := _words_to_number(m.group(0))) else m.group(0), low)
    low = low.replace("grand", "k")
    masked = _mask(low, _NOT_PRICES)
    out: list[_Candidate] = []
    only_number = re.fullmatch(r"\W*(?:[$€£]\s?)?\d[\d,.]*\s?(?:k|\$|bucks|dollars)?\s*[?!.]*\W*", masked.strip())
    for match in _CANDIDATE.finditer(masked):
        start, end = match.start("num"), match.end()
        if start > 0 and (masked[start - 1].isalpha() or masked[start - 1] in "-/.,:"):
            continue  # part of a model number or a word: "ps5", "s21", "m1"
        raw = match.group("num").replace(",", "")
        try:
            value = Decimal(raw)
        except InvalidOperation:  # pragma: no cover - the pattern only admits digits
            continue
        tail = masked[end:]
        if tail[:1].isalpha() or (tail[:1] == "-" and tail[1:2].isalpha()):
            continue  # "27in", "3080ti", "64gb", "5-speed"
        cur = bool(match.group("cur1")) or bool(match.group("cur2") and "ish" not in match.group("cur2"))
        if match.group("k"):
            value *= 1000
        cues: list[str] = []
        points = 0
        before = masked[max(0, match.start() - 40) : match.start()]
        next_word = re.match(r"\s*([a-z']+|\?)", tail)
        follower = next_word.group(1) if next_word else ""
        if not cur and not match.group("k"):
            if follower in _UNIT_WORDS or (
                follower.endswith("s") and len(follower) > 3 and follower not in _PRICE_FOLLOWERS
            ):
                continue  # "27 inch", "2 chairs", "3 years"
            if _MODEL_WORDS.search(before):
                continue
            if "." not in raw and 1900 <= value <= 2039 and not _OFFER_VERBS.search(before):
                continue  # a year
            if value <= 12 and re.search(
                r"(?:\bat|\baround|\bby|\bafter|\bbefore|\btill|\buntil|\btil|@|-)\s*$", before
            ):
                continue  # "at 5", "around 6": a time
        if _NOT_OFFER_BEFORE.search(before) and not re.search(r"(?:take|do|offer|give|pay|accept)\W+$", before):
            continue
        if re.search(r"\b(?:the|your|that|this|ur)\s*[$€£]?\s*$", before) and not _OFFER_VERBS.search(
            before.rsplit(" the", 1)[0] + " "
        ):
            # "is the $150 firm?": restating the list price, not offering it.
            continue
        if value <= 0:
            continue
        if not cur and (re.match(r"^\s*(?:or|/)\s*\d", tail) or re.search(r"\d\s*(?:or|/)\s*$", before)):
            continue  # "128 or 256": a choice of specifications
        if cur:
            points += 2
            cues.append("currency")
        if match.group("k"):
            points += 2
            cues.append("k amount")
        if _OFFER_VERBS.search(before):
            points += 2
            cues.append("offer words")
        elif _WEAK_BEFORE.search(before):
            points += 1
            cues.append("price words")
        if _FOLLOW_OFFER.match(tail):
            bonus = 2 if re.match(r"^\s*for (?:both|all|it|them|everything|the)", tail) else 1
            points += bonus
            cues.append("offer context")
        if only_number:
            points += 2
            cues.append("a bare amount")
        amount_minor = int((value * 100).to_integral_value())
        if list_price_minor:
            ratio = amount_minor / list_price_minor
            # An offer for several items may well pass one item's list price.
            several = _BUNDLE.search(masked[max(0, start - 60) : end + 40]) is not None
            if 0.15 <= ratio <= (4.0 if several else 1.35):
                points += 1
                cues.append("plausible against list")
            elif ratio > (20 if several else 10) or ratio < 0.03:
                points -= 4
            elif ratio > (6 if several else 2.5) or ratio < 0.08:
                points -= 2
            if abs(ratio - 1) < 0.005 and re.match(r"^\s*(?:firm|negotiable|obo|still|is (?:firm|the))", tail):
                continue  # "is 150 firm?" asks about the list price
        out.append(_Candidate(amount_minor, points, tuple(cues), start))
    return out


def _best_offer(text: str, list_price_minor: int | None) -> _Candidate | None:
    candidates = [c for c in _offer_candidates(text, list_price_minor) if c.points >= 2]
    strong = [c for c in candidates if c.points >= 3 or "currency" in c.cues or "offer words" in c.cues]
    pool = strong or [c for c in candidates if "plausible against list" in c.cues or "a bare amount" in c.cues]
    if not pool:
        return None
    return max(pool, key=lambda c: (c.points, c.start))


def parse_offer_amount(text: str, *, list_price_minor: int | None = None) -> int | None:
    """Find the amount a buyer offers in a message.

    Understands ``"would you take 120"``, ``"$95 cash today"``, ``"1.2k"``, ``"120 bucks"``, ``"I can do 85.50"``,
    ``"offer 100$"``, ``"150 for both"``, ``"a hundred"``; ignores years, model numbers, phone numbers,
    dimensions, quantities, clock times and prices quoted from elsewhere ("I paid 300", "retail is 200").

    Args:
        text: the message.
        list_price_minor: the listing's price in minor units, when known; amounts far from it without
            currency or offer words are not taken for offers.

    Returns:
        The offered amount in minor units, or None when the message makes no offer.
    """
    best = _best_offer(text, list_price_minor)
    return best.amount_minor if best else None


# --------------------------------------------------------------------------------------------
# Intent cues
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cue:
    name: str
    pattern: re.Pattern[str]
    strength: float


def _cues(*rows: tuple[str, str, float]) -> tuple[_Cue, ...]:
    return tuple(_Cue(name, re.compile(pattern), strength) for name, pattern, strength in rows)


_INTENT_CUES: dict[Intent, tuple[_Cue, ...]] = {
    Intent.AVAILABILITY: _cues(
        ("'available'", r"\b(?:still )?available\b|\bavailability\b", 0.85),
        ("'still have it'", r"\bstill (?:have|got|has) (?:it|this|that|them|one|these|those)\b", 0.85),
        ("'still have'", r"\b(?:you|u) still (?:have|got|selling|sell)\b|\bstill (?:have|got)\b\W*$", 0.7),
        (
            "'still for sale'",
            r"\bstill (?:for sale|selling|up|listed|there|a thing|open|on|good|around)\b|"
            r"\bup for grabs\b|\bstill (?:have|got) (?:the|your|that|this|those|these) \w+\s*\?",
            0.7,
        ),
        ("'is it still'", r"\bis (?:this|it|that|the \w+) still\b|\bstill\s?\?", 0.6),
        ("'sold?'", r"\b(?:is (?:it|this|that) )?(?:sold|gone)(?: yet| already)?\s*\?|\bbeen sold\b|\bsold yet\b", 0.7),
        ("'for sale'", r"\bfor sale\b", 0.4),
        (
            "'interested'",
            r"\binterested\b|\bi(?:'d| would) like (?:it|this|to buy)\b|\bi want (?:it|this|to buy)\b",
            0.55,
        ),
        ("'is this a thing'", r"\b(?:do you|you) have (?:it|this|one)\b", 0.45),
    ),
    Intent.PRICE_QUESTION: _cues(
        (
            "'lowest'",
            r"\b(?:lowest|bottom|cheapest)\b|\b(?:best|final)(?: price| offer| number| you(?:'d| would| will| can)?"
            r"(?: go| take| do| accept| sell)?)\b",
            0.85,
        ),
        (
            "'firm/negotiable'",
            r"\b(?<!how )(?<!medium )(?<!medium-)(?<!extra )(?<!extra-)(?:firm(?! or)|negotiable|nego|"
            r"negotiate|neg|obo|flexible|wiggle room|room (?:on|in) "
            r"(?:the )?price|haggle)\b",
            0.75,
        ),
        ("'how much'", r"\bhow much\b", 0.6),
        (
            "'how much for it'",
            r"\bhow much (?:is it|is this|for (?:it|this|the|both|all|them|everything|each)|"
            r"(?:do|would) you want|are you asking|you want|would you take|(?:for|is) (?:the|this|that))\b",
            0.85,
        ),
        (
            "'less'",
            r"\b(?:take|accept|go|do|sell(?: it)? for|come down|drop|lower)\b[^.?!]{0,15}\b(?:less|lower|down|"
            r"cheaper)\b|\bcome down\b|\bany (?:lower|less|cheaper|discount)\b|\bdiscount\b|\bcheaper\b",
            0.8,
        ),
        (
            "'better price'",
            r"\b(?:better|lower|good|special|cash) (?:price|deal)\b|\bdo (?:any )?better\b|"
            r"\bprice drop\b|\breduce(?:d)? (?:the )?price\b|\bdeal on\b|\bgive me a deal\b",
            0.75,
        ),
        (
            "'open to offers'",
            r"\b(?:lower|best|any|open to|consider(?:ing)?|accept(?:ing)?|take|taking) offers?\b|"
            r"\bleast (?:you(?:'d| would| will)?|u)\b|\b(?:do|make|cut) (?:me )?a deal\b|\bdeal if\b|\bbundle deal\b|"
            r"\bknock (?:a bit |some(?:thing)? |anything )?off\b",
            0.75,
        ),
        (
            "'price?'",
            r"\bprice\s*\?|\bwhat(?:'s| is) (?:the|your) (?:price|asking)|\bprice (?:for|on|of)\b|"
            r"\bhow much you want\b|\bwhat do you want for\b|\basking price\b|\bcost\?",
            0.7,
        ),
        ("'price'", r"\bprice\b|\bcost\b|\bpricing\b", 0.35),
    ),
    Intent.PICKUP: _cues(
        ("'pick up'", r"\bpick(?:ing|ed)? ?(?:it |them |this |that |these |those |the \w+ )?up\b", 0.8),
        (
            "'come by'",
            r"\b(?:come|stop|drop) (?:by|over)\b|\bcome (?:get|grab|see|look at|check out|pick)\b|"
            r"\bswing by\b|\bcome to you\b|\bhead (?:over|your way)\b",
            0.8,
        ),
        ("'grab it'", r"\b(?:grab|collect|get) (?:it|them|this)\b(?! (?:shipped|delivered|mailed|sent))", 0.5),
        ("'meet'", r"\bmeet(?:up| up|ing)?\b", 0.75),
        (
            "'where are you'",
            r"\bwhere (?:are|r) (?:you|u)\b|\bwhere (?:is it|do you live|can we|should i|to meet|"
            r"are you located|is (?:pick ?up|the pick))\b|\bwhat (?:area|part of town|neighborhood|city|town|cross)|"
            r"\byour (?:location|address)\b|\bthe address\b|\bsend (?:me )?(?:the |your )?(?:address|location|pin)\b|"
            r"\bcross ?streets?\b|\blocated\b|\blocation\b",
            0.75,
        ),
        (
            "'time'",
            r"\b\d{1,2}(?::\d{2})?\s?(?:am|pm)\b|\bnoon\b|\bafter work\b|\bo'?clock\b|\bat \d{1,2}\b|"
            r"\baround \d{1,2}\b|\bthis (?:evening|afternoon|morning)\b|\btonight\b",
            0.45,
        ),
        (
            "'day'",
            r"\btoday\b|\btomorrow\b|\bthis weekend\b|\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b|"
            r"\bweekend\b|\bevening\b",
            0.35,
        ),
        (
            "'on my way'",
            r"\bon my way\b|\bi'?m (?:here|outside|out front|downstairs|at the)\b|\bhere now\b|"
            r"\brunning (?:\w+ ){0,3}(?:late|behind)\b|\bbe there\b|\bpulling up\b|\bsee you (?:at|tomorrow|then|soon|"
            r"tonight|in|there|saturday|sunday)\b|\b(?:i'?m|i am|we'?re|be|only) (?:about |like |around |maybe )?"
            r"(?:\d+|few|couple)(?: of)? min(?:ute)?s? away\b|"
            r"\bleaving now\b|\bstill on for\b|\bwe still on\b|\bstill good for\b",
            0.8,
        ),
        (
            "'when can I'",
            r"\bwhen (?:can|could|should) (?:i|we)\b|\bwhen (?:are|r) (?:you|u) (?:free|available|"
            r"around|home)\b|\bwhat time\b|\bwhat times\b|\bwhen works\b|\bwhen is good\b|\bhold it\b|"
            r"\bhold (?:it|them) "
            r"(?:for|till|until)\b",
            0.7,
        ),
        (
            "place",
            r"\b(?:building|gate|parking lot|parking|apartment|apt|buzz(?:er)?|lobby|front door|driveway|"
            r"garage|porch|exchange|halfway)\b",
            0.55,
        ),
        (
            "'see it'",
            r"\b(?:see|look at|check out|view|inspect|test) (?:it|them|this|the \w+) (?:in person|first|"
            r"before)\b|\bcome (?:see|look)\b|\bin person\b|\bviewing\b|\bi'?m (?:close|nearby|near)\b|\bhow far\b",
            0.6,
        ),
    ),
    Intent.SHIPPING: _cues(
        ("'ship'", r"\bship(?:ping|ped|s)?\b|\bpostage\b|\bpost it\b", 0.8),
        ("'deliver'", r"\bdeliver(?:y|ed|ing|s)?\b|\bdrop (?:it|them) off\b|\bbring (?:it|them) (?:to|over)\b", 0.75),
        ("'mail'", r"\bmail (?:it|them|this)\b|\bby mail\b|\bin the mail\b", 0.7),
        ("'carrier'", r"\b(?:usps|ups|fedex|dhl|priority mail|freight|tracking (?:number|#|no))\b", 0.6),
        ("'send it to'", r"\bsend (?:it|them) to\b|\bto my (?:zip|address|state)\b|\bmy zip\b|\bout of state\b", 0.5),
    ),
    Intent.QUESTION: _cues(
        (
            "item details",
            r"\b(?:condition|scratch(?:es|ed)?|dents?|damage[ds]?|stains?|tears?|rips?|cracks?|cracked|"
            r"chips?|issues?|problems?|defects?|flaws?|wear|smell|smok(?:e|er|ing)|pets?|warranty|receipt|manual|"
            r"charger|cable|cord|remote|controller|accessories|box|original|battery|mileage|miles|serial|unlocked|"
            r"carrier|storage|specs|dimensions?|measurements?|size|height|width|depth|weight|weigh|model|brand|year|"
            r"colou?r|material|wood|leather|fabric|assembled|assembly|disassemble|fit|compatible|comes? with|included|"
            r"include|includes|working|works|work\?|function|tested|firmness|bluetooth|wifi|screen|"
            r"parts|missing|clean|authentic|real|fake|genuine|lens|shutter|tires|brakes|gear)\b",
            0.7,
        ),
        (
            "'how old/big'",
            r"\bhow (?:old|big|tall|wide|long|heavy|deep|many|often|much does|much do)\b|"
            r"\bwhat (?:size|year|model|color|colour|kind|brand|type|condition|are the|is the)\b|\bwhy (?:are|r) "
            r"(?:you|u) selling\b|\bany (?:issues|problems|damage|scratches|flaws)\b|\bmore (?:pics|pictures|photos)\b|"
            r"\bsend (?:me )?(?:a |some )?(?:pics|pictures|photos|video)\b|\bdoes (?:it|this|that|they)\b|"
            r"\bdo (?:they|these)\b|\bcan (?:it|they)\b|\bis (?:it|this|that|the \w+) (?:a|an|real|new|used|"
            r"the|in|still working|working|good|ok|clean|from|compatible|original|unlocked|heavy|solid|comfortable)\b|"
            r"\bare (?:they|these|the \w+)\b|\bhave you\b|\bdid you\b|\bwas it\b",
            0.7,
        ),
        ("a question mark", r"\?", 0.35),
    ),
    Intent.OTHER: _cues(
        ("thanks", r"\bthank(?:s| you)\b|\bappreciate\b|\bcheers\b|\bmuch appreciated\b", 0.7),
        (
            "acknowledgement",
            r"^\W*(?:ok(?:ay)?|k|kk|cool|great|perfect|awesome|sounds good|got it|np|no problem|"
            r"no worries|alright|all good|sure|yes|yep|yeah|ya|nice|good|fine|will do|deal|done|noted|great thanks|"
            r"ok thanks|okay thanks)\b",
            0.65,
        ),
        (
            "'never mind'",
            r"\bnever ?mind\b|\bnvm\b|\bno longer (?:need|interested|looking)\b|\bfound (?:one|another|"
            r"something)\b|\bbought (?:one|another|something)\b|\bi'?ll pass\b|\bnot interested\b|\bchanged my mind\b|"
            r"\bno thanks\b|\bwe'?re good\b|\bpass for now\b",
            0.8,
        ),
        ("greeting", r"^\W*(?:hi|hello|hey|hiya|yo|good (?:morning|afternoon|evening))\W*$", 0.55),
        (
            "pleasantry",
            r"\bhave a (?:good|great|nice)\b|\bworks? (?:great|perfectly|fine)\b|\blove (?:it|them)\b|"
            r"\bsorry\b|\bno rush\b|\btake care\b|\bgood luck\b|\bhappy with\b|\bgot home\b|\bthanks again\b",
            0.55,
        ),
    ),
}

_SPAM_CUES = _cues(
    (
        "promotion",
        r"\b(?:promo(?:tion)?(?: code)?|discount code|coupon|\d+% off|limited time|special offer|"
        r"free (?:gift|trial|shipping on all)|best deals|shop now|buy now|order now|flash sale|clearance)\b",
        0.6,
    ),
    (
        "marketing service",
        r"\b(?:seo|search engine|rank(?:ing)? (?:on|higher|#1|first)|google (?:ranking|reviews)|"
        r"web ?(?:site)? design|(?:design|build)(?:ing)? (?:your )?(?:web ?sites?|apps?|logos?)|"
        r"(?:we|i) (?:offer|provide|design|build|help|create|manage) [^.!?]{0,30}\b(?:for|to) (?:your|small) "
        r"(?:business|businesses|brand|company|store)|for your business|starting (?:at|from) \$|"
        r"marketing (?:services?|agency)|grow your (?:business|brand|sales|page)|boost your|"
        r"(?:more|get|gain|buy) (?:\d+\s?k?\s)?(?:followers|likes|views|subscribers)|social media (?:manager|growth|"
        r"marketing)|leads for your business|digital marketing)\b",
        0.8,
    ),
    (
        "money scheme",
        r"\b(?:earn|make|making) (?:\$?\d[\d,k]*|money|extra (?:cash|income)|passive income)|"
        r"\b(?:per|a|every) (?:day|week) from home\b|\bwork from home\b|\bpassive income\b|\b(?:crypto|bitcoin|btc|"
        r"forex|nft|stock|binary|usdt|eth)\b[^.!?]{0,30}\b(?:invest(?:ment|ing)?|trading|trade|signals?|profits?|"
        r"returns?|mining|opportunity|platform|expert|mentor|airdrop)\b|\binvest(?:ment|ing)?\b[^.!?]{0,30}"
        r"\b(?:crypto|bitcoin|btc|forex|returns?|profits?)\b|\bguaranteed (?:returns?|profits?|income)\b|"
        r"\bfinancial freedom\b|\b\d+x (?:returns?|your money)\b",
        0.85,
    ),
    (
        "unrelated offer",
        r"\b(?:loans?|credit repair|insurance quote|casino|betting|bet now|onlyfans|hot singles|"
        r"dating|weight loss|diet pills?|cbd|vape|essay|followers|escort|hookup|sugar (?:daddy|mommy)|we buy (?:houses|"
        r"homes|cars|any|all)|cash for (?:your )?(?:house|home|car|junk)|sell (?:your|ur) (?:house|home|car) fast|"
        r"i buy (?:all|any) (?:phones|iphones|electronics|cars|gold)|hiring|job (?:offer|opening)|now hiring|"
        r"apply now|free iphone|giveaway|you(?:'ve| have) won|congratulations,? you|claim your prize|winner)\b",
        0.75,
    ),
    (
        "call to action",
        r"\b(?:check out|visit|follow|subscribe to|join) (?:my|our) (?:page|store|shop|website|site|"
        r"channel|group|profile|account|link)\b|\bclick (?:the |this |my )?link\b|\blink in (?:my )?bio\b|"
        r"\bjoin (?:my|our) (?:whatsapp|telegram) (?:group|channel)\b|\bdm (?:me|us) for\b|\bfor more info visit\b",
        0.7,
    ),
    (
        "mass message",
        r"\b(?:dear (?:friend|customer|sir|madam|seller|user|all)|greetings (?:to all|everyone)|"
        r"hello (?:everyone|all|friends)|to whom it may concern|attention (?:all|sellers)|hi everyone|"
        r"this is not spam|reply stop)\b",
        0.5,
    ),
)


def _intent_evidence(text: str) -> dict[Intent, tuple[float, list[str]]]:
    found: dict[Intent, tuple[float, list[str]]] = {}
    for intent, cues in _INTENT_CUES.items():
        miss = 1.0
        names: list[str] = []
        for cue in cues:
            if cue.pattern.search(text):
                miss *= 1 - cue.strength
                names.append(cue.name)
        if names:
            found[intent] = (1 - miss, names)
    return found


# --------------------------------------------------------------------------------------------
# Scam signals
# --------------------------------------------------------------------------------------------

_PAY_APPS = r"(?:zelle|cashapp|cash app|venmo|paypal|pay pal|apple pay|google pay|chime|wise|remitly)"
_IN_PERSON = re.compile(
    r"\b(?:when i (?:pick|come|get there|meet|see)|at (?:the )?(?:pick ?up|door|meet)|in person|when we meet|"
    r"upon pick ?up|on pick ?up|at pick ?up|when i arrive|cash or|or cash|and cash|at the time|before i leave|"
    r"when i'?m there|once i see|after i see|when i grab|come (?:by|over|get)|pick (?:it |them )?up)\b"
)
_TRUSTED_DOMAINS = re.compile(
    r"(?:facebook\.com|fb\.com|fb\.me|m\.me|craigslist\.org|offerup\.com|amazon\.com|amzn\.to|ebay\.com|"
    r"google\.com/maps|maps\.google|goo\.gl/maps|maps\.app\.goo\.gl|apple\.com|bestbuy\.com|ikea\.com|"
    r"walmart\.com|target\.com|homedepot\.com|lowes\.com|youtube\.com|youtu\.be|wayfair\.com|costco\.com)"
)
_URL = re.compile(
    r"(?:https?://|www\.)\S+|\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:com|net|org|xyz|top|info|ru|cn|link|click|"
    r"site|online|shop|io|ly|me|co|us|biz|live|app|page|cc|tk|ml|ga|cf|gq|store|vip|club|pw|to|gl)(?:/\S*)?\b"
)
_SHORTENERS = re.compile(r"\b(?:bit\.ly|tinyurl\.com|t\.co|rb\.gy|is\.gd|cutt\.ly|shorturl\.at|tiny\.cc|ow\.ly|"
                         r"t\.ly|s\.id|goo\.su|qr\.co)\b")  # fmt: skip
_ODD_TLD = re.compile(r"\.(?:xyz|top|ru|cn|click|site|online|tk|ml|ga|cf|gq|vip|club|pw|live|biz|info|shop)\b")
_EMAIL = re.compile(r"\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b")


@dataclass(frozen=True)
class _Rule:
    name: str
    pattern: re.Pattern[str]
    strength: float
    reason: str


def _rules(*rows: tuple[str, str, float, str]) -> tuple[_Rule, ...]:
    return tuple(_Rule(name, re.compile(pattern), strength, reason) for name, pattern, strength, reason in rows)


_SCAM_RULES = _rules(
    # Off-platform payment that the seller cannot reverse or that is not money at all.
    (
        "off_platform_payment",
        r"\b(?:pay|paying|payment|send|accept|take|use|with|in|buy)\b[^.!?]{0,25}\b(?:gift ?cards?|"
        r"(?:itunes|steam|google play|amazon|apple|ebay|visa|vanilla) (?:gift )?cards?)\b|\bgift ?cards? (?:as|for) "
        r"(?:payment|the payment)\b",
        0.8,
        "offers payment in gift cards",
    ),
    (
        "off_platform_payment",
        r"\bwire (?:transfer|the money|you|it)\b|\bwestern union\b|\bmoney ?gram\b|"
        r"\bbank (?:wire|transfer) (?:to|from)\b|\bwire the\b",
        0.75,
        "asks to pay by wire transfer",
    ),
    (
        "off_platform_payment",
        r"\b(?:pay|send|paying|payment)\b[^.!?]{0,25}\b(?:bitcoin|btc|crypto|usdt|ethereum|"
        r"eth|tether)\b|\b(?:bitcoin|btc|crypto|usdt|ethereum|tether) (?:payment|wallet|transfer)\b",
        0.75,
        "offers payment in cryptocurrency",
    ),
    (
        "off_platform_payment",
        r"\b(?:friends? (?:and|&) family|family (?:and|&) friends?|f ?& ?f|f and f)\b",
        0.65,
        "asks for PayPal 'friends and family'",
    ),
    (
        "off_platform_payment",
        rf"\b{_PAY_APPS}\b[^.!?]{{0,60}}\b(?:business (?:account|acct)|upgrade|upgraded|"
        r"premium account|limit|verify (?:your|the) account)\b|\b(?:business (?:account|acct)|upgrade (?:your|to))"
        rf"\b[^.!?]{{0,60}}\b{_PAY_APPS}\b",
        0.85,
        "claims the payment app needs a business account or upgrade",
    ),
    (
        "off_platform_payment",
        rf"\b(?:pay|paying|send|sent|payment)\b[^.!?]{{0,20}}\b(?:through|thru|via|with|on|by)"
        rf" (?:my )?{_PAY_APPS}\b[^.!?]{{0,40}}\b(?:now|right away|immediately|first|in advance|upfront|up front|"
        r"before)\b|\b(?:pay|paying) (?:you )?(?:now|first|in advance|upfront|up front|right away)\b[^.!?]{0,30}"
        rf"\b{_PAY_APPS}\b",
        0.45,
        "wants to pay through an app before meeting",
    ),
    (
        "off_platform_payment",
        rf"\b(?:pay you through|i'?ll pay (?:through|thru|via))\b|\bsend (?:me )?your "
        rf"{_PAY_APPS}(?: email| details| info| tag| name)?\b|\b{_PAY_APPS} (?:email|details|info)\b",
        0.45,
        "asks for payment-app details instead of meeting",
    ),
    # Verification codes (account takeover, Google Voice).
    (
        "verification_code",
        r"\b(?:verification|verify|confirmation|security|authentication|auth|one[- ]time|otp|"
        r"\d[- ]digit|six[- ]digit|google voice|gv|pin) ?code\b|\bgoogle voice\b|\b\d[- ]digit\b",
        0.9,
        "asks for a verification code",
    ),
    (
        "verification_code",
        r"\b(?:send|give|tell|read|text|share|forward|reply with|provide)(?: me| us| back)? "
        r"(?:the|that|this|your|a) code\b|\bcode (?:i|we) (?:just )?(?:sent|texted)\b|\bcode (?:that )?"
        r"(?:was |will be |gets )?(?:sent|texted) to (?:your|ur) (?:phone|number|cell)\b|\bget a code\b",
        0.85,
        "asks the seller to pass on a code sent to their phone",
    ),
    (
        "verification_code",
        r"\b(?:make sure|prove|verify|confirm) (?:that )?(?:you(?:'re| are)|u r|ur) (?:real|"
        r"legit|not a (?:bot|scammer|scam)|a real person|human|the owner)\b",
        0.5,
        "asks the seller to prove they are real",
    ),
    # Overpayment.
    (
        "overpayment",
        r"\b(?:refund|send back|return|give back|wire back|zelle back)(?: me| to me)?(?: the)? "
        r"(?:difference|rest|balance|extra|excess|remaining|remainder|overpay(?:ment)?)\b|\bkeep the (?:extra|rest)\b"
        r"[^.!?]{0,40}\b(?:send|pay|give) (?:the )?(?:rest|remaining|balance|mover|shipper|agent)\b",
        0.9,
        "asks for the difference of an overpayment back",
    ),
    (
        "overpayment",
        r"\b(?:certified|cashier'?s?|bank|company) (?:check|cheque)\b|\bmoney orders?\b",
        0.65,
        "offers a cheque or money order",
    ),
    (
        "overpayment",
        r"\b(?:check|cheque|payment|send(?:ing)?|pay(?:ing)?|paid)\b[^.!?]{0,40}\b(?:more than|over) "
        r"(?:the )?(?:asking|price|amount|listed)\b|\boverpa(?:y|id|ying|yment)\b|\bextra (?:\$?\d+ )?(?:to|for) "
        r"(?:cover|pay) (?:the )?(?:mover|movers|shipper|shipping agent|courier|agent|pick ?up)\b",
        0.8,
        "offers to pay more than the price",
    ),
    (
        "overpayment",
        r"\b(?:extra|additional) \$?\d+ (?:for (?:your|the) (?:trouble|stress|time|inconvenience|"
        r"patience))\b|\bextra for (?:your|the) (?:trouble|stress|inconvenience)\b",
        0.45,
        "offers extra money for the seller's trouble",
    ),
    # Someone else collects, or shipping only.
    (
        "third_party_pickup",
        r"\bmy (?:mover|movers|courier|agent|shipper|shipping agent|pick ?up agent|driver|"
        r"assistant|secretary|delivery (?:guy|man|agent|person)|moving company|logistics|freight|handler|"
        r"transport(?:er)?|dispatch(?:er)?)\b|\b(?:mover|movers|courier|pick ?up agent|shipping agent|moving company|"
        r"logistics (?:company|agent)|shipping company|freight company|delivery agent)\b[^.!?]{0,30}\b(?:will|to|would|"
        r"can|gonna|coming|come|pick|collect|handle)\b",
        0.65,
        "says a mover, courier or agent will collect",
    ),
    (
        "third_party_pickup",
        r"\b(?:will|to|can|would) (?:come and )?collect\b|\bcome (?:for|to) (?:the )?"
        r"(?:pick ?up|collection)\b",
        0.35,
        "says someone will 'collect' the item",
    ),
    (
        "third_party_pickup",
        r"\bmy (?:cousin|nephew|niece|son|daughter|brother|sister|friend|uncle|aunt|colleague|"
        r"coworker|co-worker|partner|dad|mom|father|mother|husband|wife|relative|associate)\b[^.!?]{0,25}\b(?:will|"
        r"would|can|is going to|gonna)\b[^.!?]{0,12}\b(?:pick|collect|get|grab|come)\b",
        0.2,
        "says a relative will pick up",
    ),
    (
        "shipping_only",
        r"\b(?:can'?t|cannot|won'?t be able to|unable to|not able to|not around to) (?:come|pick|meet|"
        r"view|see|inspect|make it)\b[^.!?]{0,80}\b(?:ship|shipping|courier|mover|agent|send)\b",
        0.5,
        "cannot meet and wants it shipped or sent",
    ),
    (
        "shipping_only",
        r"\b(?:i'?ll|i will|will|i can) (?:handle|arrange|take care of|sort out|cover|pay for) (?:all )?"
        r"(?:the )?(?:shipping|pick ?up|pickup|courier|delivery|moving|transport)(?: arrangements?)?\b"
        r"(?! (?:fee|cost)s? (?:if|when))",
        0.4,
        "offers to arrange shipping or collection",
    ),
    (
        "shipping_only",
        r"\b(?:fedex|ups|usps|dhl|shipping company|courier service)\b[^.!?]{0,20}\b(?:will )?(?:come|"
        r"pick|collect|come pick)\b|\b(?:ship|send) (?:it|the item|them) to my (?:\w+ )?(?:address|son|daughter|"
        r"cousin|nephew|niece|location|office|client|brother|sister|mom|dad|mother|father)\b",
        0.45,
        "wants the item shipped to someone else or collected by a carrier",
    ),
    # Fake payment confirmation.
    (
        "fake_payment",
        r"\bcheck (?:your |ur )?(?:email|inbox|spam|mail|junk)\b[^.!?]{0,40}\b(?:confirm|confirmation|"
        r"payment|notification|receipt|transfer|funds|zelle|paypal|venmo|cashapp)\b|\b(?:confirmation|payment|"
        r"notification|receipt)\b[^.!?]{0,30}\b(?:sent to|in) your (?:email|inbox|mail)\b",
        0.85,
        "tells the seller to check email for a payment confirmation",
    ),
    (
        "fake_payment",
        r"\b(?:payment|money|funds|transfer)\b[^.!?]{0,20}\b(?:is |are |has been |have been |was )?"
        r"(?:pending|on hold|being held|processing|in process|awaiting|frozen)\b",
        0.7,
        "says a payment is pending or on hold",
    ),
    (
        "fake_payment",
        r"\b(?:funds|payment|money)\b[^.!?]{0,30}\b(?:released|credited|reflect|deposited) "
        r"(?:to (?:your|ur) account )?(?:once|after|when|as soon as)\b|\b(?:provide|send|upload) (?:the |a )?"
        r"(?:tracking|shipping) (?:number|no|#|receipt)\b",
        0.85,
        "says funds are released once the seller acts",
    ),
    (
        "fake_payment",
        r"\bscreenshot\b[^.!?]{0,30}\b(?:payment|transfer|receipt|proof|transaction)\b|\b(?:payment|"
        r"transfer|transaction)\b[^.!?]{0,30}\bscreenshot\b|\bproof of payment\b",
        0.6,
        "offers a screenshot as proof of payment",
    ),
    (
        "fake_payment",
        r"\b(?:i'?ve|i have|i already|already|i just|just) (?:sent|paid|transferred|made)\b[^.!?]{0,30}"
        r"\b(?:payment|money|funds|the \$?\d+|you)\b(?![^.!?]{0,40}\b(?:see you|on my way|for the deposit|deposit))",
        0.45,
        "says payment was already sent",
    ),
    # Away from home.
    (
        "away_from_home",
        r"\b(?:deployed|deployment|offshore|oil rig|on a ship|on the ship|at sea|on duty|military base|"
        r"overseas|out of the country|abroad|on a cruise|in the navy|in the army|marine corps|peace ?keeping|"
        r"currently (?:traveling|travelling|away|out of (?:town|state))|working away|on a mission|sea ?man|seafarer)\b",
        0.5,
        "says they are deployed, offshore or abroad",
    ),
    (
        "away_from_home",
        r"\bout of (?:state|the state)\b|\bbuying (?:it )?(?:for|as a gift for) my\b|"
        r"\bsurprise (?:gift )?for my\b",
        0.3,
        "buys from out of state or for someone else",
    ),
    # Personal information "to verify".
    (
        "personal_info",
        r"\b(?:send|give|share|provide|text|dm|tell|need|want)(?: me| us)? (?:your|ur) (?:full name|"
        r"bank|account|routing|ssn|social security|date of birth|dob|card|credit card|debit card|password|login)\b",
        0.85,
        "asks for bank or identity details",
    ),
    (
        "personal_info",
        r"\b(?:send|give|share|provide|text|dm|tell|need|want|drop)(?: me| us)? (?:your|ur) "
        r"(?:e-?mail|email address|e-mail address)\b|\bwhat(?:'s| is) (?:your|ur) (?:e-?mail|email address)\b|"
        r"\byour (?:e-?mail) (?:address )?(?:so|for|to)\b",
        0.45,
        "asks for the seller's email",
    ),
    (
        "personal_info",
        r"\b(?:to|so i can|so we can|for|in order to|need to) (?:verify|confirm|make sure|prove|"
        r"authenticate|validate) (?:you|u|your|ur|that|the|it'?s|identity|this)\b|\bverification\b|\bverify\b",
        0.45,
        "asks for details 'to verify'",
    ),
    (
        "personal_info",
        r"\b(?:send|give|share|provide)(?: me)? (?:your|ur) (?:phone|number|cell|contact)"
        r"(?: number)?\b[^.!?]{0,40}\b(?:verify|confirm|payment|pay|send (?:the )?money)\b",
        0.7,
        "asks for the seller's number for payment or verification",
    ),
    # Moving the conversation off the platform.
    (
        "suspicious_link",
        r"\b(?:send|sent|click|open|use|follow|tap) (?:you |u )?(?:a|the|this|my) link\b[^.!?]{0,30}"
        r"\b(?:sign|log|accept|receive|claim|confirm|verify|release|payment|pay)\b",
        0.7,
        "wants the seller to act through a link",
    ),
    (
        "off_platform_payment",
        rf"\b(?:your|ur) {_PAY_APPS} (?:email|e-mail|details|info|account|tag|username|handle|"
        r"number|phone)\b",
        0.45,
        "asks for the seller's payment-app account",
    ),
    (
        "off_platform_contact",
        r"\b(?:whatsapp|whats app|telegram|wechat|kik|signal app|viber|hangouts)\b",
        0.5,
        "wants to move the talk to WhatsApp, Telegram or similar",
    ),
    (
        "off_platform_contact",
        r"\b(?:e-?mail me|contact me (?:at|on|via)|reach me (?:at|on|via)|my e-?mail is|"
        r"text me (?:at|on) \+)\b",
        0.4,
        "asks to continue by email or another channel",
    ),
    # "Available?" then pressure to skip the item.
    (
        "no_inspection",
        r"\b(?:without (?:seeing|inspecting|looking)|no need to (?:see|inspect|view|meet)|don'?t need to "
        r"(?:see|inspect|view)|(?:price|condition) (?:is|doesn'?t|does not) (?:not )?(?:a problem|matter|an issue))\b",
        0.35,
        "will buy without seeing the item",
    ),
)

_CORE_SCAM = frozenset(
    {"off_platform_payment", "verification_code", "overpayment", "fake_payment", "personal_info", "third_party_pickup"}
)
_SIGNAL_FLOOR = 0.3  # weaker hints are not reported: a husband picking up is normal
SCAM_THRESHOLD = 0.6


def _links(text: str) -> list[str]:
    return [m.group(0) for m in _URL.finditer(text) if not _EMAIL.search(text[max(0, m.start() - 40) : m.end()])]


def scam_signals(text: str) -> tuple[ScamSignal, ...]:
    """Find the named scam signals in a message.

    Args:
        text: the message (any case).

    Returns:
        One signal per name (the strongest match), strongest first; hints below the reporting
        floor are left out.
    """
    low = _normalise(text)
    best: dict[str, ScamSignal] = {}

    def add(name: str, strength: float, reason: str) -> None:
        # Two different cues for one signal are more telling than either alone.
        if name in best:
            old = best[name]
            combined = min(0.95, _combine((old.strength, strength)))
            reason = old.reason if old.strength >= strength else reason
            best[name] = ScamSignal(name, reason, round(combined, 2))
        else:
            best[name] = ScamSignal(name, reason, round(strength, 2))

    for rule in _SCAM_RULES:
        if rule.pattern.search(low):
            add(rule.name, rule.strength, rule.reason)
    pickup_by = best.get("third_party_pickup")
    others = {n for n in best if n not in {"third_party_pickup", "shipping_only"}}
    if (
        pickup_by
        and not others
        and re.search(
            r"\b(?:pay|paying|bring|have|with) (?:you )?(?:in )?cash\b|\bcash "
            r"(?:when|at|on)\b",
            low,
        )
    ):
        # Movers or family who bring cash to the door are how honest buyers move house.
        best["third_party_pickup"] = ScamSignal(pickup_by.name, pickup_by.reason, round(pickup_by.strength / 2, 2))
    apps = re.search(rf"\b{_PAY_APPS}\b", low)
    if apps and re.search(r"\bgoods (?:and|&) services\b|\bg ?& ?s\b|\bbuyer protection\b", low):
        apps = None  # PayPal goods and services protects both sides; asking for it is a good sign
        if "off_platform_payment" in best and best["off_platform_payment"].strength < 0.6:
            del best["off_platform_payment"]
    # Paying by app at the meeting is how honest local buyers pay; only weak app cues are forgiven.
    if (
        apps
        and "off_platform_payment" in best
        and best["off_platform_payment"].strength < 0.6
        and _IN_PERSON.search(low)
        and not any(n in best for n in ("third_party_pickup", "away_from_home"))
    ):
        del best["off_platform_payment"]
    if apps and "off_platform_payment" not in best and not _IN_PERSON.search(low):
        strength = 0.25
        if any(n in best for n in ("third_party_pickup", "shipping_only", "away_from_home", "personal_info")):
            strength = 0.55
        add("off_platform_payment", strength, f"wants to pay by {apps.group(0)} without meeting")
    if (
        "personal_info" in best
        and re.search(r"\b(?:address|location)\b", low)
        and not re.search(r"\b(?:e-?mail|bank|ssn|full name|verify|verification|account)\b", low)
    ):
        del best["personal_info"]  # "send me the address" is how pickups are arranged
    if "personal_info" in best and best["personal_info"].name and re.search(r"\bverif", low):
        other = [s for s in best.values() if s.name != "personal_info"]
        if re.search(r"\b(?:e-?mail|phone|number|name|account|identity|id)\b", low) or other:
            add("personal_info", 0.8, "asks for personal details 'to verify'")
    for link in _links(low):
        if _TRUSTED_DOMAINS.search(link):
            continue
        strength = 0.35
        reason = f"contains a link ({link[:40]})"
        if _SHORTENERS.search(link) or _ODD_TLD.search(link):
            strength = 0.55
            reason = f"contains a shortened or unusual link ({link[:40]})"
        if re.search(
            r"\b(?:verify|confirm|claim|receive|accept|release|secure|login|log in|sign in|form|fill|"
            r"payment|track|tracking|shipping|delivery|your item|your listing|is this you|this you)\b",
            low,
        ):
            strength = min(0.9, strength + 0.4)
            reason += " asking the seller to act on it"
        add("suspicious_link", strength, reason)
    if _EMAIL.search(low):
        add("off_platform_contact", 0.4, "gives an email address to continue off the platform")
    if re.search(r"\+\d{1,3}[\s-]?\(?\d", low) and not re.search(r"\+1\b", low):
        add("off_platform_contact", 0.45, "gives an international phone number")
    signals = [s for s in best.values() if s.strength >= _SIGNAL_FLOOR]
    return tuple(sorted(signals, key=lambda s: -s.strength))


def _combine(strengths: Iterable[float]) -> float:
    miss = 1.0
    for s in strengths:
        miss *= 1 - s
    return 1 - miss


# --------------------------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------------------------

_PRIORITY = (
    Intent.OFFER,
    Intent.PRICE_QUESTION,
    Intent.PICKUP,
    Intent.SHIPPING,
    Intent.QUESTION,
    Intent.AVAILABILITY,
    Intent.OTHER,
)
_PRESENT = 0.5
_BUNDLE = re.compile(
    r"\b(?:both|all (?:three|four|five|six|3|4|5|6|of (?:them|it|these|those)|the \w+s)|the (?:two|three|pair|set|"
    r"lot|2|3)|bundle|together|everything|the whole (?:set|lot|thing)|if i (?:buy|take|get) (?:the )?(?:two|three|"
    r"both|all|2|3|more|them all|multiple)|take (?:them )?all|for all|all for|package deal|as a set|"
    r"(?:two|three|2|3) (?:of them|items))\b"
)


_QUESTION_START = re.compile(
    r"(?:^|[.!]\s+)(?:does|do|is|are|what|what's|how|any|can|could|has|have|why|where|which|will|would|did|was|"
    r"were|when)\b"
)


def _spam_evidence(low: str) -> tuple[float, list[str]]:
    names = [cue.name for cue in _SPAM_CUES if cue.pattern.search(low)]
    strength = _combine(cue.strength for cue in _SPAM_CUES if cue.name in names)
    if names and _links(low):
        strength = _combine((strength, 0.4))
        names.append("a link")
    return strength, names


def _money(minor: int) -> str:
    return f"${minor // 100:,}" if minor % 100 == 0 else f"${minor / 100:,.2f}"


def classify(text: str, *, list_price_minor: int | None = None, subject: str | None = None) -> Classification:
    """Classify a buyer's message.

    Args:
        text: the message body.
        list_price_minor: the listing price in minor units, to judge whether numbers are offers.
        subject: an email subject or thread title; its words count as cues but its numbers are never
            read as offers (a Craigslist subject repeats the listing price).

    Returns:
        The primary intent, a confidence, the reason, any offer amount, bundle flag, scam signals and
        secondary intents.
    """
    head = re.sub(r"^\s*(?:(?:re|fwd?|aw)\s*:\s*)+", "", subject or "", flags=re.IGNORECASE)
    head = re.sub(r"[$€£]\s?\d[\d,.]*|\(\s*[\w\s]+\)\s*$", " ", head)
    combined = f"{head}\n{text}" if head.strip() else text
    low = _normalise(combined)
    body_low = _normalise(text)
    signals = scam_signals(combined)
    scam_strength = _combine(s.strength for s in signals)
    spam_strength, spam_cues = _spam_evidence(low)
    evidence = _intent_evidence(low)
    if Intent.QUESTION in evidence and "?" not in low and not _QUESTION_START.search(low):
        # Item words in a statement ("it works great!") are not a question.
        evidence[Intent.QUESTION] = (evidence[Intent.QUESTION][0] * 0.5, evidence[Intent.QUESTION][1])
    if Intent.PRICE_QUESTION in evidence and re.search(
        r"\bhow much (?:is|would|will|for|does|do you charge for|to)?\s?(?:the )?(?:shipping|delivery|postage|to ship|"
        r"to deliver|it cost to ship|it be to ship)\b|\b(?:shipping|delivery) (?:cost|price|fee)",
        low,
    ):
        # "how much is shipping?" asks about shipping, not about the item's price.
        names = [
            n for n in evidence[Intent.PRICE_QUESTION][1] if n not in {"'how much'", "'how much for it'", "'price'"}
        ]
        if names:
            evidence[Intent.PRICE_QUESTION] = (0.5, names)
        else:
            del evidence[Intent.PRICE_QUESTION]
    offer = _best_offer(text, list_price_minor)
    bundle = bool(_BUNDLE.search(body_low))
    if offer is not None:
        offer_strength = min(0.97, 0.35 + 0.12 * offer.points)
        evidence[Intent.OFFER] = (offer_strength, [f"amount {_money(offer.amount_minor)} ({', '.join(offer.cues)})"])
    present = [i for i in _PRIORITY if i in evidence and evidence[i][0] >= _PRESENT]
    # A bare "?" makes no item question when another intent explains the message.
    if Intent.QUESTION in present and evidence[Intent.QUESTION][1] == ["a question mark"] and len(present) > 1:
        present.remove(Intent.QUESTION)
    if Intent.OTHER in present and len(present) > 1:
        present.remove(Intent.OTHER)  # "thanks, is it available?" is about availability

    core = any(s.name in _CORE_SCAM and s.strength >= 0.45 for s in signals)
    if scam_strength >= SCAM_THRESHOLD and (spam_strength < 0.6 or core):
        also: tuple[Intent, ...] = tuple(i for i in present if i is not Intent.OTHER)
        cues = "; ".join(f"{s.name}: {s.reason}" for s in signals)
        confidence = min(0.99, 0.55 + 0.45 * scam_strength if len(signals) > 1 else scam_strength)
        return Classification(Intent.SCAM, round(confidence, 2), f"scam signals: {cues}", None, bundle, signals, also)
    if spam_strength >= 0.55:
        reason = f"spam cues: {', '.join(spam_cues)}"
        return Classification(Intent.SPAM, round(min(0.98, spam_strength), 2), reason, None, False, signals, ())

    secondary: tuple[Intent, ...]
    if present:
        primary = present[0]
        strength = evidence[primary][0]
        secondary = tuple(present[1:])
    elif evidence:
        primary = max(evidence, key=lambda i: evidence[i][0])
        strength = evidence[primary][0] * 0.8
        secondary = ()
    else:
        primary, strength, secondary = Intent.OTHER, 0.3, ()
    confidence = strength
    words = len(re.findall(r"[a-z0-9']+", body_low))
    if len(secondary) >= 2:
        confidence -= 0.05 * (len(secondary) - 1)
    if words > 60:
        confidence -= 0.1  # long messages hide more than the cues see
    if scam_strength >= 0.3:
        confidence -= 0.15  # a scam hint that did not reach the bar still makes an automatic reply unwise
    if primary is Intent.OTHER and not evidence:
        confidence = 0.25 if words else 0.1
    confidence = max(0.05, min(0.98, confidence))
    reason = f"{primary.value}: {', '.join(evidence[primary][1])}" if primary in evidence else "no cue matched"
    if secondary:
        reason += "; also " + ", ".join(f"{i.value} ({', '.join(evidence[i][1])})" for i in secondary)
    if signals:
        reason += "; weak scam hints: " + ", ".join(s.name for s in signals)
    return Classification(
        primary,
        round(confidence, 2),
        reason,
        offer.amount_minor if offer and primary is Intent.OFFER else None,
        bundle,
        signals,
        secondary,
    )
