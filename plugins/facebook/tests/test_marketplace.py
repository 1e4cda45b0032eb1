"""Marketplace mode: personal listings have no API, so a person posts ready-made copy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cashout_facebook as plugin
import msgspec
import pytest

from cashout_server import Absent, ListingRequest, Money, NeedsAction, OutcomeUnknown, Rejected
from cashout_server.testing import make_context


async def test_publish_hands_a_person_ready_to_paste_copy(
    fake: Any, marketplace_settings: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    listing = make_listing(photos=3, urls=False)
    async with make_context("facebook", base_url=fake.url, settings=marketplace_settings) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=listing)
    assert isinstance(outcome, NeedsAction)
    assert outcome.url == "https://www.facebook.com/marketplace/create/item"
    assert outcome.copy == {
        "title": "Vintage Eames-style lounge chair",
        "price": "450",
        "category": "Miscellaneous",
        "condition": "Used - Good",
        "description": listing.item.description,
        "location": "Brooklyn, NY",
    }
    assert outcome.photo_ids == ("pho_0", "pho_1", "pho_2")
    assert "confirm" in outcome.instructions
    assert fake.requests == []


async def test_copy_fits_marketplaces_limits(
    marketplace_settings: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    title = "Mid-century modern walnut credenza with sliding doors, original hardware, key and four adjustable shelves"
    listing = make_listing(title=title, description="word " * 3000, photos=14, price_minor=12999)
    async with make_context("facebook", base_url="http://127.0.0.1:9", settings=marketplace_settings) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=listing)
    assert isinstance(outcome, NeedsAction)
    limits = plugin.descriptor().limits
    assert len(outcome.copy["title"]) <= plugin.MARKETPLACE_TITLE_MAX
    assert outcome.copy["title"] == (
        "Mid-century modern walnut credenza with sliding doors, original hardware, key and four adjustable"
    )
    assert limits.description_max is not None and len(outcome.copy["description"]) <= limits.description_max
    assert outcome.copy["description"].endswith("…")
    assert outcome.copy["price"] == "130"
    assert limits.photo_max_count is not None and len(outcome.photo_ids) == limits.photo_max_count


@pytest.mark.parametrize(
    ("options", "category", "setting", "expected"),
    [
        ({"category": "Furniture"}, "Home goods", "Household", "Furniture"),
        ({}, "Home goods", "Household", "Home goods"),
        ({}, None, "Household", "Household"),
    ],
)
async def test_category_comes_from_the_listing_the_item_or_the_connection(
    make_listing: Callable[..., Any],
    with_item: Callable[..., ListingRequest],
    options: dict[str, str],
    category: str | None,
    setting: str,
    expected: str,
) -> None:
    listing = with_item(make_listing(options=options), category=category)
    settings = {"mode": "marketplace", "marketplace_category": setting}
    async with make_context("facebook", base_url="http://127.0.0.1:9", settings=settings) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=listing)
    assert isinstance(outcome, NeedsAction)
    assert outcome.copy["category"] == expected
    assert "location" not in outcome.copy


@pytest.mark.parametrize(
    ("condition", "label"),
    [
        ("new", "New"),
        ("like_new", "Used - Like New"),
        ("used_good", "Used - Good"),
        ("used_fair", "Used - Fair"),
        ("for_parts", "Used - Fair"),
    ],
)
async def test_conditions_use_marketplaces_labels(
    marketplace_settings: dict[str, str],
    make_listing: Callable[..., Any],
    with_item: Callable[..., ListingRequest],
    condition: str,
    label: str,
) -> None:
    async with make_context("facebook", base_url="http://127.0.0.1:9", settings=marketplace_settings) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=with_item(make_listing(), condition=condition))
    assert isinstance(outcome, NeedsAction)
    assert outcome.copy["condition"] == label
    assert ("for parts" in outcome.instructions) is (condition == "for_parts")


async def test_free_items_and_other_currencies(
    marketplace_settings: dict[str, str], make_listing: Callable[..., Any], with_item: Callable[..., ListingRequest]
) -> None:
    async with make_context("facebook", base_url="http://127.0.0.1:9", settings=marketplace_settings) as ctx:
        free = await plugin.publish(ctx=ctx, listing=with_item(make_listing(), price=Money(amount_minor=0)))
        yen = await plugin.publish(
            ctx=ctx, listing=with_item(make_listing(), price=Money(amount_minor=4500, currency="JPY"))
        )
    assert isinstance(free, NeedsAction) and free.copy["price"] == "0"
    assert isinstance(yen, NeedsAction) and yen.copy["price"] == "4500"
    assert "(JPY)" in yen.instructions


async def test_empty_title_is_rejected(marketplace_settings: dict[str, str], make_listing: Callable[..., Any]) -> None:
    async with make_context("facebook", base_url="http://127.0.0.1:9", settings=marketplace_settings) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=make_listing(title="   "))
    assert isinstance(outcome, Rejected)
    assert set(outcome.fields) == {"title"}


async def test_update_and_delist_point_at_the_listing(
    marketplace_settings: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    url = "https://www.facebook.com/marketplace/item/1234567890/"
    known = msgspec.structs.replace(make_listing(), external_id=url)
    unknown = make_listing()
    async with make_context("facebook", base_url="http://127.0.0.1:9", settings=marketplace_settings) as ctx:
        edit = await plugin.update_listing(ctx=ctx, listing=known)
        gone = await plugin.delist(ctx=ctx, listing=known)
        gone_unknown = await plugin.delist(ctx=ctx, listing=unknown)
        via_option = await plugin.delist(ctx=ctx, listing=make_listing(options={"manage_url": url}))
    assert isinstance(edit, NeedsAction)
    assert edit.url == url
    assert edit.copy["price"] == "450"
    assert "Edit listing" in edit.instructions
    assert isinstance(gone, NeedsAction)
    assert gone.url == url
    assert "Mark as sold" in gone.instructions
    assert isinstance(gone_unknown, NeedsAction)
    assert gone_unknown.url == "https://www.facebook.com/marketplace/you/selling"
    assert isinstance(via_option, NeedsAction) and via_option.url == url


async def test_marketplace_listings_cannot_be_looked_up(
    marketplace_settings: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    async with make_context("facebook", base_url="http://127.0.0.1:9", settings=marketplace_settings) as ctx:
        never = await plugin.check_status(ctx=ctx, listing=make_listing())
        with pytest.raises(OutcomeUnknown):
            await plugin.check_status(
                ctx=ctx, listing=make_listing(external_id="https://www.facebook.com/marketplace/item/1/")
            )
    assert isinstance(never, Absent)
