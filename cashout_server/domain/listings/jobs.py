"""Scheduled work on listings."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from cashout_server.db.models import Listing
from cashout_server.domain.listings.services import ListingStatus, apply_outcome, build_request, call_hook
from cashout_server.hooks import HookNotImplemented
from cashout_server.runtime import Runtime

log = logging.getLogger("cashout.jobs")


async def resolve_pending(runtime: Runtime, *, batch: int = 100) -> dict[str, int]:
    """Ask platforms about listings still ``pending`` and record what they say.

    Returns:
        Counts: ``checked``, ``settled`` (status changed) and ``errors``.
    """
    counts = {"checked": 0, "settled": 0, "errors": 0}
    async with runtime.session() as session:
        rows = list(
            await session.scalars(
                select(Listing)
                .where(Listing.status == ListingStatus.PENDING.value)
                .options(selectinload(Listing.item), selectinload(Listing.connection))
                .order_by(Listing.updated_at)
                .limit(batch)
            )
        )
        for listing in rows:
            counts["checked"] += 1
            try:
                outcome = await call_hook(
                    runtime, listing, "check_status", await build_request(session, runtime, listing, listing.item)
                )
            except HookNotImplemented:
                continue
            except Exception:
                counts["errors"] += 1
                log.warning("check_status failed for %s", listing.public_id, exc_info=True)
                continue
            before = listing.status
            await apply_outcome(session, listing, outcome, kind="publish")
            counts["settled"] += int(listing.status != before)
            await session.commit()
    return counts
