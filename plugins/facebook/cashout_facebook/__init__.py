"""Facebook for cashout: a Commerce catalog through the Graph API, and assisted Marketplace listings.

A connection works in one of three modes (the ``mode`` setting):

* ``catalog``: each change is one request to the Catalog Batch API
  (``POST /{version}/{catalog_id}/items_batch``, ``CREATE``/``UPDATE``/``DELETE``). Meta
  processes batches asynchronously, so ``publish`` answers ``Pending`` and ``check_status``
  polls ``check_batch_request_status`` with the handle kept in ``ctx.state``.
* ``feed``: the server serves a CSV product feed at ``ctx.feed_url`` (:func:`render_feed`) and
  the plugin registers it once as a scheduled feed of the catalog; products appear after
  Facebook's next fetch.
* ``marketplace``: personal Marketplace listings have no API, so every step is a ``NeedsAction``
  with ready-to-paste copy that a person completes and confirms.

The catalog ``id`` (retailer id) of a product is stable per item, and batch writes upsert, so a
resend never creates a second product: after an unanswered write, ``check_status`` looks the
product up by retailer id and only ``Absent`` lets the core send again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cashout_facebook import _graph, _messenger
from cashout_facebook._catalog import (
    DEFAULT_GRAPH_VERSION,
    DESCRIPTION_MAX,
    FEED_INTERVALS,
    MODES,
    RETAILER_ID_SOURCES,
    TITLE_MAX,
    Product,
    Settings,
    build_product,
    find_product,
    read_batch_answer,
    read_batch_status,
    read_settings,
    retailer_id_for,
)
from cashout_facebook._feed import CONTENT_TYPE, FILENAME, render_csv
from cashout_facebook._text import MARKETPLACE_CONDITIONS
from cashout_server import (
    Absent,
    Capability,
    ConfigField,
    ConnectionInfo,
    Delisted,
    FeedDocument,
    FeeModel,
    InboundMessage,
    ListingLimits,
    ListingRequest,
    NeedsAction,
    OutcomeUnknown,
    Pending,
    PlatformDescriptor,
    PluginContext,
    PluginError,
    Published,
    PublishOutcome,
    RateLimit,
    ReauthRequired,
    Rejected,
    ReplyRequest,
    ReplySent,
    StatusOutcome,
    TransientError,
    WebhookRequest,
    WebhookResponse,
    fit_text,
    fit_title,
    hookimpl,
    whole_units,
)

__all__ = [
    "MARKETPLACE_CREATE_URL",
    "MARKETPLACE_SELLING_URL",
    "PLATFORM",
    "check_status",
    "delist",
    "descriptor",
    "fetch_leads",
    "handle_webhook",
    "platforms",
    "publish",
    "refresh_credentials",
    "render_feed",
    "send_reply",
    "thread_key",
    "update_listing",
]

PLATFORM = "facebook"
thread_key = _messenger.thread_key
MARKETPLACE_CREATE_URL = "https://www.facebook.com/marketplace/create/item"
MARKETPLACE_SELLING_URL = "https://www.facebook.com/marketplace/you/selling"
"""The seller's own Marketplace listings (unverified path)."""
COMMERCE_MANAGER_URL = "https://business.facebook.com/commerce/catalogs/{catalog_id}/products"
"""Commerce Manager's product list for a catalog (unverified path)."""

MARKETPLACE_TITLE_MAX = 100
"""Marketplace's title box (unverified: not in FACTS.md)."""
PHOTO_MAX = 10
"""Marketplace takes about 10 photos per item and a catalog 1 + 20 (both unverified); 10 fits both."""
PHOTO_MIN_EDGE = 500
"""Meta asks for catalog images of at least 500 x 500 px (third-party feed specs; not in FACTS.md)."""
DEFAULT_MARKETPLACE_CATEGORY = "Miscellaneous"

BATCH_CHECK_AFTER = timedelta(seconds=30)
"""Catalog batches usually finish within seconds to minutes (unverified)."""
FEED_CHECK_AFTER = timedelta(hours=1)
"""Scheduled feeds are fetched at most hourly (Meta's catalog best practices)."""

_BATCH = "batch:"
_FEED = "feed"
_NOT_FOUND_WORDS = ("not found", "does not exist", "doesn't exist", "no item", "not exist")


