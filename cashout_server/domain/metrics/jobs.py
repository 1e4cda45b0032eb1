"""The scheduled metrics job."""

from __future__ import annotations

from cashout_server.db.models import utcnow
from cashout_server.domain.metrics.services import sync_all
from cashout_server.runtime import Runtime


async def sync_metrics(runtime: Runtime) -> dict[str, int]:
    """Fetch metrics from every account that is due (its ``metrics_interval``, its plugin's, else hourly).

    Returns:
        Counts: accounts, fetched, stored, duplicates, invalid, failed.
    """
    return await sync_all(runtime, now=utcnow())
