"""Feed mode: the CSV the server serves, and the scheduled feed registered with the catalog."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import cashout_facebook as plugin
import msgspec
import pytest

from cashout_server import (
    Absent,
    Delisted,
    ListingRequest,
    Money,
    OutcomeUnknown,
    Pending,
    PluginError,
    Published,
    Rejected,
)
from cashout_server.testing import MemoryState, make_context

FEED_URL = "https://cashout.example/feeds/con_1/s3cr3t"
REQUIRED = ("id", "title", "description", "availability", "condition", "price", "link", "image_link")


def _rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))


async def _render(settings: dict[str, str], listings: list[ListingRequest]) -> Any:
    async with make_context("facebook", base_url="http://127.0.0.1:9", settings=settings) as ctx:
        ctx.feed_url = FEED_URL
        return await plugin.render_feed(ctx=ctx, listings=listings)


async def test_feed_is_csv_with_metas_columns_and_prices(
    feed_settings: dict[str, str], make_listing: Callable[..., Any], with_item: Callable[..., ListingRequest]
) -> None:
    chair = make_listing(photos=2)
    lamp = with_item(make_listing(title="Brass lamp", price_minor=999), condition="like_new", brand="Stilnovo")
    document = await _render(feed_settings, [chair, lamp])

    assert document.content_type == "text/csv; charset=utf-8"
    assert document.filename == "facebook-catalog.csv"
    rows = _rows(document.body)
    assert set(REQUIRED) <= set(rows[0])
    assert {"brand", "gtin", "mpn", "additional_image_link"} <= set(rows[0])
    assert [r["id"] for r in rows] == [chair.item.id, lamp.item.id]
    assert [r["price"] for r in rows] == ["450.00 USD", "9.99 USD"]
    assert [r["condition"] for r in rows] == ["used_good", "used_like_new"]
    assert [r["brand"] for r in rows] == ["Brooklyn Resale", "Stilnovo"]
    assert rows[0]["additional_image_link"] == "https://cashout.example/photos/pho_1.jpg"
    assert rows[1]["additional_image_link"] == ""
    assert all(r["availability"] == "in stock" for r in rows)
    assert rows[0]["link"] == f"https://shop.example/items/{chair.item.id}"


async def test_commas_quotes_and_newlines_survive_the_csv(
    feed_settings: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    description = 'Seat 18", back 32", walnut, "as is".\nPickup only,\r\nBrooklyn.'
    listing = make_listing(title='Chair, "Eames" style', description=description)
    document = await _render(feed_settings, [listing])
    (row,) = _rows(document.body)
    assert row["title"] == 'Chair, "Eames" style'
    assert row["description"] == 'Seat 18", back 32", walnut, "as is".\nPickup only,\nBrooklyn.'
    # Every field is quoted (Meta asks for quotes around whitespace and commas); quotes are doubled.
    text = document.body.decode()
    assert text.startswith('"id","title","description",')
    assert '"Chair, ""Eames"" style"' in text


async def test_listings_that_cannot_be_rows_are_left_out(
    feed_settings: dict[str, str], make_listing: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    good = make_listing()
    no_url = make_listing(urls=False)
    twin = msgspec.structs.replace(make_listing(), external_id=good.item.id)
    document = await _render(feed_settings, [good, no_url, twin])
    assert [r["id"] for r in _rows(document.body)] == [good.item.id]
    assert no_url.listing_id in caplog.text
    assert twin.listing_id in caplog.text


async def test_empty_feed_has_just_the_header(feed_settings: dict[str, str]) -> None:
    document = await _render(feed_settings, [])
    assert _rows(document.body) == []
    assert document.body.decode().count("\n") == 1


async def test_feed_that_cannot_be_built_fails_instead_of_emptying_the_catalog(
    feed_settings: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    with pytest.raises(PluginError):
        await _render({**feed_settings, "product_url_template": ""}, [make_listing()])
    with pytest.raises(PluginError):
        await _render({**feed_settings, "catalog_id": ""}, [make_listing()])


async def test_fakes_ingestion_accepts_the_feed(
    fake: Any, feed_settings: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    document = await _render(feed_settings, [make_listing(photos=3), make_listing(description="a, b\nc")])
    assert fake.ingest_csv(document.body) == []
    assert len(fake.products) == 2


# --- the scheduled feed --------------------------------------------------------------------


async def test_publish_registers_the_feed_once_and_waits_for_the_fetch(
    fake: Any, feed_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    state = MemoryState()
    first, second = make_listing(), make_listing()
    async with make_context(
        "facebook", base_url=fake.url, settings=feed_settings, credentials=credentials, state=state
    ) as ctx:
        ctx.feed_url = FEED_URL
        outcomes = [await plugin.publish(ctx=ctx, listing=listing) for listing in (first, second)]
        waiting = await plugin.check_status(ctx=ctx, listing=first)

        # Facebook fetches the feed the server serves.
        document = await plugin.render_feed(ctx=ctx, listings=[first, second])
        assert fake.ingest_csv(document.body) == []
        live = await plugin.check_status(ctx=ctx, listing=first)

    assert all(isinstance(o, Pending) for o in outcomes)
    assert [o.external_id for o in outcomes if isinstance(o, Pending)] == [first.item.id, second.item.id]
    assert isinstance(outcomes[0], Pending)
    assert "next fetch" in outcomes[0].detail
    (feed,) = fake.feeds.values()
    assert feed.schedule == {"interval": "HOURLY", "url": FEED_URL}
    assert feed.name == f"cashout {ctx.connection.id}"
    assert [c.path for c in fake.calls] == [f"/{fake.catalog_id}/product_feeds"]
    assert isinstance(waiting, Pending)
    assert isinstance(live, Published)
    assert live.external_id == first.item.id


async def test_feed_created_without_an_answer_is_found_by_name_not_created_again(
    fake: Any, feed_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    fake.hang_next(5.0, path="product_feeds")
    state = MemoryState()
    async with make_context(
        "facebook", base_url=fake.url, settings=feed_settings, credentials=credentials, state=state, http_timeout=0.5
    ) as ctx:
        ctx.feed_url = FEED_URL
        with pytest.raises(OutcomeUnknown):
            await plugin.publish(ctx=ctx, listing=make_listing())
        assert isinstance(await plugin.publish(ctx=ctx, listing=make_listing()), Pending)
    (feed,) = fake.feeds.values()
    assert json.loads(state.values["feed"]) == {"id": feed.id, "url": FEED_URL}
    assert [c.path for c in fake.calls] == [f"/{fake.catalog_id}/product_feeds", f"/{feed.id}"]


async def test_new_feed_url_repoints_the_existing_feed(
    fake: Any, feed_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    state = MemoryState()
    settings = {**feed_settings, "feed_interval": "DAILY"}
    async with make_context(
        "facebook", base_url=fake.url, settings=settings, credentials=credentials, state=state
    ) as ctx:
        ctx.feed_url = FEED_URL
        await plugin.publish(ctx=ctx, listing=make_listing())
        ctx.feed_url = FEED_URL.replace("s3cr3t", "r0tated")
        await plugin.update_listing(ctx=ctx, listing=make_listing())
    (feed,) = fake.feeds.values()
    assert feed.schedule == {"interval": "DAILY", "url": FEED_URL.replace("s3cr3t", "r0tated")}
    assert len(fake.calls) == 2


async def test_feed_mode_needs_a_public_feed_url(
    fake: Any, feed_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    async with make_context("facebook", base_url=fake.url, settings=feed_settings, credentials=credentials) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=make_listing())
    assert isinstance(outcome, Rejected)
    assert set(outcome.fields) == {"feed_url"}
    assert fake.requests == []


async def test_feed_mode_checks_the_listing_before_registering(
    fake: Any,
    feed_settings: dict[str, str],
    credentials: dict[str, str],
    make_listing: Callable[..., Any],
    with_item: Callable[..., ListingRequest],
) -> None:
    settings = {k: v for k, v in feed_settings.items() if k != "brand"}
    async with make_context("facebook", base_url=fake.url, settings=settings, credentials=credentials) as ctx:
        ctx.feed_url = FEED_URL
        outcome = await plugin.publish(ctx=ctx, listing=with_item(make_listing(), price=Money(amount_minor=100)))
    assert isinstance(outcome, Rejected)
    assert set(outcome.fields) == {"brand"}
    assert fake.requests == []


async def test_check_status_without_a_feed_is_absent_and_delist_is_immediate(
    fake: Any, feed_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    listing = make_listing()
    async with make_context("facebook", base_url=fake.url, settings=feed_settings, credentials=credentials) as ctx:
        status = await plugin.check_status(ctx=ctx, listing=listing)
        delisted = await plugin.delist(ctx=ctx, listing=msgspec.structs.replace(listing, external_id="itm_1"))
    assert isinstance(status, Absent)
    assert delisted == Delisted(external_id="itm_1")
    assert fake.calls == []
