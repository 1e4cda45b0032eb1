"""Relisting stale listings: update where possible, else take down then publish again, else explain."""

from __future__ import annotations

from typing import Any

import pytest
from automation_support import NOW, LimitedPlatform, Shop, days
from sqlalchemy import select

from cashout_server.db.models import Listing
from cashout_server.domain.automation.services import run_all
from cashout_server.domain.delivery.worker import DeliveryWorker
from cashout_server.runtime import Runtime

pytestmark = pytest.mark.db

AFTER_30 = {"after_days": 30}


async def _status(runtime: Runtime, listing: Listing) -> str:
    async with runtime.session() as session:
        return str(await session.scalar(select(Listing.status).where(Listing.id == listing.id)))


async def test_a_stale_listing_on_a_platform_that_updates_gets_an_update_once(
    shop: Shop, runtime: Runtime, worker: DeliveryWorker, scripted: Any
) -> None:
    con = await shop.connection()
    item = await shop.item()
    listing = await shop.live(item, con, published_at=NOW - days(31))
    await shop.rule("relist", AFTER_30, item=item)

    assert (await run_all(runtime, now=NOW))["relists"] == 1
    [delivery] = await shop.deliveries(listing_id=listing.id)
    assert delivery.action == "update" and delivery.state == "queued"
    [event] = await shop.events(item)
    assert event.kind == "relist" and event.data["stage"] == "update"
    assert "live 31 days on My scripted (scripted) with no leads" in event.detail

    assert (await run_all(runtime, now=NOW + days(1)))["relists"] == 0
    assert len(await shop.deliveries()) == 1
    await worker.run_once()
    assert ("update_listing", listing.idempotency_key) in scripted.calls
    assert (await run_all(runtime, now=NOW + days(31)))["relists"] == 1, "stale again a period after the refresh"


async def test_a_fresh_listing_or_one_with_leads_is_left_alone(shop: Shop, runtime: Runtime) -> None:
    con = await shop.connection()
    fresh = await shop.item(sku="fresh")
    await shop.live(fresh, con, published_at=NOW - days(29))
    asked = await shop.item(sku="asked")
    await shop.live(asked, con, published_at=NOW - days(40))
    lead = await shop.lead(asked, con)
    await shop.message(lead, "in", "still available?", NOW - days(5))
    await shop.rule("relist", AFTER_30, item=fresh)
    await shop.rule("relist", AFTER_30, item=asked)

    counts = await run_all(runtime, now=NOW)
    assert counts["relists"] == 0 and counts["skipped"] == 2
    assert await shop.deliveries() == []


async def test_without_updates_the_listing_is_taken_down_then_published_never_both_at_once(
    shop: Shop, runtime: Runtime, worker: DeliveryWorker, relistable: LimitedPlatform
) -> None:
    con = await shop.connection("relistable")
    item = await shop.item()
    listing = await shop.live(item, con, published_at=NOW - days(45))
    await shop.rule("relist", AFTER_30, item=item)

    await run_all(runtime, now=NOW)
    [delist] = await shop.deliveries(listing_id=listing.id)
    assert delist.action == "delist" and delist.state == "queued"
    assert (await shop.events(item))[-1].data["stage"] == "delist"

    await run_all(runtime, now=NOW + days(0.1))
    assert len(await shop.deliveries()) == 1, "no publication while the takedown is on its way"

    await worker.run_once()
    assert await _status(runtime, listing) == "delisted"
    counts = await run_all(runtime, now=NOW + days(0.2))
    assert counts["republished"] == 1
    deliveries = await shop.deliveries(listing_id=listing.id)
    assert [d.action for d in deliveries] == ["delist", "publish"]
    assert deliveries[0].state == "done" and deliveries[1].state == "queued"
    events = await shop.events(item)
    assert [e.data["stage"] for e in events] == ["delist", "publish"]
    assert "relistable cannot update a listing, so it is taken down first" in events[0].detail

    await worker.run_once()
    assert await _status(runtime, listing) == "published"
    assert relistable.calls == ["delist", "publish"]
    await run_all(runtime, now=NOW + days(1))
    assert len(await shop.deliveries()) == 2, "fresh after the relist"


async def test_a_rejected_takedown_abandons_the_relist(shop: Shop, runtime: Runtime) -> None:
    con = await shop.connection("relistable", approval_policy={"delist": True})
    item = await shop.item()
    listing = await shop.live(item, con, published_at=NOW - days(45))
    await shop.rule("relist", AFTER_30, item=item)
    await run_all(runtime, now=NOW)
    [delist] = await shop.deliveries(listing_id=listing.id)
    assert delist.state == "awaiting_approval"
    async with runtime.session() as session:
        row = await session.get_one(type(delist), delist.id)
        row.state = "cancelled"
        await session.commit()
    await run_all(runtime, now=NOW + days(1))
    events = await shop.events(item)
    assert events[-1].data["stage"] == "abandoned" and "did not go through" in events[-1].detail
    assert await _status(runtime, listing) == "published"
    assert len(await shop.deliveries()) == 1


async def test_a_platform_that_cannot_relist_is_explained_once(shop: Shop, runtime: Runtime) -> None:
    con = await shop.connection("handmade")
    item = await shop.item()
    await shop.live(item, con, published_at=NOW - days(45))
    await shop.rule("relist", AFTER_30, item=item)
    await run_all(runtime, now=NOW)
    await run_all(runtime, now=NOW + days(1))
    [event] = await shop.events(item)
    assert event.kind == "rule_skipped" and "handmade offers no way to update or relist it" in event.detail
    assert await shop.deliveries() == []
