"""The scheduled automation job."""

from __future__ import annotations

from cashout_server.db.models import utcnow
from cashout_server.domain.automation.services import run_all
from cashout_server.runtime import Runtime


async def run_rules(runtime: Runtime) -> dict[str, int]:
    """Apply every enabled automation rule now; a second run in the same period changes nothing.

    Returns:
        Counts: rules, items, price_drops, relists, republished, follow_ups, skipped, failed.
    """
    return await run_all(runtime, now=utcnow())