def descriptor() -> PlatformDescriptor:
    """Describe the Facebook platform.

    Returns:
        The descriptor the core registers under ``facebook``.
    """
    return PlatformDescriptor(
        name=PLATFORM,
        display_name="Facebook",
        description=(
            "Lists items in a Meta Commerce catalog (Facebook and Instagram Shops, catalog ads) through the "
            "Catalog Batch API or a product feed the server serves, and prepares personal Marketplace "
            "listings for a person to post, since Marketplace has no public API. With a Page, reads buyer "
            "messages from its Messenger inbox (polling and webhooks) and answers within the 24-hour window."
        ),
        capabilities=frozenset(
            {
                Capability.PUBLISH,
                Capability.UPDATE,
                Capability.DELIST,
                Capability.ASSISTED,
                Capability.FEED,
                Capability.LEADS,
                Capability.REPLY,
                Capability.WEBHOOKS,
            }
        ),
        credential_fields=(
            ConfigField(
                name="access_token",
                label="Access token",
                secret=True,
                required=False,
                help=(
                    "Needed in catalog and feed modes, with the catalog_management permission. A System User "
                    "token (Business Manager) is recommended: it does not expire."
                ),
            ),
            ConfigField(
                name="app_id",
                label="App ID",
                required=False,
                help="With the app secret, lets cashout extend a long-lived user token before it expires.",
            ),
            ConfigField(
                name="app_secret",
                label="App secret",
                secret=True,
                required=False,
                help=(
                    "Signs every call (appsecret_proof), checks the signature of Messenger webhooks and extends "
                    "user tokens; never leaves the server otherwise."
                ),
            ),
            ConfigField(
                name="page_id",
                label="Page ID",
                required=False,
                help="The numeric id of the Facebook Page whose Messenger inbox brings leads (any mode).",
            ),
            ConfigField(
                name="page_access_token",
                label="Page access token",
                secret=True,
                required=False,
                help=(
                    "A Page access token with pages_messaging, pages_manage_metadata and pages_read_engagement; "
                    "needed for Messenger leads and replies."
                ),
            ),
            ConfigField(
                name="verify_token",
                label="Webhook verify token",
                secret=True,
                required=False,
                help=(
                    "Any string you choose; enter the same one as the Verify Token of the app's Page webhook "
                    "(callback URL {public_base_url}/webhooks/facebook/{connection id})."
                ),
            ),
        ),
        setting_fields=(
            ConfigField(
                name="mode",
                label="Mode",
                default="catalog",
                choices=MODES,
                help=(
                    "catalog: push each change with the Catalog Batch API. feed: Facebook fetches a product "
                    "feed from this server on a schedule. marketplace: prepare personal Marketplace listings "
                    "for you to post by hand."
                ),
            ),
            ConfigField(
                name="catalog_id",
                label="Catalog ID",
                required=False,
                help="The numeric id of the Commerce catalog (catalog and feed modes).",
            ),
            ConfigField(
                name="product_url_template",
                label="Product page URL",
                required=False,
                help=(
                    "The link Facebook shows for each product (catalog and feed modes), with {sku}, {item_id}, "
                    "{listing_id} or {retailer_id}, e.g. https://shop.example/p/{sku}."
                ),
            ),
            ConfigField(
                name="brand",
                label="Default brand",
                required=False,
                help="Used for items without a brand, GTIN or MPN (the catalog needs one), e.g. your shop's name.",
            ),
            ConfigField(
                name="retailer_id_source",
                label="Catalog product id",
                required=False,
                default="item_id",
                choices=RETAILER_ID_SOURCES,
                help="item_id (never changes) or sku (the item's SKU, else its id). Fixed once a product exists.",
            ),
            ConfigField(
                name="graph_version",
                label="Graph API version",
                required=False,
                default=DEFAULT_GRAPH_VERSION,
            ),
            ConfigField(
                name="feed_interval",
                label="Feed fetch interval",
                required=False,
                default="HOURLY",
                choices=FEED_INTERVALS,
                help="How often Facebook fetches the feed (feed mode); hourly is the most Meta allows.",
            ),
            ConfigField(
                name="location",
                label="Marketplace location",
                required=False,
                help="Where buyers pick up, as Marketplace shows it, e.g. 'Brooklyn, NY' (marketplace mode).",
            ),
            ConfigField(
                name="marketplace_category",
                label="Default Marketplace category",
                required=False,
                help="Used when neither the listing's 'category' option nor the item names one (marketplace mode).",
            ),
        ),
        # Title, description, image edge and additional-image counts come from third-party
        # summaries of Meta's catalog spec, not from FACTS.md; Marketplace's limits are unverified.
        limits=ListingLimits(
            title_max=TITLE_MAX,
            description_max=DESCRIPTION_MAX,
            photo_max_count=PHOTO_MAX,
            photo_min_edge=PHOTO_MIN_EDGE,
            photo_formats=("JPEG", "PNG"),
            photo_aspect=(1, 1),
            photo_quality=90,
            price_required=True,
        ),
        fees=FeeModel(
            note=(
                "No listing fee. Catalog products link to your own page and Marketplace local pickup is free; "
                "sales with checkout on Facebook or Instagram carry Meta's selling fee, which is not computed here "
                "(unverified)."
            )
        ),
        # Meta's limits are dynamic (usage headers and codes 4/17/32/613/80014 drive the backoff).
        # One call at a time keeps CREATE/UPDATE/DELETE of one product in order, and 60 a minute is
        # far below any published catalog quota: cautious defaults, not measured values.
        rate_limit=RateLimit(max_concurrency=1, requests_per_minute=60),
        default_base_url="https://graph.facebook.com",
    )


