"""Catalog mode against the real fake Graph API: publish, status, update and delete."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import cashout_facebook as plugin
import msgspec
import pytest

from cashout_server import Absent, Delisted, ListingRequest, Money, Pending, Published, ReauthRequired, Rejected
from cashout_server.testing import MemoryState, make_context

MANAGE = "https://business.facebook.com/commerce/catalogs/{}/products"


def _batch_path(fake: Any) -> str:
    return f"/{fake.catalog_id}/items_batch"


async def test_publish_is_pending_then_check_status_finds_it_published(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    listing = make_listing(photos=3)
    state = MemoryState()
    async with make_context(
        "facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials, state=state
    ) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=listing)
        assert isinstance(outcome, Pending)
        assert outcome.external_id == listing.item.id
        assert outcome.check_after is not None and outcome.check_after > datetime.now(UTC)
        assert fake.product(listing.item.id) is None, "Meta has not processed the batch yet"

        still = await plugin.check_status(ctx=ctx, listing=listing)
        assert isinstance(still, Pending)
        assert "in_progress" in still.detail

        done = await plugin.check_status(ctx=ctx, listing=listing)
    assert done == Published(external_id=listing.item.id, manage_url=MANAGE.format(fake.catalog_id))
    product = fake.product(listing.item.id)
    assert product is not None
    assert product.data == {
        "id": listing.item.id,
        "title": "Vintage Eames-style lounge chair",
        "description": listing.item.description,
        "availability": "in stock",
        "condition": "used_good",
        "price": "450.00 USD",
        "link": f"https://shop.example/items/{listing.item.id}",
        "image_link": "https://cashout.example/photos/pho_0.jpg",
        "additional_image_link": ("https://cashout.example/photos/pho_1.jpg,https://cashout.example/photos/pho_2.jpg"),
        "brand": "Brooklyn Resale",
    }
    assert fake.creates(listing.item.id) == 1


async def test_items_batch_is_form_encoded_like_the_sdk(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    listing = make_listing()
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials) as ctx:
        await plugin.publish(ctx=ctx, listing=listing)
    (call,) = fake.calls
    assert call.path == _batch_path(fake)
    assert set(call.params) == {"item_type", "requests", "allow_upsert"}  # token removed by the fake
    assert call.params["item_type"] == "PRODUCT_ITEM"
    assert call.params["allow_upsert"] == "true"
    requests = json.loads(call.params["requests"])  # a JSON string inside the form
    assert [r["method"] for r in requests] == ["CREATE"]
    assert requests[0]["data"]["price"] == "450.00 USD"
    assert fake.requests == [("POST", f"/v26.0{_batch_path(fake)}")]


async def test_graph_version_is_configurable(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    settings = {**catalog_settings, "graph_version": "v25.0"}
    async with make_context("facebook", base_url=fake.url, settings=settings, credentials=credentials) as ctx:
        assert isinstance(await plugin.publish(ctx=ctx, listing=make_listing()), Pending)
    assert fake.requests[0][1].startswith("/v25.0/")


async def test_app_secret_signs_every_call(
    fake: Any, catalog_settings: dict[str, str], app_credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    fake.require_appsecret_proof = True
    listing = make_listing()
    async with make_context(
        "facebook", base_url=fake.url, settings=catalog_settings, credentials=app_credentials
    ) as ctx:
        assert isinstance(await plugin.publish(ctx=ctx, listing=listing), Pending)
        assert isinstance(await plugin.check_status(ctx=ctx, listing=listing), Pending)


async def test_wrong_app_secret_is_refused_before_anything_is_saved(
    fake: Any, catalog_settings: dict[str, str], app_credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    creds = {**app_credentials, "app_secret": "not-the-secret"}
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=creds) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=make_listing())
    assert isinstance(outcome, Rejected)
    assert "appsecret_proof" in outcome.reason
    assert fake.calls == []


async def test_price_and_condition_use_metas_vocabulary(
    fake: Any,
    catalog_settings: dict[str, str],
    credentials: dict[str, str],
    make_listing: Callable[..., Any],
    with_item: Callable[..., ListingRequest],
) -> None:
    cases = [
        ("new", 999, 3, "new", "9.99 USD", "in stock"),
        ("for_parts", 1250, 0, "used", "12.50 USD", "out of stock"),
    ]
    fake.in_progress_polls = 0
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials) as ctx:
        for condition, cents, quantity, meta_condition, price, availability in cases:
            listing = with_item(
                make_listing(), condition=condition, quantity=quantity, price=Money(amount_minor=cents, currency="USD")
            )
            await plugin.publish(ctx=ctx, listing=listing)
            product = fake.product(listing.item.id)
            assert product is not None
            assert (product.data["condition"], product.data["price"], product.data["availability"]) == (
                meta_condition,
                price,
                availability,
            )


async def test_sku_as_retailer_id_and_in_the_link(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    settings = {
        **catalog_settings,
        "retailer_id_source": "sku",
        "product_url_template": "https://shop.example/p/{sku}?ref={listing_id}",
    }
    listing = make_listing()
    async with make_context("facebook", base_url=fake.url, settings=settings, credentials=credentials) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=listing)
    assert isinstance(outcome, Pending)
    assert outcome.external_id == "SKU-1"
    (request,) = json.loads(fake.calls[0].params["requests"])
    assert request["data"]["id"] == "SKU-1"
    assert request["data"]["link"] == f"https://shop.example/p/SKU-1?ref={listing.listing_id}"


async def test_identifiers_fill_gtin_and_mpn(
    fake: Any,
    catalog_settings: dict[str, str],
    credentials: dict[str, str],
    make_listing: Callable[..., Any],
    with_item: Callable[..., ListingRequest],
) -> None:
    settings = {k: v for k, v in catalog_settings.items() if k != "brand"}
    listing = with_item(make_listing(), identifiers={"upc": "012345678905", "mpn": "EA-670"}, brand="Herman Miller")
    async with make_context("facebook", base_url=fake.url, settings=settings, credentials=credentials) as ctx:
        assert isinstance(await plugin.publish(ctx=ctx, listing=listing), Pending)
    (request,) = json.loads(fake.calls[0].params["requests"])
    assert {k: request["data"][k] for k in ("brand", "gtin", "mpn")} == {
        "brand": "Herman Miller",
        "gtin": "012345678905",
        "mpn": "EA-670",
    }


# --- rejections ---------------------------------------------------------------------------


async def test_metas_validation_errors_are_rejected_naming_the_fields(
    fake: Any,
    catalog_settings: dict[str, str],
    credentials: dict[str, str],
    make_listing: Callable[..., Any],
    with_item: Callable[..., ListingRequest],
) -> None:
    base = make_listing()
    listing = with_item(base, price=Money(amount_minor=0, currency="USD"))
    state = MemoryState()
    async with make_context(
        "facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials, state=state
    ) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=listing)
    assert isinstance(outcome, Rejected)
    assert "Invalid value '0.00 USD' for field 'price'" in outcome.reason
    assert set(outcome.fields) == {"price"}
    assert fake.batches == {}
    assert state.values == {}


async def test_photo_url_that_is_not_http_is_rejected_by_meta(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    base = make_listing(photos=2)
    photos = (base.photos[0], msgspec.structs.replace(base.photos[1], url="ftp://cashout.example/p.jpg"))
    listing = msgspec.structs.replace(base, photos=photos)
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=listing)
    assert isinstance(outcome, Rejected)
    assert set(outcome.fields) == {"additional_image_link"}


async def test_error_found_while_processing_is_rejected_by_check_status(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    listing = make_listing()
    fake.in_progress_polls = 0
    fake.processing_errors[listing.item.id] = "The image at image_link could not be downloaded."
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials) as ctx:
        assert isinstance(await plugin.publish(ctx=ctx, listing=listing), Pending)
        status = await plugin.check_status(ctx=ctx, listing=listing)
    assert status == Rejected(
        reason="The image at image_link could not be downloaded.",
        fields={"image_link": "The image at image_link could not be downloaded."},
    )
    assert fake.product(listing.item.id) is None


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"catalog_id": ""}, "catalog_id"),
        ({"catalog_id": "12/34"}, "catalog_id"),
        ({"product_url_template": ""}, "product_url_template"),
        ({"product_url_template": "https://shop.example/{slug}"}, "product_url_template"),
        ({"product_url_template": "shop.example/{item_id}"}, "product_url_template"),
        ({"brand": ""}, "brand"),
        ({"mode": "shops"}, "mode"),
        ({"graph_version": "26"}, "graph_version"),
    ],
)
async def test_bad_settings_are_rejected_without_calling_facebook(
    fake: Any,
    catalog_settings: dict[str, str],
    credentials: dict[str, str],
    make_listing: Callable[..., Any],
    patch: dict[str, str],
    field: str,
) -> None:
    settings = {**catalog_settings, **patch}
    async with make_context("facebook", base_url=fake.url, settings=settings, credentials=credentials) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=make_listing())
    assert isinstance(outcome, Rejected)
    assert field in outcome.fields
    assert fake.requests == []


async def test_photos_without_public_urls_are_rejected_naming_image_link(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials) as ctx:
        no_url = await plugin.publish(ctx=ctx, listing=make_listing(urls=False))
        no_photo = await plugin.publish(ctx=ctx, listing=make_listing(photos=0))
    assert isinstance(no_url, Rejected)
    assert set(no_url.fields) == {"image_link"}
    assert isinstance(no_photo, Rejected)
    assert set(no_photo.fields) == {"image_link"}
    assert fake.requests == []


async def test_sku_placeholder_without_a_sku_names_the_sku(
    fake: Any,
    catalog_settings: dict[str, str],
    credentials: dict[str, str],
    make_listing: Callable[..., Any],
    with_item: Callable[..., ListingRequest],
) -> None:
    settings = {**catalog_settings, "product_url_template": "https://shop.example/p/{sku}"}
    async with make_context("facebook", base_url=fake.url, settings=settings, credentials=credentials) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=with_item(make_listing(), sku=None))
    assert isinstance(outcome, Rejected)
    assert set(outcome.fields) == {"sku"}


async def test_long_title_is_cut_to_metas_limit(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    title = "Walnut credenza " * 20
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials) as ctx:
        assert isinstance(await plugin.publish(ctx=ctx, listing=make_listing(title=title)), Pending)
    (request,) = json.loads(fake.calls[0].params["requests"])
    assert len(request["data"]["title"]) <= 200
    assert request["data"]["title"].split()[-1] in ("Walnut", "credenza")  # cut between words


async def test_missing_token_needs_a_person(
    fake: Any, catalog_settings: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings) as ctx:
        with pytest.raises(ReauthRequired):
            await plugin.publish(ctx=ctx, listing=make_listing())
    assert fake.requests == []


# --- status without a handle ---------------------------------------------------------------


async def test_check_status_without_a_handle_looks_the_product_up(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    listing = make_listing()
    fake.in_progress_polls = 0
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials) as ctx:
        absent = await plugin.check_status(ctx=ctx, listing=listing)
        await plugin.publish(ctx=ctx, listing=listing)
    # A fresh state store: the handle is gone, the product is not.
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials) as ctx:
        found = await plugin.check_status(ctx=ctx, listing=listing)
    assert isinstance(absent, Absent)
    assert found == Published(external_id=listing.item.id, manage_url=MANAGE.format(fake.catalog_id))
    lookups = [p for m, p in fake.requests if m == "GET"]
    assert lookups == [f"/v26.0/{fake.catalog_id}/products"] * 2


async def test_batch_that_ended_in_error_is_looked_up(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    fake.in_progress_polls = 0
    fake.batch_final_status = "error"
    listing = make_listing()
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials) as ctx:
        await plugin.publish(ctx=ctx, listing=listing)
        status = await plugin.check_status(ctx=ctx, listing=listing)
    assert isinstance(status, Absent)
    assert [p.rsplit("/", 1)[1] for m, p in fake.requests if m == "GET"] == ["check_batch_request_status", "products"]


async def test_unknown_handle_falls_back_to_a_lookup(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    listing = make_listing()
    state = MemoryState()
    state.values[f"batch:{listing.listing_id}"] = json.dumps({"handle": "AQ-gone", "retailer_id": listing.item.id})
    async with make_context(
        "facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials, state=state
    ) as ctx:
        assert isinstance(await plugin.check_status(ctx=ctx, listing=listing), Absent)


async def test_warnings_reach_the_published_outcome(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    fake.record_warnings = ["Adding a GTIN helps people find this product."]
    fake.in_progress_polls = 0
    listing = make_listing()
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials) as ctx:
        await plugin.publish(ctx=ctx, listing=listing)
        status = await plugin.check_status(ctx=ctx, listing=listing)
    assert isinstance(status, Published)
    assert status.warnings == ("Adding a GTIN helps people find this product.",)


# --- update and delete ---------------------------------------------------------------------


async def test_update_sends_an_update_for_the_same_retailer_id(
    fake: Any,
    catalog_settings: dict[str, str],
    credentials: dict[str, str],
    make_listing: Callable[..., Any],
    with_item: Callable[..., ListingRequest],
) -> None:
    fake.in_progress_polls = 0
    listing = make_listing()
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials) as ctx:
        await plugin.publish(ctx=ctx, listing=listing)
        # The SKU changed and the price dropped; the catalog id stays the one Facebook knows.
        changed = with_item(listing, price=Money(amount_minor=39900, currency="USD"), sku="NEW")
        changed = msgspec.structs.replace(changed, external_id=listing.item.id)
        outcome = await plugin.update_listing(ctx=ctx, listing=changed)
        assert isinstance(outcome, Pending)
        status = await plugin.check_status(ctx=ctx, listing=changed)
    assert isinstance(status, Published)
    assert fake.ops() == [("CREATE", listing.item.id), ("UPDATE", listing.item.id)]
    product = fake.product(listing.item.id)
    assert product is not None
    assert product.data["price"] == "399.00 USD"
    assert len(fake.products) == 1


async def test_delete_removes_the_product_and_a_second_delete_is_fine(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    fake.in_progress_polls = 0
    listing = make_listing()
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials) as ctx:
        await plugin.publish(ctx=ctx, listing=listing)
        live = msgspec.structs.replace(listing, external_id=listing.item.id)
        first = await plugin.delist(ctx=ctx, listing=live)
        second = await plugin.delist(ctx=ctx, listing=live)
        status = await plugin.check_status(ctx=ctx, listing=live)
    assert first == second == Delisted(external_id=listing.item.id)
    assert fake.product(listing.item.id) is None
    assert fake.ops("DELETE") == [("DELETE", listing.item.id)] * 2
    assert isinstance(status, Absent)


async def test_delete_of_a_product_meta_no_longer_has_is_delisted(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    answer = {
        "handles": [],
        "validation_status": [{"retailer_id": "itm_gone", "errors": [{"message": "Item does not exist."}]}],
    }
    fake.fail_next(status=200, body=json.dumps(answer), path="items_batch")
    listing = msgspec.structs.replace(make_listing(), external_id="itm_gone")
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials) as ctx:
        assert await plugin.delist(ctx=ctx, listing=listing) == Delisted(external_id="itm_gone")


async def test_delete_that_meta_refuses_is_rejected(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    answer = {
        "handles": [],
        "validation_status": [{"retailer_id": "itm_x", "errors": [{"message": "Field 'id' is malformed."}]}],
    }
    fake.fail_next(status=200, body=json.dumps(answer), path="items_batch")
    listing = msgspec.structs.replace(make_listing(), external_id="itm_x")
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials) as ctx:
        outcome = await plugin.delist(ctx=ctx, listing=listing)
    assert isinstance(outcome, Rejected)
    assert set(outcome.fields) == {"id"}


async def test_unknown_catalog_is_rejected(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    settings = {**catalog_settings, "catalog_id": "111"}
    async with make_context("facebook", base_url=fake.url, settings=settings, credentials=credentials) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=make_listing())
        status = await plugin.check_status(ctx=ctx, listing=make_listing())
    assert isinstance(outcome, Rejected)
    assert "Object with ID '111' does not exist" in outcome.reason
    assert isinstance(status, Rejected)
