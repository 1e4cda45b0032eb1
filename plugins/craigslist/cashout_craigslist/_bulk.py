"""The Bulk Posting Interface: the RSS 1.0/RDF documents it takes and returns, and its HTTP errors.

Craigslist documents ``POST /bulk-rss/validate`` (checks postings, publishes nothing) and
``POST /bulk-rss/post`` (publishes). Both take one RDF document with a ``cl:auth`` element in the
channel and one ``item`` per posting, and answer with one ``item`` per posting carrying a
``cl:postedStatus``. Account-level problems come back as plain-text 403 or 415 answers.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape, quoteattr

import defusedxml.ElementTree as SafeET
import httpx

from cashout_server import OutcomeUnknown, RateLimited, ReauthRequired, Rejected, TransientError, parse_retry_after

NS_RSS = "http://purl.org/rss/1.0/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_CL = "http://www.craigslist.org/about/cl-bulk-ns/1.0"

VALIDATE_PATH = "/bulk-rss/validate"
POST_PATH = "/bulk-rss/post"
CONTENT_TYPE = 'application/xml; charset="utf-8"'

MAX_IMAGES = 24

# Lower-cased fragments of the 403 texts that mean the credentials, not the posting, are wrong.
_CREDENTIAL_MESSAGES = (
    "must supply username",
    "must supply password",
    "accountid required",
    "invalid username",
    "invalid password",
    "username or password",
    "bad username",
    "bad password",
    "invalid account",
    "not authorized",
    "authentication",
)
_LOCATION_WORDS = ("location", "area", "subarea", "neighborhood")

# Keywords of an item's explanation that name the listing field it complains about.
_FIELD_WORDS = (
    ("subarea", "subarea"),
    ("area", "area"),
    ("location", "area"),
    ("category", "category"),
    ("title", "title"),
    ("description", "description"),
    ("body", "description"),
    ("replyemail", "reply_email"),
    ("reply email", "reply_email"),
    ("email", "reply_email"),
    ("image", "photos"),
    ("price", "price"),
)

_MESSAGE_MAX = 500


@dataclass(frozen=True)
class BulkAuth:
    """A bulk posting account: the values of ``cl:auth``."""

    username: str
    password: str = field(repr=False)
    account_id: str


@dataclass(frozen=True)
class BulkPosting:
    """One posting as the Bulk Posting Interface takes it."""

    key: str
    """The ``rdf:about`` correlation key."""
    title: str
    description: str
    category: str
    area: str
    reply_email: str
    privacy: str
    subarea: str | None = None
    price: str | None = None
    """Whole currency units, as text."""
    images: tuple[bytes, ...] = ()
    """JPEG files, in display order."""


@dataclass(frozen=True)
class ItemResult:
    """What craigslist answered about one posting."""

    status: str
    explanation: str = ""
    posting_id: str | None = None
    manage_url: str | None = None
    view_url: str | None = None
    warnings: tuple[str, ...] = ()


class ResponseError(ValueError):
    """A 200 answer that is not the RSS document the interface documents."""


def _text(value: str) -> str:
    return escape(value)


def _cdata(value: str) -> str:
    # "]]>" would end the section early; split it across two sections instead.
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def build_rss(auth: BulkAuth, postings: Sequence[BulkPosting]) -> bytes:
    """Build the RSS 1.0/RDF document that ``/bulk-rss/validate`` and ``/bulk-rss/post`` take.

    Args:
        auth: the account's username, password and account id.
        postings: the postings; each ``key`` becomes an ``rdf:li`` resource and an ``item``.

    Returns:
        The UTF-8 encoded document.
    """
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f"<rdf:RDF xmlns={quoteattr(NS_RSS)} xmlns:rdf={quoteattr(NS_RDF)} xmlns:cl={quoteattr(NS_CL)}>",
        "  <channel>",
        "    <items>",
        *(f"      <rdf:li rdf:resource={quoteattr(p.key)}/>" for p in postings),
        "    </items>",
        f"    <cl:auth username={quoteattr(auth.username)} password={quoteattr(auth.password)}"
        f" accountID={quoteattr(auth.account_id)}/>",
        "  </channel>",
    ]
    for p in postings:
        lines += [
            f"  <item rdf:about={quoteattr(p.key)}>",
            f"    <title>{_text(p.title)}</title>",
            f"    <description>{_cdata(p.description)}</description>",
            f"    <cl:category>{_text(p.category)}</cl:category>",
            f"    <cl:area>{_text(p.area)}</cl:area>",
        ]
        if p.subarea:
            lines.append(f"    <cl:subarea>{_text(p.subarea)}</cl:subarea>")
        if p.price is not None:
            lines.append(f"    <cl:price>{_text(p.price)}</cl:price>")
        lines.append(
            f'    <cl:replyEmail privacy={quoteattr(p.privacy)} outsideContactOK="0">'
            f"{_text(p.reply_email)}</cl:replyEmail>"
        )
        for position, image in enumerate(p.images[:MAX_IMAGES]):
            encoded = base64.b64encode(image).decode("ascii")
            lines.append(f'    <cl:image position="{position}">{encoded}</cl:image>')
        lines.append("  </item>")
    lines.append("</rdf:RDF>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _child_text(item: Element, tag: str) -> str | None:
    child = item.find(f"{{{NS_CL}}}{tag}")
    if child is None or child.text is None:
        return None
    return child.text.strip()


def _url(item: Element, tag: str) -> str | None:
    value = _child_text(item, tag)
    # Craigslist may wrap long URLs over lines; whitespace is never part of a URL.
    url = "".join(value.split()) if value else ""
    return url or None


def parse_response(body: bytes) -> dict[str, ItemResult]:
    """Read the per-posting results out of a 200 answer.

    Args:
        body: the response body.

    Returns:
        Results keyed by each item's ``rdf:about`` key.

    Raises:
        ResponseError: the body is not XML, is unsafe XML, or has no ``item`` elements.
    """
    try:
        root = SafeET.fromstring(body)
    except (ParseError, ValueError) as exc:  # defusedxml's refusals are ValueErrors
        raise ResponseError(f"unreadable answer: {exc}") from exc
    items = root.findall(f"{{{NS_RSS}}}item")
    if not items:
        raise ResponseError("the answer has no item elements")
    results: dict[str, ItemResult] = {}
    for item in items:
        key = item.get(f"{{{NS_RDF}}}about")
        if key is None:
            continue
        results[key] = ItemResult(
            status=(_child_text(item, "postedStatus") or "").upper(),
            explanation=_child_text(item, "postedExplanation") or "",
            posting_id=_child_text(item, "postingID") or None,
            manage_url=_url(item, "postingManageURL"),
            view_url=_url(item, "postingViewURL"),
            warnings=tuple(
                w.text.strip() for w in item.findall(f"{{{NS_CL}}}warning") if w.text is not None and w.text.strip()
            ),
        )
    return results


def fields_for(explanation: str) -> dict[str, str]:
    """Guess which listing field an item explanation complains about.

    Args:
        explanation: craigslist's ``cl:postedExplanation``.

    Returns:
        ``{field: explanation}`` for the first field the text names, or an empty mapping.
    """
    lowered = explanation.lower()
    for word, name in _FIELD_WORDS:
        if word in lowered:
            return {name: explanation}
    return {}


def _message(response: httpx.Response) -> str:
    text = " ".join(response.text.split())
    return (text[:_MESSAGE_MAX] or f"HTTP {response.status_code}").strip()


class Refused(Exception):
    """Carries a ``Rejected`` out of :func:`send`; the caller returns it."""

    def __init__(self, outcome: Rejected) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


async def send(http: httpx.AsyncClient, path: str, document: bytes, *, publishes: bool) -> dict[str, ItemResult]:
    """Send a document to the interface and map every failure onto the plugin contract.

    Args:
        http: the connection's client (its base URL points at craigslist or a fake).
        path: :data:`VALIDATE_PATH` or :data:`POST_PATH`.
        document: the RSS document from :func:`build_rss`.
        publishes: whether this call may publish (``/post``): failures after the request was
            sent then mean the outcome is unknown rather than a retryable error.

    Returns:
        The per-posting results of a 200 answer.

    Raises:
        Refused: craigslist refused the document (415, or a 403 that is not about credentials).
        ReauthRequired: a 403 about the username, password or account id.
        RateLimited: a 429.
        TransientError: nothing was published (never sent, 503, or any failure of validate).
        OutcomeUnknown: ``/post`` may have published (timeout after sending, other 5xx,
            unreadable answer).
    """
    try:
        response = await http.post(path, content=document, headers={"Content-Type": CONTENT_TYPE})
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol) as exc:
        raise TransientError(f"craigslist unreachable: {type(exc).__name__}") from exc
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        if publishes:
            raise OutcomeUnknown(f"no answer from craigslist after sending the posting: {type(exc).__name__}") from exc
        raise TransientError(f"craigslist validation failed: {type(exc).__name__}") from exc

    status = response.status_code
    if status == 200:
        try:
            return parse_response(response.content)
        except ResponseError as exc:
            if publishes:
                raise OutcomeUnknown(f"craigslist's answer to the posting was unreadable: {exc}") from exc
            raise TransientError(f"craigslist's validation answer was unreadable: {exc}") from exc
    message = _message(response)
    if status == 415:
        raise Refused(Rejected(reason=message))
    if status == 403:
        lowered = message.lower()
        if any(fragment in lowered for fragment in _CREDENTIAL_MESSAGES):
            raise ReauthRequired(message)
        fields = {"area": message} if any(word in lowered for word in _LOCATION_WORDS) else {}
        raise Refused(Rejected(reason=message, fields=fields))
    if status == 401:
        raise ReauthRequired(message)
    if status == 429:
        raise RateLimited(message, retry_after=parse_retry_after(response.headers.get("Retry-After")))
    if status == 503 or (status >= 500 and not publishes):
        raise TransientError(message, retry_after=parse_retry_after(response.headers.get("Retry-After")))
    if 400 <= status < 500:
        raise Refused(Rejected(reason=f"craigslist answered HTTP {status}: {message}"))
    if publishes:
        raise OutcomeUnknown(f"craigslist answered HTTP {status} to the posting: {message}")
    raise TransientError(f"craigslist answered HTTP {status}: {message}")