@hookimpl
def platforms() -> Sequence[PlatformDescriptor]:
    """Describe the platforms this plugin serves.

    Returns:
        The Facebook descriptor.
    """
    return [descriptor()]


# --- helpers -------------------------------------------------------------------------------


def _auth(connection: ConnectionInfo) -> _graph.Auth:
    token = (connection.credentials.get("access_token") or "").strip()
    if not token:
        raise ReauthRequired("the Facebook connection has no access token; connect it with one")
    secret = (connection.credentials.get("app_secret") or "").strip() or None
    return _graph.Auth(access_token=token, app_secret=secret)


def _now() -> datetime:
    return datetime.now(UTC)


def _batch_key(listing: ListingRequest) -> str:
    return f"{_BATCH}{listing.listing_id}"


async def _load(ctx: PluginContext, key: str) -> dict[str, Any] | None:
    value = await ctx.state.get(key)
    if value is None:
        return None
    try:
        data = json.loads(value)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _rejected(messages: Sequence[str], fallback: str) -> Rejected:
    reason = "; ".join(messages)[:500] or fallback
    fields: dict[str, str] = {}
    for message in messages:
        for name in _graph.fields_named(message):
            fields.setdefault(name, message[:500])
    return Rejected(reason=reason, fields=fields)


def _manage_url(settings: Settings) -> str:
    return COMMERCE_MANAGER_URL.format(catalog_id=settings.catalog_id)


def _published(settings: Settings, retailer_id: str, warnings: Sequence[str] = ()) -> Published:
    return Published(external_id=retailer_id, manage_url=_manage_url(settings), warnings=tuple(warnings))


def _listing_url(listing: ListingRequest) -> str | None:
    for value in (listing.options.get("url"), listing.options.get("manage_url"), listing.external_id):
        if value and value.startswith(("https://", "http://")):
            return value
    return None


# --- catalog (Catalog Batch API) -----------------------------------------------------------


async def _send_batch(
    ctx: PluginContext, listing: ListingRequest, settings: Settings, product: Product, method: str
) -> PublishOutcome:
    auth = _auth(ctx.connection)
    params = {
        "item_type": "PRODUCT_ITEM",
        "requests": json.dumps([{"method": method, "data": product.data}], separators=(",", ":")),
        "allow_upsert": "true",
    }
    # An earlier batch's handle would answer for this send if its own answer were lost.
    await ctx.state.set(_batch_key(listing), None)
    try:
        body = await _graph.post(ctx.http, settings.path(settings.catalog_id, "items_batch"), params, auth)
    except _graph.Refused as refused:
        return refused.rejected
    except OutcomeUnknown:
        ctx.log.warning("facebook %s of listing %s: outcome unknown", method, listing.listing_id)
        raise
    answer = read_batch_answer(body, product.retailer_id)
    if answer.errors:
        return _rejected(answer.errors, "Facebook refused the product")
    if answer.handle is None:
        return Rejected(reason="Facebook accepted the batch request but ingested nothing")
    record = {
        "handle": answer.handle,
        "retailer_id": product.retailer_id,
        "method": method,
        "warnings": answer.warnings,
    }
    await ctx.state.set(_batch_key(listing), json.dumps(record))
    ctx.log.info("facebook %s of listing %s sent as batch %s", method, listing.listing_id, answer.handle)
    return Pending(
        check_after=_now() + BATCH_CHECK_AFTER,
        external_id=product.retailer_id,
        detail="Facebook is processing the catalog batch",
    )


