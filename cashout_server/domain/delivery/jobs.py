"""Scheduled work on the outbox."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import aliased, selectinload

from cashout_server.db.models import Delivery, Listing
from cashout_server.domain.delivery.services import OPEN_STATES, DeliveryAction, DeliveryState, enqueue, retry
from cashout_server.domain.listings.services import ListingStatus, record
from cashout_server.plugins import PluginRegistry
from cashout_server.runtime import Runtime


def can_check(registry: PluginRegistry, platform: str) -> bool:
    """Whether the plugin serving ``platform`` implements ``check_status``."""
    owner = registry.platform_owner.get(platform)
    caller = getattr(registry.pm.hook, "check_status", None)
    return owner is not None and caller is not None and any(i.plugin is owner for i in caller.get_hookimpls())


async def sweep_pending(runtime: Runtime, *, batch: int = 500) -> dict[str, int]:
    """Make sure every listing the platform has not decided on is checked again.

    * ``pending``: a ``Pending`` outcome queues its own check; this repairs listings left pending
      without one (a check cancelled by a person, data from before the outbox).
    * ``unknown``: a publication that may or may not have been applied (the worker gave up, or
      crashed mid-call) is queued again the way a person's retry does it: ``check_status`` is
      asked first and only ``Absent`` lets it be sent. Only where the plugin can check; the others
      stay ``unknown`` for a person to settle.

    Returns:
        ``{"checks_queued": n, "unknown_rechecked": m}``.
    """
    open_delivery = aliased(Delivery)
    no_open = (
        ~select(open_delivery.id)
        .where(
            open_delivery.listing_id == Listing.id,
            open_delivery.state.in_([s.value for s in OPEN_STATES]),
        )
        .exists()
    )
    async with runtime.session() as session:
        listings = list(
            await session.scalars(
                select(Listing)
                .where(Listing.status == ListingStatus.PENDING.value, no_open)
                .options(selectinload(Listing.connection))
                .limit(batch)
            )
        )
        for listing in listings:
            await enqueue(session, runtime, connection=listing.connection, listing=listing, action=DeliveryAction.CHECK)
        latest_unknown = (
            select(func.max(Delivery.id))
            .join(Listing, Listing.id == Delivery.listing_id)
            .where(
                Listing.status == ListingStatus.UNKNOWN.value,
                Delivery.state == DeliveryState.UNKNOWN.value,
                Delivery.action == DeliveryAction.PUBLISH.value,
                no_open,
            )
            .group_by(Delivery.listing_id)
            .limit(batch)
        )
        unknown = list(
            await session.scalars(
                select(Delivery)
                .where(Delivery.id.in_(latest_unknown))
                .options(
                    selectinload(Delivery.connection),
                    selectinload(Delivery.listing).selectinload(Listing.connection),
                )
            )
        )
        rechecked = 0
        for delivery in unknown:
            target = delivery.listing
            if target is None or not can_check(runtime.registry, delivery.connection.platform):
                continue
            await retry(session, runtime, delivery)
            await record(
                session, target, ListingStatus.QUEUED, "queued again by the scheduler; the platform is checked first"
            )
            rechecked += 1
        await session.commit()
    return {"checks_queued": len(listings), "unknown_rechecked": rechecked}
