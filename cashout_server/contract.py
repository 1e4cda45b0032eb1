"""Typed values and errors exchanged between the cashout core and platform plugins.

This module is part of the public plugin surface (with :mod:`cashout_server.hookspecs` and
:mod:`cashout_server.testing`). It imports only the standard library, msgspec and httpx, so a
plugin that depends on it pulls in nothing of the server's internals.

Every value crossing the boundary is a frozen :class:`msgspec.Struct`. Outcomes that a hook
*returns* are tagged structs (``Published``, ``Pending``, ``NeedsAction``, ``Rejected``, ...);
failures that a hook *raises* are the exceptions at the bottom of this module. The core knows
how to retry, back off, refresh or surface each of them; any other exception is treated as a
bug in the plugin and reported as such.
"""

from __future__ import annotations

import email.utils
import enum
import logging
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
import msgspec

__all__ = [
    "Absent",
    "Action",
    "AuthExpired",
    "CampaignCreated",
    "CampaignRequest",
    "Capability",
    "ConfigField",
    "ConnectionInfo",
    "Delisted",
    "FeeModel",
    "FeedDocument",
    "InboundEmail",
    "InboundMessage",
    "ItemData",
    "ListingLimits",
    "ListingRequest",
    "MetricPoint",
    "Money",
    "NeedsAction",
    "OutboundEmail",
    "OutcomeUnknown",
    "Pending",
    "PhotoRef",
    "PlatformDescriptor",
    "PluginContext",
    "PluginError",
    "PriceQuery",
    "PriceQuote",
    "PublishOutcome",
    "Published",
    "RateLimit",
    "RateLimited",
    "ReauthRequired",
    "Rejected",
    "ReplyRequest",
    "ReplySent",
    "Sold",
    "StateStore",
    "StatusOutcome",
    "TransientError",
    "WebhookRequest",
    "WebhookResponse",
    "parse_retry_after",
    "required_hook",
    "validate_descriptor",
]


class Capability(enum.StrEnum):
    """What a platform plugin can do; the core only calls hooks a descriptor declares."""

    PUBLISH = "publish"
    UPDATE = "update"
    DELIST = "delist"
    LEADS = "leads"
    REPLY = "reply"
    METRICS = "metrics"
    PRICE_LOOKUP = "price_lookup"
    CAMPAIGNS = "campaigns"
    ASSISTED = "assisted"
    """Some or all actions are completed by a person on the platform (``NeedsAction``)."""
    FEED = "feed"
    """The platform fetches a product feed that the server serves at ``PluginContext.feed_url``."""
    WEBHOOKS = "webhooks"
    """The platform calls the server at ``/webhooks/{platform}/{connection}`` (:func:`handle_webhook`)."""


class Action(enum.StrEnum):
    """Actions that a human-approval policy can gate."""

    PUBLISH = "publish"
    UPDATE = "update"
    DELIST = "delist"
    REPLY = "reply"
    COUNTER_OFFER = "counter_offer"
    AD_SPEND = "ad_spend"


class Money(msgspec.Struct, frozen=True, kw_only=True):
    """An amount of money in integer minor units (cents) of an ISO 4217 currency."""

    amount_minor: int
    currency: str = "USD"

    def format(self) -> str:
        """Render as ``"12.50 USD"`` (two decimals; the feed format most platforms accept)."""
        sign = "-" if self.amount_minor < 0 else ""
        whole, cents = divmod(abs(self.amount_minor), 100)
        return f"{sign}{whole}.{cents:02d} {self.currency}"


class ConfigField(msgspec.Struct, frozen=True, kw_only=True):
    """One field a connection to a platform needs (an API key, an account id, an area code)."""

    name: str
    label: str
    secret: bool = False
    """Secret values are encrypted at rest and never returned, logged or printed."""
    required: bool = True
    help: str = ""
    default: str | None = None
    choices: tuple[str, ...] = ()
    """If non-empty, the only accepted values."""


class ListingLimits(msgspec.Struct, frozen=True, kw_only=True):
    """What a platform accepts in one listing. ``None`` means no documented limit."""

    title_max: int | None = None
    description_max: int | None = None
    photo_max_count: int | None = None
    photo_max_bytes: int | None = None
    photo_max_edge: int | None = None
    photo_min_edge: int | None = None
    photo_formats: tuple[str, ...] = ("JPEG",)
    """Accepted formats, preferred first; the server prepares photos in the first one."""
    photo_aspect: tuple[int, int] | None = None
    """Required width:height (``(1, 1)`` for square); photos are padded to it, never cropped."""
    photo_quality: int = 85
    """Encoder quality (1-95) for lossy formats."""
    price_required: bool = False