async def _lookup(ctx: PluginContext, settings: Settings, auth: _graph.Auth, retailer_id: str) -> bool | Rejected:
    params = {
        "filter": json.dumps({"retailer_id": {"eq": retailer_id}}, separators=(",", ":")),
        "fields": "id,retailer_id,availability,review_status",
        "limit": "10",
    }
    try:
        body = await _graph.get(ctx.http, settings.path(settings.catalog_id, "products"), params, auth)
    except _graph.Refused as refused:
        return refused.rejected
    return find_product(body, retailer_id) is not None


async def _catalog_status(ctx: PluginContext, listing: ListingRequest, settings: Settings) -> StatusOutcome:
    auth = _auth(ctx.connection)
    record = await _load(ctx, _batch_key(listing))
    retailer_id = str(record.get("retailer_id") or "") if record else ""
    retailer_id = retailer_id or retailer_id_for(listing, settings)
    if record and record.get("handle"):
        params = {"handle": str(record["handle"]), "load_ids_of_invalid_requests": "true"}
        try:
            body = await _graph.get(
                ctx.http, settings.path(settings.catalog_id, "check_batch_request_status"), params, auth
            )
        except _graph.Refused as refused:
            # A handle Meta no longer knows says nothing about the product: look it up instead.
            ctx.log.info(
                "facebook batch handle of listing %s refused: %s", listing.listing_id, refused.error.describe()
            )
            body = None
        status = read_batch_status(body, retailer_id) if body is not None else None
        if status is not None:
            if status.status == "finished":
                if status.invalid:
                    return _rejected(status.errors, "Facebook did not save the product")
                warnings = [str(w) for w in record.get("warnings") or []] + status.warnings
                return _published(settings, retailer_id, warnings)
            if status.status not in ("error", "canceled", "cancelled"):
                return Pending(
                    check_after=_now() + BATCH_CHECK_AFTER,
                    external_id=retailer_id,
                    detail=f"Facebook is still processing the catalog batch ({status.status})",
                )
            if status.invalid:
                return _rejected(status.errors, f"Facebook's batch ended with status {status.status}")
            # "error" or "canceled" may have saved some requests: only a lookup knows.
    found = await _lookup(ctx, settings, auth, retailer_id)
    if isinstance(found, Rejected):
        return found
    if found:
        return _published(settings, retailer_id)
    return Absent(detail=f"catalog {settings.catalog_id} has no product with id {retailer_id!r}")


# --- feed ----------------------------------------------------------------------------------


def _feed_name(connection: ConnectionInfo) -> str:
    return f"cashout {connection.id}"


async def _find_feed(ctx: PluginContext, settings: Settings, auth: _graph.Auth, name: str) -> str | None:
    try:
        body = await _graph.get(
            ctx.http, settings.path(settings.catalog_id, "product_feeds"), {"fields": "id,name", "limit": "100"}, auth
        )
    except _graph.Refused:
        return None
    data = body.get("data")
    for feed in data if isinstance(data, list) else []:
        if isinstance(feed, Mapping) and feed.get("name") == name and feed.get("id"):
            return str(feed["id"])
    return None


