"""Assisted OfferUp posts: what a person gets to paste, and what the plugin refuses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cashout_offerup as plugin
import msgspec
import pytest

from cashout_server import (
    Absent,
    Capability,
    ListingRequest,
    Money,
    NeedsAction,
    OutcomeUnknown,
    Rejected,
)
from cashout_server.testing import make_context

NOWHERE = "http://127.0.0.1:9"


def test_descriptor_carries_offerups_limits_and_categories() -> None:
    desc = plugin.descriptor()
    assert desc.capabilities == {Capability.PUBLISH, Capability.UPDATE, Capability.DELIST, Capability.ASSISTED}
    assert desc.credential_fields == ()
    assert desc.default_base_url is None
    assert (desc.limits.title_max, desc.limits.description_max, desc.limits.photo_max_count) == (80, 5000, 12)
    assert desc.limits.price_required
    category = next(f for f in desc.setting_fields if f.name == "category")
    assert category.choices == tuple(plugin.CATEGORIES)
    assert category.default == "general"
    assert "home_garden" in category.choices
    delivery = next(f for f in desc.setting_fields if f.name == "delivery")
    assert delivery.choices == ("local_pickup", "shipping", "both")


async def test_publish_hands_a_person_ready_to_paste_copy(
    settings: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    listing = make_listing(photos=3, price_minor=44999)
    async with make_context("offerup", base_url=NOWHERE, settings=settings) as ctx:
        outcome = plugin.publish(ctx=ctx, listing=listing)
    assert isinstance(outcome, NeedsAction)
    assert outcome.url == "https://offerup.com/post"
    assert outcome.copy == {
        "title": "Vintage Eames-style lounge chair",
        "description": listing.item.description,
        "price": "450",
        "category": "Home & Garden",
        "condition": "Used - good",
        "delivery": "Local pickup",
        "location": "11211",
    }
    assert outcome.photo_ids == ("pho_0", "pho_1", "pho_2")
    assert "$450" in outcome.instructions
    assert "confirm" in outcome.instructions


async def test_copy_fits_offerups_limits(settings: dict[str, str], make_listing: Callable[..., Any]) -> None:
    title = "Mid-century modern walnut credenza with sliding doors, original hardware and key, great shape"
    listing = make_listing(title=title, description="lorem ipsum " * 1000, photos=15)
    async with make_context("offerup", base_url=NOWHERE, settings=settings) as ctx:
        outcome = plugin.publish(ctx=ctx, listing=listing)
    assert isinstance(outcome, NeedsAction)
    assert outcome.copy["title"] == "Mid-century modern walnut credenza with sliding doors, original hardware and"
    assert len(outcome.copy["title"]) <= plugin.TITLE_MAX
    assert len(outcome.copy["description"]) == plugin.DESCRIPTION_MAX
    assert outcome.copy["description"].endswith("…")
    assert len(outcome.photo_ids) == plugin.PHOTO_MAX


@pytest.mark.parametrize(("cents", "dollars"), [(45000, "450"), (44949, "449"), (44950, "450"), (0, "0"), (99, "1")])
async def test_prices_are_whole_dollars(
    settings: dict[str, str],
    make_listing: Callable[..., Any],
    with_item: Callable[..., ListingRequest],
    cents: int,
    dollars: str,
) -> None:
    async with make_context("offerup", base_url=NOWHERE, settings=settings) as ctx:
        outcome = plugin.publish(ctx=ctx, listing=with_item(make_listing(), price=Money(amount_minor=cents)))
    assert isinstance(outcome, NeedsAction)
    assert outcome.copy["price"] == dollars


@pytest.mark.parametrize(
    ("condition", "label"),
    [
        ("new", "New"),
        ("like_new", "Used - like new"),
        ("used_good", "Used - good"),
        ("used_fair", "Used - fair"),
        ("for_parts", "For parts"),
    ],
)
async def test_conditions(
    settings: dict[str, str],
    make_listing: Callable[..., Any],
    with_item: Callable[..., ListingRequest],
    condition: str,
    label: str,
) -> None:
    async with make_context("offerup", base_url=NOWHERE, settings=settings) as ctx:
        outcome = plugin.publish(ctx=ctx, listing=with_item(make_listing(), condition=condition))
    assert isinstance(outcome, NeedsAction)
    assert outcome.copy["condition"] == label


@pytest.mark.parametrize(
    ("option", "expected"),
    [("electronics_media", "Electronics & Media"), ("Sports & Outdoors", "Sports & Outdoors"), ("WEDDING", "Wedding")],
)
async def test_listing_category_option_overrides_the_connection(
    settings: dict[str, str], make_listing: Callable[..., Any], option: str, expected: str
) -> None:
    async with make_context("offerup", base_url=NOWHERE, settings=settings) as ctx:
        outcome = plugin.publish(ctx=ctx, listing=make_listing(options={"category": option}))
    assert isinstance(outcome, NeedsAction)
    assert outcome.copy["category"] == expected


async def test_defaults_without_settings(make_listing: Callable[..., Any]) -> None:
    async with make_context("offerup", base_url=NOWHERE) as ctx:
        outcome = plugin.publish(ctx=ctx, listing=make_listing())
    assert isinstance(outcome, NeedsAction)
    assert outcome.copy["category"] == "General"
    assert outcome.copy["delivery"] == "Local pickup"
    assert "location" not in outcome.copy


@pytest.mark.parametrize(
    ("settings_patch", "options", "field"),
    [
        ({}, {"category": "furniture"}, "category"),
        ({"category": "cars"}, {}, "category"),
        ({"zip_code": "1121"}, {}, "zip_code"),
        ({"delivery": "drone"}, {}, "delivery"),
    ],
)
async def test_invalid_settings_and_options_are_rejected(
    settings: dict[str, str],
    make_listing: Callable[..., Any],
    settings_patch: dict[str, str],
    options: dict[str, str],
    field: str,
) -> None:
    async with make_context("offerup", base_url=NOWHERE, settings={**settings, **settings_patch}) as ctx:
        outcome = plugin.publish(ctx=ctx, listing=make_listing(options=options))
    assert isinstance(outcome, Rejected)
    assert set(outcome.fields) == {field}


async def test_non_dollar_prices_and_empty_titles_are_rejected(
    settings: dict[str, str], make_listing: Callable[..., Any], with_item: Callable[..., ListingRequest]
) -> None:
    async with make_context("offerup", base_url=NOWHERE, settings=settings) as ctx:
        euros = plugin.publish(
            ctx=ctx, listing=with_item(make_listing(), price=Money(amount_minor=1000, currency="EUR"))
        )
        untitled = plugin.publish(ctx=ctx, listing=make_listing(title=" \n "))
    assert isinstance(euros, Rejected) and set(euros.fields) == {"price"}
    assert isinstance(untitled, Rejected) and set(untitled.fields) == {"title"}


async def test_update_and_delist_point_at_the_post(settings: dict[str, str], make_listing: Callable[..., Any]) -> None:
    url = "https://offerup.com/item/detail/1234567890"
    known = msgspec.structs.replace(make_listing(price_minor=39900), external_id=url)
    async with make_context("offerup", base_url=NOWHERE, settings=settings) as ctx:
        edit = plugin.update_listing(ctx=ctx, listing=known)
        gone = plugin.delist(ctx=ctx, listing=known)
        gone_unknown = plugin.delist(ctx=ctx, listing=make_listing())
        via_option = plugin.delist(ctx=ctx, listing=make_listing(options={"url": url}))
    assert isinstance(edit, NeedsAction)
    assert edit.url == url
    assert edit.copy["price"] == "399"
    assert isinstance(gone, NeedsAction)
    assert gone.url == url
    assert "Mark as sold" in gone.instructions
    assert isinstance(gone_unknown, NeedsAction)
    assert gone_unknown.url == "https://offerup.com/accounts/selling"
    assert isinstance(via_option, NeedsAction) and via_option.url == url


async def test_posts_cannot_be_looked_up(settings: dict[str, str], make_listing: Callable[..., Any]) -> None:
    async with make_context("offerup", base_url=NOWHERE, settings=settings) as ctx:
        never = plugin.check_status(ctx=ctx, listing=make_listing())
        with pytest.raises(OutcomeUnknown):
            plugin.check_status(ctx=ctx, listing=make_listing(external_id="https://offerup.com/item/detail/1"))
    assert isinstance(never, Absent)
