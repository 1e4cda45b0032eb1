"""Job runs as the API and CLI see them: what each job did last, when it runs next, and running one now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cashout_server.db.models import JobRun, utcnow
from cashout_server.ids import new_id
from cashout_server.leader import LeaseInfo, read_lease
from cashout_server.runtime import Runtime
from cashout_server.scheduler import (
    JobSpec,
    active_scheduler,
    first_due,
    job_specs,
    last_scheduled_starts,
    store_rows,
)


class UnknownJob(LookupError):
    """No job with that id."""


@dataclass(frozen=True, slots=True)
class JobStatus:
    """One job with its schedule and its recent runs."""

    spec: JobSpec
    interval: float
    next_run_at: datetime | None
    last_run: JobRun | None
    last_failure: JobRun | None
    running: bool
    queued: int


def get_spec(job_id: str) -> JobSpec:
    """The job ``job_id``.

    Raises:
        UnknownJob: there is none.
    """
    spec = job_specs().get(job_id)
    if spec is None:
        raise UnknownJob(job_id)
    return spec


async def request_run(session: AsyncSession, runtime: Runtime, job_id: str, *, user_id: int | None) -> JobRun:
    """Queue a run of ``job_id`` now (committed); the leader, in whichever process, starts it within a tick.

    Raises:
        UnknownJob: there is no such job.
    """
    get_spec(job_id)
    run = JobRun(
        public_id=new_id("job_run"),
        job_id=job_id,
        trigger="manual",
        state="queued",
        queued_at=utcnow(),
        summary={},
        requested_by_id=user_id,
    )
    session.add(run)
    await session.commit()
    local = active_scheduler(runtime)
    if local is not None:
        local.wake()
    return run


async def job_statuses(session: AsyncSession, runtime: Runtime) -> list[JobStatus]:
    """Every job with its next run time, last run, last failure and whether it runs now."""
    specs = job_specs()
    local = active_scheduler(runtime)
    aps_next = local.next_run_times() if local is not None and local.is_leader else {}
    latest_ids = dict(
        (
            await session.execute(
                select(JobRun.job_id, func.max(JobRun.id)).where(JobRun.state != "queued").group_by(JobRun.job_id)
            )
        ).all()
    )
    failed_ids = dict(
        (
            await session.execute(
                select(JobRun.job_id, func.max(JobRun.id))
                .where(JobRun.state.in_(("failed", "abandoned")))
                .group_by(JobRun.job_id)
            )
        ).all()
    )
    wanted = [i for i in (*latest_ids.values(), *failed_ids.values()) if i is not None]
    runs = {run.id: run for run in await session.scalars(select(JobRun).where(JobRun.id.in_(wanted)))}
    active: dict[tuple[str, str], int] = {
        (job_id, state): n
        for job_id, state, n in (
            await session.execute(
                select(JobRun.job_id, JobRun.state, func.count())
                .where(JobRun.state.in_(("queued", "running")))
                .group_by(JobRun.job_id, JobRun.state)
            )
        ).all()
    }
    lasts = await last_scheduled_starts(session)
    store = await store_rows(session)
    out = []
    for job_id, spec in specs.items():
        interval = spec.interval(runtime.settings)
        next_run: datetime | None = None
        if interval > 0:
            next_run = aps_next.get(job_id)
            if next_run is None:
                registered = store.get(job_id, {}).get("registered_at")
                if isinstance(registered, str) or job_id in lasts:
                    anchor = datetime.fromisoformat(registered) if isinstance(registered, str) else utcnow()
                    next_run = first_due(spec, interval, anchor, lasts.get(job_id))
        out.append(
            JobStatus(
                spec=spec,
                interval=interval,
                next_run_at=next_run,
                last_run=runs.get(latest_ids.get(job_id, -1)),
                last_failure=runs.get(failed_ids.get(job_id, -1)),
                running=active.get((job_id, "running"), 0) > 0,
                queued=active.get((job_id, "queued"), 0),
            )
        )
    return out


async def leader(runtime: Runtime) -> LeaseInfo | None:
    """Who holds the scheduler lease (``None``: nobody ever did)."""
    return await read_lease(runtime)