async def _ensure_feed(ctx: PluginContext, settings: Settings) -> Rejected | None:
    """Make sure the catalog has our scheduled feed pointing at ``ctx.feed_url`` (created once)."""
    feed_url = ctx.feed_url
    if not feed_url:
        return Rejected(
            reason="the server has no public feed URL for Facebook to fetch; set its public base URL",
            fields={"feed_url": "not available"},
        )
    stored = await _load(ctx, _FEED)
    if stored and stored.get("id") and stored.get("url") == feed_url:
        return None
    auth = _auth(ctx.connection)
    name = _feed_name(ctx.connection)
    schedule = json.dumps({"interval": settings.feed_interval, "url": feed_url}, separators=(",", ":"))
    # After an unanswered create the feed may exist: find it by name before creating another.
    feed_id = str(stored["id"]) if stored and stored.get("id") else await _find_feed(ctx, settings, auth, name)
    try:
        if feed_id is None:
            body = await _graph.post(
                ctx.http,
                settings.path(settings.catalog_id, "product_feeds"),
                {"name": name, "schedule": schedule},
                auth,
            )
            if not body.get("id"):
                raise OutcomeUnknown("Facebook answered the feed creation without an id")
            feed_id = str(body["id"])
            ctx.log.info("facebook feed %s created for catalog %s", feed_id, settings.catalog_id)
        else:
            await _graph.post(ctx.http, settings.path(feed_id), {"schedule": schedule}, auth)
    except _graph.Refused as refused:
        return refused.rejected
    await ctx.state.set(_FEED, json.dumps({"id": feed_id, "url": feed_url}))
    return None


async def _feed_publish(ctx: PluginContext, settings: Settings, product: Product, *, updating: bool) -> PublishOutcome:
    problem = await _ensure_feed(ctx, settings)
    if problem is not None:
        return problem
    what = "The changes appear" if updating else "The product appears"
    return Pending(
        check_after=_now() + FEED_CHECK_AFTER,
        external_id=product.retailer_id,
        detail=f"{what} in the catalog after Facebook's next fetch of the feed",
    )


async def _feed_status(ctx: PluginContext, listing: ListingRequest, settings: Settings) -> StatusOutcome:
    auth = _auth(ctx.connection)
    retailer_id = retailer_id_for(listing, settings)
    found = await _lookup(ctx, settings, auth, retailer_id)
    if isinstance(found, Rejected):
        return found
    if found:
        return _published(settings, retailer_id)
    if await _load(ctx, _FEED) is not None:
        return Pending(
            check_after=_now() + FEED_CHECK_AFTER,
            external_id=retailer_id,
            detail="waiting for Facebook's next fetch of the feed",
        )
    return Absent(detail="no feed registered for this connection and no product in the catalog")


# --- marketplace (assisted) ----------------------------------------------------------------


def _marketplace(listing: ListingRequest, settings: Settings, *, editing: bool) -> NeedsAction | Rejected:
    item = listing.item
    title = fit_title(item.title, MARKETPLACE_TITLE_MAX)
    if not title:
        return Rejected(reason="the listing has no title", fields={"title": "required"})
    category = (
        (listing.options.get("category") or "").strip()
        or (item.category or "").strip()
        or settings.marketplace_category
        or DEFAULT_MARKETPLACE_CATEGORY
    )
    copy = {
        "title": title,
        "price": whole_units(item.price),
        "category": category,
        "condition": MARKETPLACE_CONDITIONS.get(item.condition, "Used - Good"),
        "description": fit_text(item.description, DESCRIPTION_MAX),
    }
    if settings.location:
        copy["location"] = settings.location
    photo_ids = tuple(photo.id for photo in listing.photos[:PHOTO_MAX])
    parts_note = " Say in the description that it is sold for parts." if item.condition == "for_parts" else ""
    if editing:
        url = _listing_url(listing) or MARKETPLACE_SELLING_URL
        instructions = (
            "Edit the Marketplace listing: open it, choose 'Edit listing', update the title, price, condition "
            f"and description to the copy below, save, and confirm here.{parts_note}"
        )
    else:
        url = MARKETPLACE_CREATE_URL
        photos = f"add the {len(photo_ids)} photos, " if photo_ids else ""
        instructions = (
            f"Post this on Facebook Marketplace by hand (Marketplace has no API): open the link, {photos}paste the "
            f"title, price ({item.price.currency.upper()}), category, condition, description and location, publish, "
            f"and confirm here with the listing's URL.{parts_note}"
        )
    return NeedsAction(instructions=instructions, url=url, copy=copy, photo_ids=photo_ids)


# --- hooks ---------------------------------------------------------------------------------


