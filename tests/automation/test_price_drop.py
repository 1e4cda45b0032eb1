"""Price drops: arithmetic, the floor, timing, offers, the outbox, idempotence, categories, races."""

from __future__ import annotations

from typing import Any

import pytest
from automation_support import NOW, Shop, days
from sqlalchemy import update

from cashout_server.db.models import Item
from cashout_server.domain.automation.services import apply_price_drop, run_all
from cashout_server.domain.delivery.worker import DeliveryWorker
from cashout_server.runtime import Runtime

pytestmark = pytest.mark.db

TEN_PERCENT_WEEKLY = {"percent": 10, "every_days": 7}


async def test_drop_changes_the_price_queues_the_update_and_explains_it(
    shop: Shop, runtime: Runtime, worker: DeliveryWorker, scripted: Any
) -> None:
    con = await shop.connection()
    item = await shop.item()
    listing = await shop.live(item, con, published_at=NOW - days(8))
    await shop.rule("price_drop", TEN_PERCENT_WEEKLY, item=item)

    counts = await run_all(runtime, now=NOW)

    assert counts["price_drops"] == 1 and counts["failed"] == 0
    assert await shop.price(item) == 18000
    [event] = await shop.events(item)
    assert event.kind == "price_drop"
    assert event.detail.startswith("Dropped from $200 to $180 (10% every 7 days; floor not reached)")
    assert event.data["from_minor"] == 20000 and event.data["to_minor"] == 18000
    [delivery] = await shop.deliveries(listing_id=listing.id)
    assert delivery.action == "update" and delivery.state == "queued"
    assert event.data["deliveries"] == [delivery.public_id]

    await worker.run_once()
    assert ("update_listing", listing.idempotency_key) in scripted.calls
    [done] = await shop.deliveries(listing_id=listing.id)
    assert done.state == "done"


async def test_update_waits_for_approval_when_the_policy_says_so(shop: Shop, runtime: Runtime) -> None:
    con = await shop.connection(approval_policy={"update": True})
    item = await shop.item()
    await shop.live(item, con, published_at=NOW - days(8))
    await shop.rule("price_drop", TEN_PERCENT_WEEKLY, item=item)
    await run_all(runtime, now=NOW)
    [delivery] = await shop.deliveries()
    assert delivery.state == "awaiting_approval"
    assert "1 waiting for approval" in (await shop.events(item))[0].detail


async def test_first_drop_comes_every_days_after_listing_then_after_each_drop(shop: Shop, runtime: Runtime) -> None:
    con = await shop.connection()
    item = await shop.item()
    await shop.live(item, con, published_at=NOW - days(6))
    await shop.rule("price_drop", TEN_PERCENT_WEEKLY, item=item)

    assert (await run_all(runtime, now=NOW))["price_drops"] == 0
    assert await shop.price(item) == 20000
    assert await shop.events(item) == [], "waiting for the period is not worth an event"

    first = NOW + days(1)
    assert (await run_all(runtime, now=first))["price_drops"] == 1
    assert await shop.price(item) == 18000
    assert (await run_all(runtime, now=first + days(6.9)))["price_drops"] == 0
    assert (await run_all(runtime, now=first + days(7)))["price_drops"] == 1
    assert await shop.price(item) == 16200


async def test_a_second_run_in_the_same_period_does_nothing(shop: Shop, runtime: Runtime) -> None:
    con = await shop.connection()
    item = await shop.item()
    await shop.live(item, con, published_at=NOW - days(30))
    await shop.rule("price_drop", TEN_PERCENT_WEEKLY, item=item)
    await run_all(runtime, now=NOW)
    again = await run_all(runtime, now=NOW + days(1))
    assert again["price_drops"] == 0
    assert await shop.price(item) == 18000, "a month of downtime is one drop, not four"
    assert len(await shop.events(item)) == 1
    assert len(await shop.deliveries()) == 1


async def test_the_floor_clamps_the_drop_and_then_stops_it(shop: Shop, runtime: Runtime) -> None:
    con = await shop.connection()
    item = await shop.item(list_price_minor=16000, floor_price_minor=15000)
    await shop.live(item, con, published_at=NOW - days(8))
    await shop.rule("price_drop", TEN_PERCENT_WEEKLY, item=item)

    await run_all(runtime, now=NOW)
    assert await shop.price(item) == 15000
    [event] = await shop.events(item)
    assert event.detail.startswith("Dropped from $160 to $150 (10% every 7 days; clamped at the floor of $150")
    assert event.data["limit_reached"] is True

    for week in (1, 2, 3):
        assert (await run_all(runtime, now=NOW + days(7 * week)))["price_drops"] == 0
    assert await shop.price(item) == 15000
    events = await shop.events(item)
    assert [e.kind for e in events] == ["price_drop", "rule_skipped"], "the stop is explained once"
    assert events[1].detail == "No price drop: the price $150 is at the floor of $150"


