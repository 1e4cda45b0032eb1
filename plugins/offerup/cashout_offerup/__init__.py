"""OfferUp for cashout: assisted posting, editing and delisting.

OfferUp has no public API and no self-serve partner API (FACTS.md section 4): tools that post
for sellers drive the logged-in web app, which breaks OfferUp's terms. So every step here is a
``NeedsAction``: the plugin prepares copy that fits OfferUp's form (title, description, a
whole-dollar price, one of OfferUp's categories, a condition, the pickup ZIP code and delivery
choice) and names the photos to upload; a person posts it and confirms with the post's URL.
No HTTP call is ever made.

OfferUp's limits and category names below are not documented anywhere we could confirm; they
are marked unverified and kept in one place so they are easy to correct.

Leads come from OfferUp's notification e-mails (``parse_lead_email``): new messages and offers.
There is no way to answer through OfferUp without its app, so the plugin does not declare
``reply``: a person answers on OfferUp.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from cashout_offerup import _mail
from cashout_offerup._text import whole_dollars
from cashout_server import (
    Absent,
    Capability,
    ConfigField,
    ConnectionInfo,
    Delisted,
    FeeModel,
    InboundEmail,
    InboundMessage,
    ListingLimits,
    ListingRequest,
    NeedsAction,
    OutcomeUnknown,
    PlatformDescriptor,
    PluginContext,
    PublishOutcome,
    RateLimit,
    Rejected,
    StatusOutcome,
    fit_text,
    fit_title,
    hookimpl,
)

__all__ = [
    "CATEGORIES",
    "CONDITIONS",
    "PLATFORM",
    "POST_URL",
    "SELLING_URL",
    "check_status",
    "delist",
    "descriptor",
    "parse_lead_email",
    "platforms",
    "publish",
    "update_listing",
]

PLATFORM = "offerup"
POST_URL = "https://offerup.com/post"
"""OfferUp's "post an item" page (unverified path)."""
SELLING_URL = "https://offerup.com/accounts/selling"
"""Where a seller sees their own posts (unverified path)."""

TITLE_MAX = 80
"""OfferUp's title box (unverified)."""
DESCRIPTION_MAX = 5000
"""OfferUp's description box (unverified)."""
PHOTO_MAX = 12
"""Photos per post (unverified)."""

CATEGORIES: Mapping[str, str] = {
    "electronics_media": "Electronics & Media",
    "home_garden": "Home & Garden",
    "clothing_shoes_accessories": "Clothing, Shoes & Accessories",
    "baby_kids": "Baby & Kids",
    "vehicles": "Vehicles",
    "toys_games_hobbies": "Toys, Games & Hobbies",
    "sports_outdoors": "Sports & Outdoors",
    "collectibles_art": "Collectibles & Art",
    "pet_supplies": "Pet Supplies",
    "health_beauty": "Health & Beauty",
    "wedding": "Wedding",
    "business_equipment": "Business Equipment",
    "tickets": "Tickets",
    "general": "General",
}
"""OfferUp's top-level categories, setting value to the name its form shows (unverified)."""

CONDITIONS: Mapping[str, str] = {
    "new": "New",
    "like_new": "Used - like new",
    "used_good": "Used - good",
    "used_fair": "Used - fair",
    "for_parts": "For parts",
}
"""cashout's item conditions to the closest OfferUp condition (unverified wording)."""

DELIVERY: Mapping[str, str] = {
    "local_pickup": "Local pickup",
    "shipping": "Shipping",
    "both": "Local pickup and shipping",
}

_ZIP = re.compile(r"^\d{5}$")