@hookimpl
async def publish(ctx: PluginContext, listing: ListingRequest) -> PublishOutcome:
    """Put a listing on Facebook: a catalog product, a feed row, or a Marketplace listing by hand.

    Args:
        ctx: the connection (mode, catalog, token), HTTP client pointed at the Graph API, and state.
        listing: the item, its photos (with public URLs for the catalog) and options
            (``category`` for Marketplace).

    Returns:
        ``Pending`` in catalog mode (Meta processes batches asynchronously; ``external_id`` is
        the retailer id) and feed mode (until Facebook's next fetch), ``NeedsAction`` with
        ready-to-paste copy in marketplace mode, or ``Rejected`` naming the field Meta or the
        settings refuse.

    Raises:
        RateLimited: Meta is throttling (codes 4, 17, 32, 613, 80000-80014).
        AuthExpired: the token expired (code 190, subcode 463).
        ReauthRequired: no token, an invalid one, or one without the needed permission.
        TransientError: Meta could not be reached or had a temporary problem.
        OutcomeUnknown: the request was sent and no usable answer came back.
    """
    settings = read_settings(ctx.connection)
    if isinstance(settings, Rejected):
        return settings
    if settings.mode == "marketplace":
        return _marketplace(listing, settings, editing=False)
    product = build_product(listing, settings, retailer_id_for(listing, settings))
    if isinstance(product, Rejected):
        return product
    if settings.mode == "feed":
        return await _feed_publish(ctx, settings, product, updating=False)
    return await _send_batch(ctx, listing, settings, product, "CREATE")


@hookimpl
async def check_status(ctx: PluginContext, listing: ListingRequest) -> StatusOutcome:
    """Find out what became of a catalog product: poll its batch, or look it up by retailer id.

    Args:
        ctx: as for :func:`publish`.
        listing: the listing; ``external_id`` is the retailer id once known.

    Returns:
        ``Published`` when the product is in the catalog, ``Pending`` while Meta processes its
        batch (or, in feed mode, until the next fetch), ``Rejected`` when Meta did not save it,
        or ``Absent`` when the catalog has no such product (safe to publish again).

    Raises:
        OutcomeUnknown: a Marketplace listing a person confirmed cannot be looked up.
        RateLimited, AuthExpired, ReauthRequired, TransientError: as for :func:`publish`.
    """
    settings = read_settings(ctx.connection)
    if isinstance(settings, Rejected):
        return settings
    if settings.mode == "marketplace":
        if listing.external_id:
            raise OutcomeUnknown(
                "Marketplace listings cannot be looked up (no API); check it on Facebook",
                listing_id=listing.listing_id,
            )
        return Absent(detail="cashout never posts to Marketplace itself; a person does")
    if settings.mode == "feed":
        return await _feed_status(ctx, listing, settings)
    return await _catalog_status(ctx, listing, settings)


@hookimpl
async def update_listing(ctx: PluginContext, listing: ListingRequest) -> PublishOutcome:
    """Bring a product in line with the item (title, description, price, photos, availability).

    Args:
        ctx: as for :func:`publish`.
        listing: the listing as it should now be; ``external_id`` is the retailer id.

    Returns:
        ``Pending`` after an ``UPDATE`` batch (catalog) or until the next feed fetch (feed),
        ``NeedsAction`` with the new copy (marketplace), or ``Rejected``.

    Raises:
        As :func:`publish`.
    """
    settings = read_settings(ctx.connection)
    if isinstance(settings, Rejected):
        return settings
    if settings.mode == "marketplace":
        return _marketplace(listing, settings, editing=True)
    product = build_product(listing, settings, retailer_id_for(listing, settings))
    if isinstance(product, Rejected):
        return product
    if settings.mode == "feed":
        return await _feed_publish(ctx, settings, product, updating=True)
    return await _send_batch(ctx, listing, settings, product, "UPDATE")