async def test_amount_drops_stop_at_the_rules_minimum_price(shop: Shop, runtime: Runtime) -> None:
    con = await shop.connection()
    item = await shop.item(list_price_minor=19999)
    await shop.live(item, con, published_at=NOW - days(3))
    await shop.rule("price_drop", {"amount_minor": 2500, "every_days": 2, "min_price_minor": 17000}, item=item)
    await run_all(runtime, now=NOW)
    assert await shop.price(item) == 17499
    await run_all(runtime, now=NOW + days(2))
    assert await shop.price(item) == 17000
    detail = (await shop.events(item))[-1].detail
    assert detail.startswith("Dropped from $174.99 to $170 ($25 every 2 days; clamped at the minimum price of $170")


async def test_an_item_without_any_floor_is_not_dropped(shop: Shop, runtime: Runtime) -> None:
    con = await shop.connection()
    item = await shop.item(floor_price_minor=None)
    await shop.live(item, con, published_at=NOW - days(8))
    await shop.rule("price_drop", TEN_PERCENT_WEEKLY, item=item)
    await run_all(runtime, now=NOW)
    assert await shop.price(item) == 20000
    [event] = await shop.events(item)
    assert event.kind == "rule_skipped" and "no floor price" in event.detail


async def test_only_without_offers_waits_while_a_buyer_negotiates(shop: Shop, runtime: Runtime) -> None:
    con = await shop.connection()
    item = await shop.item()
    await shop.live(item, con, published_at=NOW - days(8))
    lead = await shop.lead(item, con, state="negotiating")
    await shop.rule("price_drop", {**TEN_PERCENT_WEEKLY, "only_without_offers": True}, item=item)

    await run_all(runtime, now=NOW)
    assert await shop.price(item) == 20000
    [event] = await shop.events(item)
    assert event.kind == "rule_skipped" and lead.public_id in event.detail and "active offers" in event.detail

    async with runtime.session() as session:
        await session.execute(update(type(lead)).where(type(lead).id == lead.id).values(state="lost"))
        await session.commit()
    await run_all(runtime, now=NOW + days(1))
    assert await shop.price(item) == 18000


async def test_only_without_offers_counts_recent_offers_on_open_leads(shop: Shop, runtime: Runtime) -> None:
    con = await shop.connection()
    item = await shop.item()
    await shop.live(item, con, published_at=NOW - days(30))
    lead = await shop.lead(item, con)
    await shop.message(lead, "in", "would you take 150?", NOW - days(3), offer_minor=15000, intent="offer")
    await shop.rule("price_drop", {**TEN_PERCENT_WEEKLY, "only_without_offers": True, "offer_days": 5}, item=item)

    await run_all(runtime, now=NOW)
    assert await shop.price(item) == 20000
    await run_all(runtime, now=NOW + days(1))
    assert len(await shop.events(item)) == 1, "the same reason is not repeated"
    await run_all(runtime, now=NOW + days(2.5))
    assert await shop.price(item) == 18000, "the offer is older than offer_days now"


async def test_a_category_rule_drops_every_active_item_of_the_category(shop: Shop, runtime: Runtime) -> None:
    con = await shop.connection()
    bikes = [await shop.item(category="bikes", sku=f"b{n}") for n in range(2)]
    sold = await shop.item(category="bikes", status="sold", sku="b-sold")
    lamp = await shop.item(category="lamps", sku="lamp")
    for item in (*bikes, sold, lamp):
        await shop.live(item, con, published_at=NOW - days(8))
    await shop.rule("price_drop", TEN_PERCENT_WEEKLY, category="bikes")

    counts = await run_all(runtime, now=NOW)
    assert counts["items"] == 2 and counts["price_drops"] == 2
    assert [await shop.price(i) for i in bikes] == [18000, 18000]
    assert await shop.price(sold) == 20000 and await shop.price(lamp) == 20000


async def test_disabled_rules_do_nothing(shop: Shop, runtime: Runtime) -> None:
    con = await shop.connection()
    item = await shop.item()
    await shop.live(item, con, published_at=NOW - days(8))
    rule = await shop.rule("price_drop", TEN_PERCENT_WEEKLY, item=item)
    async with runtime.session() as session:
        await session.execute(update(type(rule)).where(type(rule).id == rule.id).values(enabled=False))
        await session.commit()
    assert (await run_all(runtime, now=NOW))["rules"] == 0
    assert await shop.price(item) == 20000


async def test_a_price_changed_meanwhile_is_not_overwritten(shop: Shop, runtime: Runtime) -> None:
    con = await shop.connection()
    item = await shop.item()
    await shop.live(item, con, published_at=NOW - days(8))
    rule = await shop.rule("price_drop", TEN_PERCENT_WEEKLY, item=item)
    async with runtime.session() as session:
        stale = await session.get_one(Item, item.id)
        mine = await session.get_one(type(rule), rule.id)
        async with runtime.session() as other:  # a person (or another replica) reprices first
            await other.execute(update(Item).where(Item.id == item.id).values(list_price_minor=19000))
            await other.commit()
        assert await apply_price_drop(session, runtime, mine, stale, now=NOW) == "raced"
        await session.commit()
    assert await shop.price(item) == 19000
    assert await shop.events(item) == []
    assert await shop.deliveries() == []
