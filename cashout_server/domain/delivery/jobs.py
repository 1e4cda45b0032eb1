"""Scheduled work on the outbox."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import aliased, selectinload

from cashout_server.db.models import Delivery, Listing
from cashout_server.domain.delivery.services import OPEN_STATES, DeliveryAction, enqueue
from cashout_server.domain.listings.services import ListingStatus
from cashout_server.runtime import Runtime


async def sweep_pending(runtime: Runtime, *, batch: int = 500) -> dict[str, int]:
    """Make sure every listing the platform has not decided on is checked again.

    A ``Pending`` outcome queues its own check; this repairs listings left pending without one
    (a check cancelled by a person, data from before the outbox).

    Returns:
        ``{"checks_queued": n}``.
    """
    open_check = aliased(Delivery)
    async with runtime.session() as session:
        listings = list(
            await session.scalars(
                select(Listing)
                .where(
                    Listing.status == ListingStatus.PENDING.value,
                    ~select(open_check.id)
                    .where(
                        open_check.listing_id == Listing.id,
                        open_check.state.in_([s.value for s in OPEN_STATES]),
                    )
                    .exists(),
                )
                .options(selectinload(Listing.connection))
                .limit(batch)
            )
        )
        for listing in listings:
            await enqueue(session, runtime, connection=listing.connection, listing=listing, action=DeliveryAction.CHECK)
        await session.commit()
    return {"checks_queued": len(listings)}