@hookimpl
async def delist(ctx: PluginContext, listing: ListingRequest) -> Delisted | NeedsAction | Rejected:
    """Take a product out of the catalog, or ask a person to end a Marketplace listing.

    Args:
        ctx: as for :func:`publish`.
        listing: the listing; ``external_id`` is the retailer id (or the Marketplace URL).

    Returns:
        ``Delisted`` after a ``DELETE`` batch (also when the product was already gone) or, in
        feed mode, at once (the core leaves delisted listings out of the feed);
        ``NeedsAction`` in marketplace mode; ``Rejected`` when Meta refuses the delete.

    Raises:
        As :func:`publish`.
    """
    settings = read_settings(ctx.connection)
    if isinstance(settings, Rejected):
        return settings
    if settings.mode == "marketplace":
        return NeedsAction(
            instructions=(
                f"Take '{fit_title(listing.item.title, MARKETPLACE_TITLE_MAX)}' off Marketplace: open the listing and "
                "choose 'Mark as sold' (or 'Delete listing'), then confirm here."
            ),
            url=_listing_url(listing) or MARKETPLACE_SELLING_URL,
        )
    retailer_id = retailer_id_for(listing, settings)
    if settings.mode == "feed":
        await ctx.state.set(_batch_key(listing), None)
        return Delisted(external_id=retailer_id)
    auth = _auth(ctx.connection)
    params = {
        "item_type": "PRODUCT_ITEM",
        "requests": json.dumps([{"method": "DELETE", "data": {"id": retailer_id}}], separators=(",", ":")),
    }
    try:
        body = await _graph.post(ctx.http, settings.path(settings.catalog_id, "items_batch"), params, auth)
    except _graph.Refused as refused:
        return refused.rejected
    answer = read_batch_answer(body, retailer_id)
    real = [m for m in answer.errors if not any(word in m.lower() for word in _NOT_FOUND_WORDS)]
    if real:
        return _rejected(real, "Facebook refused to delete the product")
    await ctx.state.set(_batch_key(listing), None)
    return Delisted(external_id=retailer_id)


@hookimpl
async def render_feed(ctx: PluginContext, listings: Sequence[ListingRequest]) -> FeedDocument:
    """Render the CSV product feed Facebook fetches from ``ctx.feed_url``.

    Quick and offline: it reads only the listings and the connection's settings. A listing that
    cannot be a catalog row (no photo URL, no brand/GTIN/MPN) is left out and logged.

    Args:
        ctx: the connection.
        listings: the connection's live listings, in a stable order.

    Returns:
        A CSV document: header row with Meta's column names, prices as ``"9.99 USD"``.

    Raises:
        PluginError: the connection's settings cannot produce a feed; the core answers 500, so
            Facebook keeps the products of its last good fetch instead of deleting them.
    """
    settings = read_settings(ctx.connection)
    if isinstance(settings, Rejected):
        raise PluginError(f"cannot render the Facebook feed: {settings.reason}")
    products: list[Product] = []
    seen: set[str] = set()
    for listing in listings:
        product = build_product(listing, settings, retailer_id_for(listing, settings))
        if isinstance(product, Rejected):
            if "product_url_template" in product.fields:
                raise PluginError(f"cannot render the Facebook feed: {product.reason}")
            ctx.log.warning("facebook feed: listing %s left out: %s", listing.listing_id, product.reason)
            continue
        if product.retailer_id in seen:
            ctx.log.warning(
                "facebook feed: listing %s repeats id %s; left out", listing.listing_id, product.retailer_id
            )
            continue
        seen.add(product.retailer_id)
        products.append(product)
    return FeedDocument(content_type=CONTENT_TYPE, body=render_csv(products), filename=FILENAME)


@hookimpl
async def refresh_credentials(ctx: PluginContext) -> Mapping[str, str]:
    """Extend a long-lived user token with ``fb_exchange_token`` (needs the app id and secret).

    System User tokens do not expire and need none of this.

    Args:
        ctx: the connection with its current token and app credentials.

    Returns:
        ``{"access_token": ..., "expires_at": ...}`` (``expires_at`` when Meta says, ISO 8601 UTC).

    Raises:
        ReauthRequired: no app id/secret, or Meta refused the exchange (for example because the
            token already expired); a person must reconnect with a new token.
        RateLimited, TransientError: try again later.
    """
    creds = ctx.connection.credentials
    token = (creds.get("access_token") or "").strip()
    app_id = (creds.get("app_id") or "").strip()
    app_secret = (creds.get("app_secret") or "").strip()
    if not (app_id and app_secret):
        raise ReauthRequired(
            "the Facebook token cannot be refreshed without the app id and app secret; reconnect with a new "
            "token (a System User token does not expire)"
        )
    if not token:
        raise ReauthRequired("the Facebook connection has no access token to extend; reconnect it")
    settings = read_settings(ctx.connection)
    version = settings.graph_version if isinstance(settings, Settings) else DEFAULT_GRAPH_VERSION
    params = {
        "grant_type": "fb_exchange_token",
        "client_id": app_id,
        "client_secret": app_secret,
        "fb_exchange_token": token,
    }
    body = await _graph.get(ctx.http, f"/{version}/oauth/access_token", params, oauth=True)
    new_token = body.get("access_token")
    if not isinstance(new_token, str) or not new_token:
        raise TransientError("Facebook's token exchange answered without a token")
    out = {"access_token": new_token}
    expires_in = body.get("expires_in")
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
        out["expires_at"] = (_now() + timedelta(seconds=float(expires_in))).isoformat()
    ctx.log.info("facebook token of connection %s extended", ctx.connection.id)
    return out


