"""``deliveries.sweep_pending`` also resolves ``unknown`` publications: checked first, never resent blindly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from cashout_server import Absent
from cashout_server.db.models import Delivery, Item, Listing
from cashout_server.domain.accounts.services import create_connection
from cashout_server.domain.delivery.jobs import sweep_pending
from cashout_server.domain.delivery.worker import DeliveryWorker
from cashout_server.domain.listings.services import create_listing, publish
from cashout_server.ids import new_id
from cashout_server.plugins import PluginRegistry
from cashout_server.runtime import Runtime, build_runtime
from cashout_server.settings import Settings

pytestmark = pytest.mark.db


@pytest.fixture
async def rt(settings: Settings, registry_with_scripted: PluginRegistry) -> AsyncIterator[Runtime]:
    runtime = build_runtime(settings, registry=registry_with_scripted)
    yield runtime
    await runtime.close()


async def unknown_publication(runtime: Runtime) -> tuple[int, int]:
    """A listing whose publication ended ``unknown`` (the worker gave up without knowing)."""
    async with runtime.session() as session:
        connection = await create_connection(
            session,
            runtime,
            platform="scripted",
            name="s",
            settings={},
            credentials={"api_key": "k"},
            created_by_id=None,
        )
        item = Item(public_id=new_id("item"), title="Lamp", condition="used_good", list_price_minor=1500)
        session.add(item)
        await session.flush()
        created = await create_listing(session, runtime, item=item, connection=connection, options={})
        listing = await session.scalar(
            select(Listing)
            .where(Listing.id == created.id)
            .options(selectinload(Listing.item), selectinload(Listing.connection))
        )
        assert listing is not None
        delivery = await publish(session, runtime, listing)
        await session.flush()
        await session.execute(
            update(Delivery).where(Delivery.id == delivery.id).values(state="unknown", attempts=8, last_error="gave up")
        )
        await session.execute(update(Listing).where(Listing.id == listing.id).values(status="unknown"))
        await session.commit()
        return listing.id, delivery.id


async def test_an_unknown_publication_is_checked_and_found_live(rt: Runtime, scripted: Any) -> None:
    listing_id, delivery_id = await unknown_publication(rt)
    assert await sweep_pending(rt) == {"checks_queued": 0, "unknown_rechecked": 1}
    async with rt.session() as session:
        delivery = await session.get_one(Delivery, delivery_id)
        assert (delivery.state, delivery.must_check, delivery.attempts) == ("queued", True, 0)
    # Once queued it is not queued twice.
    assert await sweep_pending(rt) == {"checks_queued": 0, "unknown_rechecked": 0}
    await DeliveryWorker(rt, worker_id="w").run_once()
    assert [name for name, _ in scripted.calls] == ["check_status"], "asked first, nothing resent"
    async with rt.session() as session:
        listing = await session.get_one(Listing, listing_id)
        assert (listing.status, listing.external_id) == ("published", "ext-found")


async def test_an_unknown_publication_the_platform_has_not_seen_is_sent_once(rt: Runtime, scripted: Any) -> None:
    listing_id, _ = await unknown_publication(rt)
    scripted.status_results = [Absent(detail="no such listing")]
    await sweep_pending(rt)
    await DeliveryWorker(rt, worker_id="w").run_once()
    assert [name for name, _ in scripted.calls] == ["check_status", "publish"]
    async with rt.session() as session:
        assert (await session.get_one(Listing, listing_id)).status == "published"