def descriptor() -> PlatformDescriptor:
    """Describe the OfferUp platform.

    Returns:
        The descriptor the core registers under ``offerup``.
    """
    return PlatformDescriptor(
        name=PLATFORM,
        display_name="OfferUp",
        description=(
            "Prepares ready-to-paste OfferUp posts (title, description, price, category, condition, photos) "
            "for a person to post, edit and take down; OfferUp has no public API."
        ),
        capabilities=frozenset({Capability.PUBLISH, Capability.UPDATE, Capability.DELIST, Capability.ASSISTED}),
        setting_fields=(
            ConfigField(
                name="category",
                label="Default category",
                default="general",
                choices=tuple(CATEGORIES),
                help="OfferUp category for this connection's posts; a listing's 'category' option overrides it.",
            ),
            ConfigField(
                name="zip_code",
                label="Pickup ZIP code",
                required=False,
                help="The five-digit ZIP code OfferUp shows buyers as the item's location.",
            ),
            ConfigField(
                name="delivery",
                label="Delivery",
                required=False,
                default="local_pickup",
                choices=tuple(DELIVERY),
                help="How buyers get the item: local pickup, OfferUp shipping, or both.",
            ),
        ),
        # None of these are documented by OfferUp; they are cautious guesses (see the README).
        limits=ListingLimits(
            title_max=TITLE_MAX,
            description_max=DESCRIPTION_MAX,
            photo_max_count=PHOTO_MAX,
            photo_formats=("JPEG",),
            price_required=True,
        ),
        fees=FeeModel(
            note=(
                "Local pickup sales are free. Shipped sales pay OfferUp's service fee (about 12.9%, minimum "
                "$1.99; unverified), charged by OfferUp and not computed here."
            )
        ),
        # Nothing is sent to OfferUp; one task at a time keeps a person's queue in order.
        rate_limit=RateLimit(max_concurrency=1),
    )


@hookimpl
def platforms() -> Sequence[PlatformDescriptor]:
    """Describe the platforms this plugin serves.

    Returns:
        The OfferUp descriptor.
    """
    return [descriptor()]


def _value(values: Mapping[str, str], name: str) -> str:
    return (values.get(name) or "").strip()


def _category(value: str) -> str | None:
    """The setting value for a category given as its value or its displayed name."""
    wanted = value.strip().lower()
    for key, label in CATEGORIES.items():
        if wanted in (key, label.lower()):
            return key
    return None


def _copy(connection: ConnectionInfo, listing: ListingRequest) -> dict[str, str] | Rejected:
    settings = connection.settings
    chosen = _value(listing.options, "category") or _value(settings, "category") or "general"
    category = _category(chosen)
    if category is None:
        source = "listing option" if _value(listing.options, "category") else "connection setting"
        return Rejected(
            reason=f"{chosen!r} is not an OfferUp category (from the {source}); use one of {', '.join(CATEGORIES)}",
            fields={"category": f"unknown OfferUp category {chosen!r}"},
        )
    delivery = _value(settings, "delivery").lower() or "local_pickup"
    if delivery not in DELIVERY:
        return Rejected(
            reason=f"delivery must be one of {', '.join(DELIVERY)}",
            fields={"delivery": f"unknown value {delivery!r}"},
        )
    zip_code = _value(settings, "zip_code")
    if zip_code and not _ZIP.match(zip_code):
        return Rejected(reason="zip_code must be a five-digit US ZIP code", fields={"zip_code": repr(zip_code)})
    item = listing.item
    if item.price.currency.upper() != "USD":
        return Rejected(
            reason=f"OfferUp lists prices in US dollars; this item is priced in {item.price.currency}",
            fields={"price": "must be in USD"},
        )
    title = fit_title(item.title, TITLE_MAX)
    if not title:
        return Rejected(reason="the listing has no title", fields={"title": "required"})
    copy = {
        "title": title,
        "description": fit_text(item.description, DESCRIPTION_MAX),
        "price": whole_dollars(item.price),
        "category": CATEGORIES[category],
        "condition": CONDITIONS.get(item.condition, "Other"),
        "delivery": DELIVERY[delivery],
    }
    if zip_code:
        copy["location"] = zip_code
    return copy


def _post_url(listing: ListingRequest) -> str | None:
    for value in (listing.options.get("url"), listing.options.get("manage_url"), listing.external_id):
        if value and value.startswith(("https://", "http://")):
            return value
    return None