# --- Messenger leads -----------------------------------------------------------------------


@hookimpl
async def fetch_leads(ctx: PluginContext, since: datetime | None) -> Sequence[InboundMessage]:
    """Read the Page's Messenger conversations: buyer messages and the Page's own answers.

    ``GET /{version}/{page_id}/conversations?platform=messenger&fields=participants,updated_time,
    messages{message,from,created_time,id}`` with the Page access token, newest conversation
    first, following ``paging.cursors.after`` while ``paging.next`` says there is more and the
    conversations are not older than the last complete fetch (its mark is kept in ``ctx.state``).
    A connection without a Page returns nothing.

    Args:
        ctx: the connection (``page_id``, ``page_access_token``), HTTP client and state.
        since: the newest message the core already has, or ``None`` (then 30 days back).

    Returns:
        One message per Messenger message: ``external_id`` the ``m_...`` id, ``thread_id``
        ``"{page_id}:{psid}"``, ``sender_handle`` the buyer's PSID, ``direction`` ``in`` from the
        buyer and ``out`` from the Page.

    Raises:
        RateLimited: Meta is throttling (codes 4, 17, 32, 613), with the wait from the usage headers.
        ReauthRequired: the Page token is missing, invalid, expired or lacks a permission, or
            Meta refused the request (a wrong Page id).
        TransientError: Meta could not be reached or had a temporary problem.
    """
    return await _messenger.fetch(ctx, since)


@hookimpl
async def send_reply(ctx: PluginContext, reply: ReplyRequest) -> ReplySent | NeedsAction:
    """Answer a buyer on Messenger (``POST /{version}/{page_id}/messages``, ``messaging_type=RESPONSE``).

    Only inside the 24-hour standard messaging window: with no ``last_inbound_at`` or an older
    one, and when Meta says the window closed (code 10/2018278) or the person is not available
    (code 551), the reply waits for a person in the Page inbox. A text over Messenger's 2,000
    characters is never cut or split: it also goes to a person.

    Args:
        ctx: the connection (``page_id``, ``page_access_token``) and HTTP client.
        reply: the thread id, the buyer's PSID (``to_address``), the text and ``last_inbound_at``.

    Returns:
        ``ReplySent(external_id=<message_id>)`` or ``NeedsAction`` with the Page inbox's URL and
        the text in ``copy["body"]``.

    Raises:
        RateLimited, ReauthRequired, TransientError: as for :func:`fetch_leads`.
        OutcomeUnknown: the request was sent and no usable answer (or a 5xx) came back, so the
            buyer may have the message.
    """
    return await _messenger.send(ctx, reply)


@hookimpl
async def handle_webhook(ctx: PluginContext, request: WebhookRequest) -> WebhookResponse:
    """Answer Meta's calls to ``{public_base_url}/webhooks/facebook/{connection_id}``.

    ``GET`` is the subscription check: ``hub.mode=subscribe`` with ``hub.verify_token`` equal to
    the connection's ``verify_token`` echoes ``hub.challenge``; anything else is 403. ``POST``
    must carry ``X-Hub-Signature-256: sha256=<HMAC-SHA256(app_secret, raw body)>`` (else 403);
    its ``messaging`` events with a ``message`` become messages (echoes of the Page's own
    messages as ``out``), other events and other objects are accepted with 200 and dropped.

    Args:
        ctx: the connection (``verify_token``, ``app_secret``, ``page_id``).
        request: the call as received.

    Returns:
        The answer and the messages the event carried.
    """
    return _messenger.webhook(ctx, request)
