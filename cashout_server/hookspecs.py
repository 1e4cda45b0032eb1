"""The cashout plugin contract: every hook a platform plugin may implement.

The docstrings in this module *are* the contract; ``docs/plugins.md`` is generated from them
(``make docs``). Each docstring says whether the hook is:

* **targeted**: called on exactly one plugin, the one that declared the connection's platform
  in :func:`platforms`; or
* **fan-out**: called on every plugin that implements it, concurrently, with one failing plugin
  never affecting the others.

Hooks may be ``async def`` or plain functions; the core awaits whatever comes back. No hook is
``firstresult``: pluggy would return the first *coroutine*, not its result.

A plugin implements hooks with the :data:`cashout_server.hookimpl` marker::

    from cashout_server import hookimpl

    @hookimpl
    async def publish(ctx, listing):
        ...
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import pluggy

from cashout_server.contract import (
    CampaignCreated,
    CampaignRequest,
    Delisted,
    FeedDocument,
    InboundEmail,
    InboundMessage,
    ListingRequest,
    MetricPoint,
    NeedsAction,
    PlatformDescriptor,
    PluginContext,
    PriceQuery,
    PriceQuote,
    PublishOutcome,
    Rejected,
    ReplyRequest,
    ReplySent,
    StatusOutcome,
    WebhookRequest,
    WebhookResponse,
)

PROJECT = "cashout"
"""The pluggy project name and the entry-point group plugins register under."""

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- discovery ------------------------------------------------------------------------------


@hookspec
def platforms() -> Sequence[PlatformDescriptor]:
    """Describe the platforms this plugin serves.

    Kind: fan-out, synchronous (called once when the plugin manager is built).

    Returns:
        One :class:`~cashout_server.contract.PlatformDescriptor` per platform: its name,
        capabilities, the credential and setting fields a connection needs (secret fields are
        encrypted at rest and never shown again), listing limits, fee model, default
        concurrency and rate limit, the actions that need a person's approval by default, and
        the API's default base URL. A platform name must be unique across installed plugins.

    Raises:
        Nothing: a plugin whose descriptors are invalid is reported by ``cashout plugins list``
        and the conformance suite, and its platforms are not offered.
    """
    raise NotImplementedError


# --- listings ----------------------------------------------------------------------------


@hookspec
async def publish(ctx: PluginContext, listing: ListingRequest) -> PublishOutcome:
    """Publish one listing on the connection's platform.

    Kind: targeted (the plugin serving ``ctx.connection.platform``).

    Args:
        ctx: the connection, an HTTP client pointed at the platform, state and a logger.
        listing: the item, its prepared photos and an idempotency key that is the same on every
            attempt of this publication.

    Returns:
        ``Published`` when live, ``Pending`` when the platform decides later (the core calls
        :func:`check_status` after ``check_after``), ``NeedsAction`` when a person must finish it
        on the platform (assisted platforms), or ``Rejected`` when the platform refused the
        listing as it stands.

    Raises:
        RateLimited: the platform asked to slow down (give ``retry_after`` when it says).
        AuthExpired: the token expired; the core refreshes once and retries once.
        ReauthRequired: the account must be reconnected by a person.
        TransientError: a failure before the request reached the platform, or a 5xx that
            certainly did not apply it.
        OutcomeUnknown: the request may have been applied (timeout after sending). The core
            will not publish again until :func:`check_status` says the listing is absent.
    """
    raise NotImplementedError


@hookspec
async def check_status(ctx: PluginContext, listing: ListingRequest) -> StatusOutcome:
    """Find out what became of a listing whose outcome was pending or unknown.

    Kind: targeted.

    Args:
        ctx: as for :func:`publish`.
        listing: the listing, with ``external_id`` set when the platform ever returned one.

    Returns:
        ``Published`` (it is live), ``Pending`` (still undecided), ``Rejected``, ``Delisted``,
        ``Sold`` (the core records the sale and takes the item down everywhere else), or
        ``Absent`` when the platform has no trace of it, which is the only answer that lets
        the core publish it again.

    Raises:
        The same errors as :func:`publish`. A plugin that cannot look a listing up raises
        ``OutcomeUnknown`` and the listing waits for a person.
    """
    raise NotImplementedError


@hookspec
async def update_listing(ctx: PluginContext, listing: ListingRequest) -> PublishOutcome:
    """Change a live listing (title, description, price, photos) to match the item.

    Kind: targeted. Only called when the descriptor declares ``update``.

    Args:
        ctx: as for :func:`publish`.
        listing: the listing as it should now be; ``external_id`` is set.

    Returns:
        As :func:`publish`.

    Raises:
        As :func:`publish`.
    """
    raise NotImplementedError


@hookspec
async def delist(ctx: PluginContext, listing: ListingRequest) -> Delisted | NeedsAction | Rejected:
    """Take a listing down (the item sold elsewhere, or the seller withdrew it).

    Kind: targeted. Only called when the descriptor declares ``delist``.

    Args:
        ctx: as for :func:`publish`.
        listing: the listing; ``external_id`` is set when the platform returned one.

    Returns:
        ``Delisted`` when it is gone (also when it was already gone), ``NeedsAction`` when a
        person must remove it by hand, or ``Rejected``.

    Raises:
        As :func:`publish`.
    """
    raise NotImplementedError


@hookspec
async def render_feed(ctx: PluginContext, listings: Sequence[ListingRequest]) -> FeedDocument:
    """Render the product feed the platform fetches from ``ctx.feed_url`` on its own schedule.

    Kind: targeted. Only called when the descriptor declares ``feed``; the core calls it when
    the platform (or a person) requests the feed URL, so it must be quick and must not call
    the platform.

    Args:
        ctx: as for :func:`publish`; ``ctx.feed_url`` is the URL being served.
        listings: every listing of the connection that should be on the platform now
            (published, pending or being published), in a stable order.

    Returns:
        The feed document (content type, bytes, file name).

    Raises:
        Nothing: a failure is served to the platform as a 500 and logged.
    """
    raise NotImplementedError


@hookspec
async def refresh_credentials(ctx: PluginContext) -> Mapping[str, str]:
    """Exchange a refresh token (or similar) for fresh credentials.

    Kind: targeted. The core calls it when another hook raised ``AuthExpired`` (then retries
    that hook once) and, later, before stored tokens expire. Calls are serialised per
    connection, so two requests never refresh at once.

    Args:
        ctx: the connection with its current credentials.

    Returns:
        The credential values that changed (e.g. ``{"access_token": ..., "expires_at": ...}``).
        They are merged over the stored credentials and encrypted. Leave a value out to keep
        it: a response without a new refresh token keeps the old one.

    Raises:
        ReauthRequired: the platform refused the refresh for good (``invalid_grant``); a person
            must reconnect the account.
        RateLimited, TransientError: try again later; the credentials stay as they are.
    """
    raise NotImplementedError


# --- leads -------------------------------------------------------------------------------


@hookspec
async def fetch_leads(ctx: PluginContext, since: datetime | None) -> Sequence[InboundMessage]:
    """Fetch buyer messages received on the connection since the last fetch.

    Kind: targeted. Only called when the descriptor declares ``leads``.

    Args:
        ctx: as for :func:`publish`; keep paging cursors in ``ctx.state``.
        since: the time of the newest message already stored, or ``None`` on the first fetch.

    Returns:
        Messages in any order. Returning one twice is harmless: the core deduplicates on
        ``(platform, external_id)``.

    Raises:
        RateLimited, AuthExpired, ReauthRequired, TransientError.
    """
    raise NotImplementedError


@hookspec
async def send_reply(ctx: PluginContext, reply: ReplyRequest) -> ReplySent | NeedsAction:
    """Send a reply to a buyer in an existing conversation.

    Kind: targeted. Only called when the descriptor declares ``reply``.

    Args:
        ctx: as for :func:`publish`.
        reply: the conversation id, the text and an idempotency key.

    Returns:
        ``ReplySent``, or ``NeedsAction`` when the platform does not allow it now (for
        example outside a messaging window) and a person must answer on the platform.

    Raises:
        As :func:`publish`; ``OutcomeUnknown`` when the reply may have been delivered.
    """
    raise NotImplementedError


@hookspec
def parse_lead_email(email: InboundEmail) -> InboundMessage | None:
    """Recognise a buyer's message among the e-mails the core's mail intake receives.

    Kind: fan-out. Every implementation sees every message; return ``None`` for mail that
    is not yours. Must be pure: no network, no state.

    Args:
        email: the decoded message (sender, recipients, subject, text and HTML bodies).

    Returns:
        The buyer message it carries, or ``None``.

    Raises:
        Nothing: an exception is logged and treated as ``None``.
    """
    raise NotImplementedError


@hookspec
async def handle_webhook(ctx: PluginContext, request: WebhookRequest) -> WebhookResponse:
    """Answer a call the platform made to the connection's webhook URL.

    Kind: targeted. Only called when the descriptor declares ``webhooks``. The URL is
    ``{public_base_url}/webhooks/{platform}/{connection_id}``; it needs no API token, so the
    plugin must verify the call itself (a signature over ``request.body``, a verify token).

    Args:
        ctx: as for :func:`publish`; no network call should be needed.
        request: method, lower-cased headers, query parameters and the raw body.

    Returns:
        The answer to give (a subscription challenge, ``200`` for an accepted event, ``403``
        for a bad signature) and any buyer messages the event carried; the core stores them
        exactly as messages from :func:`fetch_leads`.

    Raises:
        Nothing on bad input: answer it with a ``4xx`` ``WebhookResponse``.
    """
    raise NotImplementedError


# --- promotion and numbers --------------------------------------------------------------


@hookspec
async def fetch_metrics(ctx: PluginContext, since: datetime | None) -> Sequence[MetricPoint]:
    """Fetch views, clicks, spend and similar numbers for the connection's listings, posts and ads.

    Kind: targeted. Only called when the descriptor declares ``metrics``.

    Args:
        ctx: as for :func:`publish`.
        since: the newest metric time already stored, or ``None``.

    Returns:
        Metric points; a later point for the same subject and name replaces an earlier one.

    Raises:
        RateLimited, AuthExpired, ReauthRequired, TransientError.
    """
    raise NotImplementedError


@hookspec
async def price_lookup(ctx: PluginContext, query: PriceQuery) -> Sequence[PriceQuote]:
    """Look up market prices for an item being considered or listed.

    Kind: fan-out over connections: called once for every connection whose platform declares
    ``price_lookup``, concurrently; quotes are merged and a failing source is reported without
    hiding the others.

    Args:
        ctx: the connection of the price source (its API key is in the credentials).
        query: identifiers (UPC, EAN, ISBN, ASIN), title and condition.

    Returns:
        Zero or more quotes.

    Raises:
        RateLimited, AuthExpired, ReauthRequired, TransientError.
    """
    raise NotImplementedError


@hookspec
async def create_campaign(ctx: PluginContext, campaign: CampaignRequest) -> CampaignCreated | Rejected:
    """Create a paid campaign promoting one or more items.

    Kind: targeted. Only called when the descriptor declares ``campaigns``.

    Args:
        ctx: as for :func:`publish`.
        campaign: name, daily budget, schedule, items and creative, and an idempotency key.

    Returns:
        ``CampaignCreated`` with the platform's ids, or ``Rejected``.

    Raises:
        As :func:`publish`.
    """
    raise NotImplementedError