@hookimpl
def publish(ctx: PluginContext, listing: ListingRequest) -> PublishOutcome:
    """Prepare an OfferUp post for a person to publish (OfferUp has no API).

    Args:
        ctx: the connection (category, ZIP code, delivery).
        listing: the item and its photos; ``options["category"]`` (a category value or the name
            OfferUp shows) overrides the connection's category.

    Returns:
        ``NeedsAction`` with the posting page and ready-to-paste copy (title and description
        within OfferUp's limits, the price in whole dollars, category, condition, delivery,
        location) and the photos to upload, or ``Rejected`` naming the setting or field that
        cannot be posted.
    """
    copy = _copy(ctx.connection, listing)
    if isinstance(copy, Rejected):
        return copy
    photo_ids = tuple(photo.id for photo in listing.photos[:PHOTO_MAX])
    photos = f"add the {len(photo_ids)} photos, " if photo_ids else ""
    return NeedsAction(
        instructions=(
            f"Post this on OfferUp by hand (OfferUp has no API): open the link, {photos}paste the title, choose "
            f"category '{copy['category']}' and condition '{copy['condition']}', enter the price "
            f"(${copy['price']}) and description, set {copy['delivery'].lower()}, post it, and confirm here with "
            "the post's URL."
        ),
        url=POST_URL,
        copy=copy,
        photo_ids=photo_ids,
    )


@hookimpl
def update_listing(ctx: PluginContext, listing: ListingRequest) -> PublishOutcome:
    """Ask a person to edit the OfferUp post to match the item.

    Args:
        ctx: as for :func:`publish`.
        listing: the listing as it should now be; ``external_id`` or ``options["url"]`` is the
            post's URL when known.

    Returns:
        ``NeedsAction`` with the new copy, or ``Rejected``.
    """
    copy = _copy(ctx.connection, listing)
    if isinstance(copy, Rejected):
        return copy
    return NeedsAction(
        instructions=(
            "Edit the OfferUp post: open it, choose 'Edit', update the title, price, condition and description to "
            "the copy below, save, and confirm here."
        ),
        url=_post_url(listing) or SELLING_URL,
        copy=copy,
        photo_ids=tuple(photo.id for photo in listing.photos[:PHOTO_MAX]),
    )


@hookimpl
def delist(ctx: PluginContext, listing: ListingRequest) -> Delisted | NeedsAction | Rejected:
    """Ask a person to take the OfferUp post down.

    Args:
        ctx: the connection.
        listing: the listing; ``external_id`` or ``options["url"]`` is the post's URL when known.

    Returns:
        ``NeedsAction`` pointing at the post (or the seller's list of posts).
    """
    title = fit_title(listing.item.title, TITLE_MAX)
    return NeedsAction(
        instructions=(
            f"Take '{title}' off OfferUp: open the post and choose 'Mark as sold' (or 'Archive'), then confirm here."
        ),
        url=_post_url(listing) or SELLING_URL,
    )


@hookimpl
def check_status(ctx: PluginContext, listing: ListingRequest) -> StatusOutcome:
    """Say what the plugin can know of an OfferUp post: nothing it did not hand to a person.

    Args:
        ctx: the connection.
        listing: the listing; ``external_id`` is the post's URL once a person confirmed it.

    Returns:
        ``Absent`` when no post was confirmed (cashout never posts to OfferUp itself).

    Raises:
        OutcomeUnknown: a confirmed post cannot be looked up (no API); a person checks OfferUp.
    """
    if listing.external_id:
        raise OutcomeUnknown(
            "OfferUp posts cannot be looked up (no API); check the post on OfferUp", listing_id=listing.listing_id
        )
    return Absent(detail="cashout never posts to OfferUp itself; a person does")


@hookimpl
def parse_lead_email(email: InboundEmail) -> InboundMessage | None:
    """Recognise OfferUp's notification of a new buyer message or offer.

    The notifications' sender and wording are unverified (no real sample); see the README.

    Args:
        email: the decoded mail.

    Returns:
        The buyer message (``offer`` set for offers), or ``None`` for any other mail.
    """
    return _mail.parse_notification(email, platform=PLATFORM)
