"""The one module that owns APScheduler. Jobs are plain async functions returning a summary."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from cashout_server.domain.delivery.jobs import sweep_pending
from cashout_server.idempotency import purge_idempotency_keys
from cashout_server.runtime import Runtime

log = logging.getLogger("cashout.scheduler")

Job = Callable[[Runtime], Awaitable[dict[str, int]]]

JOBS: dict[str, tuple[Job, int]] = {
    "deliveries.sweep_pending": (sweep_pending, 300),
    "idempotency.purge": (purge_idempotency_keys, 3600),
}
"""Job id to (function, interval in seconds). Ids are fixed so restarts re-register, not add."""


def _wrap(job_id: str, job: Job, runtime: Runtime) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            summary = await job(runtime)
        except Exception:
            log.exception("job %s failed", job_id)
        else:
            log.info("job %s: %s", job_id, summary)

    return run


def create_scheduler(runtime: Runtime) -> AsyncIOScheduler:
    """A scheduler with every job registered under its fixed id (not started)."""
    scheduler = AsyncIOScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    for job_id, (job, seconds) in JOBS.items():
        scheduler.add_job(
            _wrap(job_id, job, runtime),
            "interval",
            seconds=seconds,
            id=job_id,
            name=job_id,
            replace_existing=True,
            misfire_grace_time=seconds,
        )
    return scheduler