class FeeModel(msgspec.Struct, frozen=True, kw_only=True):
    """How a platform charges the seller for a sale or a posting."""

    percent_bps: int = 0
    """Fee as basis points of the sale price (1250 = 12.5 %)."""
    fixed_minor: int = 0
    """A fixed fee per sale, in minor units of ``currency``."""
    posting_minor: int = 0
    """A fee per posting, in minor units of ``currency``."""
    minimum_minor: int = 0
    currency: str = "USD"
    note: str = ""

    def fee_for(self, price: Money) -> Money:
        """Return the sale fee for ``price`` (rounded half up to the minor unit)."""
        pct = (price.amount_minor * self.percent_bps + 5000) // 10000
        return Money(amount_minor=max(pct + self.fixed_minor, self.minimum_minor), currency=price.currency)


class RateLimit(msgspec.Struct, frozen=True, kw_only=True):
    """Default pacing for calls to one platform; connections may override it."""

    max_concurrency: int = 1
    requests_per_minute: int | None = None


class PlatformDescriptor(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the core needs to know about one platform a plugin serves."""

    name: str
    """Stable identifier, lower-case ``[a-z0-9_]+``; stored on connections."""
    display_name: str
    capabilities: frozenset[Capability]
    credential_fields: tuple[ConfigField, ...] = ()
    setting_fields: tuple[ConfigField, ...] = ()
    limits: ListingLimits = ListingLimits()
    fees: FeeModel = FeeModel()
    rate_limit: RateLimit = RateLimit()
    approval_required: frozenset[Action] = frozenset()
    """Actions that wait for a person's approval unless a connection's policy says otherwise."""
    default_base_url: str | None = None
    """Base URL of the platform's API; a connection's ``base_url`` setting overrides it."""
    description: str = ""
    leads_interval: int | None = None
    """Seconds between ``fetch_leads`` calls per account (``None``: the server's default)."""
    metrics_interval: int | None = None
    """Seconds between ``fetch_metrics`` calls per account (``None``: the server's default)."""


# --- what hooks receive -------------------------------------------------------------------


class PhotoRef(msgspec.Struct, frozen=True, kw_only=True):
    """A photo prepared for the platform: orientation applied, all metadata removed."""

    id: str
    path: str
    """Absolute path of the prepared file on the server's disk."""
    content_type: str
    width: int
    height: int
    sha256: str
    url: str | None = None
    """Public URL of the same file, when the server has a public base URL."""


class ItemData(msgspec.Struct, frozen=True, kw_only=True):
    """The item being listed, as the seller described it."""

    id: str
    sku: str | None
    title: str
    description: str
    condition: str
    category: str | None
    brand: str | None
    identifiers: Mapping[str, str]
    quantity: int
    price: Money


class ListingRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One listing to publish, update or delist on the connection's platform."""

    listing_id: str
    idempotency_key: str
    """Stable for every attempt of the same change; send it where the platform supports one."""
    item: ItemData
    photos: tuple[PhotoRef, ...] = ()
    external_id: str | None = None
    """The platform's id, once known (update, delist, check_status)."""
    options: Mapping[str, str] = {}
    """Per-listing options (for example a category override)."""


class ReplyRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A reply to send to a buyer in an existing conversation."""

    lead_external_id: str
    """The conversation's ``thread_id`` as the plugin reported it."""
    body: str
    idempotency_key: str
    to_address: str | None = None
    """The buyer's ``sender_handle`` (a relay address, a user id)."""
    subject: str | None = None
    """For e-mail conversations: the subject to reply under (``Re: ...``)."""
    in_reply_to: str | None = None
    """For e-mail conversations: the ``external_id`` (Message-ID) of the buyer's last message."""
    last_inbound_at: datetime | None = None
    """When the buyer last wrote: platforms with a messaging window decide from it."""


class PriceQuery(msgspec.Struct, frozen=True, kw_only=True):
    """What to look up a market price for."""

    identifiers: Mapping[str, str] = {}
    title: str | None = None
    condition: str | None = None
    currency: str = "USD"


class CampaignRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A paid promotion for one or more listings."""

    campaign_id: str
    idempotency_key: str
    name: str
    daily_budget: Money
    start_at: datetime | None = None
    end_at: datetime | None = None
    item_ids: tuple[str, ...] = ()
    creative_text: str = ""
    destination_url: str | None = None


class OutboundEmail(msgspec.Struct, frozen=True, kw_only=True):
    """An e-mail a plugin asks the core to send through the server's SMTP settings."""

    to: str
    subject: str
    text: str
    in_reply_to: str | None = None
    """Message-ID of the message answered, for threading."""
    references: tuple[str, ...] = ()


class WebhookRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A call a platform made to ``/webhooks/{platform}/{connection}``, exactly as received."""

    method: str
    headers: Mapping[str, str]
    """Header names in lower case."""
    query: Mapping[str, str]
    body: bytes
    """The raw body: verify signatures on these bytes, never on re-encoded JSON."""


class InboundEmail(msgspec.Struct, frozen=True, kw_only=True):
    """One e-mail offered to ``parse_lead_email`` hooks (already decoded to text)."""

    message_id: str
    from_address: str
    from_name: str | None
    to_addresses: tuple[str, ...]
    subject: str
    text: str
    html: str | None = None
    received_at: datetime | None = None
    headers: Mapping[str, str] = {}


# --- what hooks return --------------------------------------------------------------------


class Published(msgspec.Struct, frozen=True, kw_only=True, tag="published"):
    """The platform accepted the listing and it is live (or enqueued to go live by itself)."""

    external_id: str
    url: str | None = None
    manage_url: str | None = None
    """A URL only the seller uses to edit or delete the posting: shown to the seller, never logged."""
    warnings: tuple[str, ...] = ()


class Pending(msgspec.Struct, frozen=True, kw_only=True, tag="pending"):
    """The platform accepted the request but has not decided; ask ``check_status`` later."""

    check_after: datetime | None = None
    external_id: str | None = None
    detail: str = ""


class NeedsAction(msgspec.Struct, frozen=True, kw_only=True, tag="needs_action"):
    """A person must complete this step on the platform, then confirm with its URL or id."""

    instructions: str
    url: str | None = None
    """Where the person goes to do it."""
    copy: Mapping[str, str] = {}
    """Ready-to-paste fields, e.g. ``{"title": ..., "body": ..., "price": ...}``."""
    photo_ids: tuple[str, ...] = ()


class Rejected(msgspec.Struct, frozen=True, kw_only=True, tag="rejected"):
    """The platform refused the request as it stands; retrying unchanged will not help."""

    reason: str
    fields: Mapping[str, str] = {}
    """Field name to the platform's complaint, where it says which field."""


class Delisted(msgspec.Struct, frozen=True, kw_only=True, tag="delisted"):
    """The listing is no longer visible on the platform."""

    external_id: str | None = None


class Sold(msgspec.Struct, frozen=True, kw_only=True, tag="sold"):
    """``check_status`` found that the listing sold on the platform.

    The core records the sale on the item and takes it down everywhere else.
    """

    external_id: str | None = None
    quantity: int = 1
    price: Money | None = None
    """What the buyer paid, when the platform says."""


class Absent(msgspec.Struct, frozen=True, kw_only=True, tag="absent"):
    """``check_status`` found no trace of the listing: it is safe to publish it again."""

    detail: str = ""


PublishOutcome = Published | Pending | NeedsAction | Rejected
"""What ``publish`` and ``update_listing`` return."""

StatusOutcome = Published | Pending | Rejected | Delisted | Sold | Absent
"""What ``check_status`` returns."""


class FeedDocument(msgspec.Struct, frozen=True, kw_only=True):
    """A product feed the server serves for a platform to fetch on its own schedule."""

    content_type: str
    """For example ``text/csv; charset=utf-8``."""
    body: bytes
    filename: str = "feed.csv"


class InboundMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One buyer message found by ``fetch_leads`` or ``parse_lead_email``."""

    platform: str
    external_id: str
    """Unique per platform; the core deduplicates on it."""
    thread_id: str
    """The conversation (one buyer, one item) this message belongs to."""
    body: str
    sent_at: datetime
    sender_name: str | None = None
    sender_handle: str | None = None
    """Address to reply to (a relay e-mail, a user id)."""
    listing_external_id: str | None = None
    item_hint: str | None = None
    """Text naming the item when the platform gives no listing id (a subject line)."""
    direction: str = "in"
    """``in`` from the buyer, ``out`` from the seller (sent on the platform itself)."""
    offer: Money | None = None
    """An amount the platform itself marks as an offer (an OfferUp offer), if any."""
    subject: str | None = None
    """The e-mail subject, for mail-borne conversations."""


class WebhookResponse(msgspec.Struct, frozen=True, kw_only=True):
    """What to answer a platform's webhook call, and the buyer messages it carried."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    messages: tuple[InboundMessage, ...] = ()


class ReplySent(msgspec.Struct, frozen=True, kw_only=True):
    """A reply the platform accepted."""

    external_id: str | None = None


class MetricPoint(msgspec.Struct, frozen=True, kw_only=True):
    """One measured value (views, clicks, spend) of a listing, post or campaign."""

    subject: str
    """``listing``, ``post`` or ``campaign``."""
    external_id: str
    name: str
    value: int
    at: datetime


class PriceQuote(msgspec.Struct, frozen=True, kw_only=True):
    """A market price observation from one source."""

    source: str
    price: Money
    kind: str = "current"
    """``current``, ``average_90d``, ``sold`` or another source-defined kind."""
    url: str | None = None
    sales_rank: int | None = None
    observed_at: datetime | None = None


class CampaignCreated(msgspec.Struct, frozen=True, kw_only=True):
    """A campaign the platform created; ``children`` maps level names to ids."""

    external_id: str
    url: str | None = None
    children: Mapping[str, str] = {}


# --- the context every targeted hook receives ---------------------------------------------


class ConnectionInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A seller's account on one platform, with its credentials decrypted for this call."""

    id: str
    platform: str
    name: str
    settings: Mapping[str, str]
    credentials: Mapping[str, str]

    def __repr__(self) -> str:
        # Never let a stray log line or traceback print the credentials.
        return f"ConnectionInfo(id={self.id!r}, platform={self.platform!r}, name={self.name!r})"

    __str__ = __repr__


class StateStore(Protocol):
    """A small per-connection key/value store (cursors, last-seen ids)."""

    async def get(self, key: str) -> str | None:
        """Return the stored value or ``None``."""
        ...

    async def set(self, key: str, value: str | None) -> None:
        """Store ``value`` (``None`` deletes the key)."""
        ...


class PluginContext:
    """What a targeted hook gets to do its work. Built by the core, one per call.

    Attributes:
        connection: the connection (account) the call is for, credentials decrypted.
        http: an ``httpx.AsyncClient`` whose base URL is the connection's ``base_url`` setting
            or the descriptor's ``default_base_url``. Use relative URLs so tests and proxies work.
        state: per-connection key/value state that survives restarts.
        public_base_url: the server's public URL (for feeds and webhooks the platform calls).
        feed_url: where the server serves this connection's feed (:func:`render_feed`); it
            carries a secret token, so give it only to the platform.
        log: a logger named after the plugin; never log credentials.
        send_email: sends an :class:`OutboundEmail` through the server's SMTP settings, or
            ``None`` when the server has no SMTP configured. Raises ``TransientError`` when the
            mail server is unreachable, ``OutcomeUnknown`` when it may have accepted the mail.
    """

    __slots__ = (
        "_save_credentials",
        "connection",
        "feed_url",
        "http",
        "log",
        "public_base_url",
        "send_email",
        "state",
    )

    def __init__(
        self,
        *,
        connection: ConnectionInfo,
        http: httpx.AsyncClient,
        state: StateStore,
        save_credentials: Callable[[Mapping[str, str]], Awaitable[None]],
        public_base_url: str,
        log: logging.Logger,
        feed_url: str | None = None,
        send_email: Callable[[OutboundEmail], Awaitable[None]] | None = None,
    ) -> None:
        self.connection = connection
        self.http = http
        self.state = state
        self._save_credentials = save_credentials
        self.public_base_url = public_base_url
        self.log = log
        self.feed_url = feed_url
        self.send_email = send_email

    async def save_credentials(self, credentials: Mapping[str, str]) -> None:
        """Persist refreshed credentials (merged over the stored ones, encrypted at rest)."""
        await self._save_credentials(credentials)

    def __repr__(self) -> str:
        return f"PluginContext(connection={self.connection!r})"


# --- errors a hook may raise --------------------------------------------------------------


class PluginError(Exception):
    """Base of every error the core understands. Subclass one of the concrete kinds below."""

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class RateLimited(PluginError):
    """The platform asked us to slow down. Retry after ``retry_after`` seconds (or later)."""

    def __init__(self, message: str = "", *, retry_after: float | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class AuthExpired(PluginError):
    """The access token expired; the core refreshes credentials once and retries once."""


class ReauthRequired(PluginError):
    """The credentials are no longer valid; a person must reconnect the account."""


class TransientError(PluginError):
    """A temporary failure (5xx, connection refused before sending): safe to retry with backoff.

    Give ``retry_after`` when the platform said when to come back (a 503 with ``Retry-After``).
    """

    def __init__(self, message: str = "", *, retry_after: float | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class OutcomeUnknown(PluginError):
    """The request may have been applied (timeout after sending, connection reset mid-response).

    The core never re-sends it blindly: it asks ``check_status`` first, or shows it to a person.
    """


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from an HTTP ``Retry-After`` value: delay-seconds or an HTTP date.

    Args:
        value: the header's value (``None`` when absent).
        now: the current time (for tests); defaults to the clock.

    Returns:
        Seconds from now (never negative), or ``None`` when the value is missing or unreadable.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def transport_error(exc: Exception, *, platform: str, mutating: bool) -> PluginError:
    """The contract error for an HTTP call that got no usable answer.

    A request that never left (connection refused, connect or pool timeout) is a
    ``TransientError``: safe to retry. Anything later (a read timeout, a reset, a broken
    answer) may have been applied: for a request that changes something that is
    ``OutcomeUnknown``, so the core checks before sending again.

    Args:
        exc: what httpx raised.
        platform: the platform's display name, for the message.
        mutating: whether the request creates, changes or deletes something.

    Returns:
        The error to raise (``raise transport_error(exc, ...) from exc``).
    """
    what = type(exc).__name__
    if isinstance(exc, _NOT_SENT) or not mutating:
        return TransientError(f"{platform} could not be reached: {what}")
    return OutcomeUnknown(f"no usable answer from {platform} after sending: {what}")


# --- descriptor validation (used by the core and the conformance suite) ------------------

_PLATFORM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def validate_descriptor(desc: object) -> list[str]:
    """Return what is wrong with a descriptor (empty when it is valid)."""
    if not isinstance(desc, PlatformDescriptor):
        return [f"platforms() returned {type(desc).__name__}, not PlatformDescriptor"]
    problems: list[str] = []
    if not _PLATFORM_NAME.match(desc.name):
        problems.append(f"platform name {desc.name!r} must match {_PLATFORM_NAME.pattern}")
    if not desc.display_name.strip():
        problems.append(f"{desc.name}: display_name is empty")
    names = [f.name for f in (*desc.credential_fields, *desc.setting_fields)]
    if len(names) != len(set(names)):
        problems.append(f"{desc.name}: credential and setting field names must be unique")
    if "base_url" in names:
        problems.append(f"{desc.name}: 'base_url' is reserved for the core's per-connection override")
    if not 1 <= desc.limits.photo_quality <= 95:
        problems.append(f"{desc.name}: limits.photo_quality must be between 1 and 95")
    if desc.limits.photo_aspect is not None and min(desc.limits.photo_aspect) < 1:
        problems.append(f"{desc.name}: limits.photo_aspect must be two positive numbers")
    if desc.rate_limit.max_concurrency < 1:
        problems.append(f"{desc.name}: rate_limit.max_concurrency must be at least 1")
    if not 0 <= desc.fees.percent_bps <= 10000:
        problems.append(f"{desc.name}: fees.percent_bps must be between 0 and 10000")
    for label, value in (
        ("title_max", desc.limits.title_max),
        ("description_max", desc.limits.description_max),
        ("photo_max_count", desc.limits.photo_max_count),
    ):
        if value is not None and value < 0:
            problems.append(f"{desc.name}: limits.{label} must not be negative")
    return problems


_CAPABILITY_HOOKS: dict[Capability, str] = {
    Capability.PUBLISH: "publish",
    Capability.UPDATE: "update_listing",
    Capability.DELIST: "delist",
    Capability.LEADS: "fetch_leads",
    Capability.REPLY: "send_reply",
    Capability.METRICS: "fetch_metrics",
    Capability.PRICE_LOOKUP: "price_lookup",
    Capability.CAMPAIGNS: "create_campaign",
    Capability.FEED: "render_feed",
    Capability.WEBHOOKS: "handle_webhook",
}


def required_hook(capability: Capability) -> str | None:
    """The hook a plugin must implement to honour ``capability`` (``None`` for flags)."""
    return _CAPABILITY_HOOKS.get(capability)
