"""``/api/v1/jobs``: the scheduled jobs, their runs, who runs them, and running one now."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, QueryParameter
from sqlalchemy import select

from cashout_server.auth import principal_of
from cashout_server.db.models import JobRun
from cashout_server.deps import Db, RuntimeDep
from cashout_server.domain.jobs import services
from cashout_server.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, encode_cursor
from cashout_server.problems import not_found
from cashout_server.scheduler import active_scheduler

RunState = Literal["queued", "running", "ok", "failed", "abandoned"]


class RunOut(msgspec.Struct, kw_only=True):
    """One run of a job."""

    id: str
    job_id: str
    trigger: str
    """``schedule``, ``manual`` (run now) or ``missed`` (a coalesced run after downtime)."""
    state: str
    """``queued``, ``running``, ``ok``, ``failed`` or ``abandoned`` (its process stopped mid-run)."""
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    summary: dict[str, Any]
    """What the run did, as counts."""
    error: str | None
    runner: str | None
    """The process (``host:pid``) that ran it."""


class LeaderOut(msgspec.Struct, kw_only=True):
    """The process that holds the scheduler lease and runs the jobs."""

    holder: str
    since: datetime
    expires_at: datetime
    live: bool
    """``false``: the lease ran out and no process has taken it yet."""


class JobOut(msgspec.Struct, kw_only=True):
    """A scheduled job."""

    id: str
    description: str
    interval_seconds: float | None
    """Seconds between runs (``null``: runs only when asked)."""
    next_run_at: datetime | None
    last_run: RunOut | None
    last_failure: RunOut | None
    running: bool
    queued: int


class JobsOut(msgspec.Struct, kw_only=True):
    """Every job, and who runs them."""

    data: list[JobOut]
    leader: LeaderOut | None
    this_process: str
    this_process_leads: bool


def run_out(run: JobRun) -> RunOut:
    """The API view of a run."""
    return RunOut(
        id=run.public_id,
        job_id=run.job_id,
        trigger=run.trigger,
        state=run.state,
        queued_at=run.queued_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        summary=dict(run.summary or {}),
        error=run.error,
        runner=run.runner,
    )


def _known(job_id: str) -> None:
    try:
        services.get_spec(job_id)
    except services.UnknownJob:
        raise not_found("job", job_id) from None


class JobController(Controller):
    """Scheduled jobs: what runs when, what each run did, and running a job now."""

    path = "/api/v1/jobs"
    tags = ["jobs"]

    @get("/", operation_id="listJobs")
    async def list_jobs(self, runtime: RuntimeDep, db: Db) -> JobsOut:
        """Every job: its interval, next run, last run and last failure, and the lease holder."""
        statuses = await services.job_statuses(db, runtime)
        lease = await services.leader(runtime)
        local = active_scheduler(runtime)
        return JobsOut(
            data=[
                JobOut(
                    id=s.spec.id,
                    description=s.spec.description,
                    interval_seconds=s.interval or None,
                    next_run_at=s.next_run_at,
                    last_run=run_out(s.last_run) if s.last_run else None,
                    last_failure=run_out(s.last_failure) if s.last_failure else None,
                    running=s.running,
                    queued=s.queued,
                )
                for s in statuses
            ],
            leader=LeaderOut(holder=lease.holder, since=lease.since, expires_at=lease.expires_at, live=lease.live)
            if lease
            else None,
            this_process=local.key if local else "",
            this_process_leads=bool(local and local.is_leader),
        )

    @get("/runs/{run_id:str}", operation_id="getJobRun")
    async def get_run(self, db: Db, run_id: FromPath[str]) -> RunOut:
        """One run (poll it after ``POST /jobs/{id}/run`` to see the outcome)."""
        run = await db.scalar(select(JobRun).where(JobRun.public_id == run_id))
        if run is None:
            raise not_found("job run", run_id)
        return run_out(run)

    @get("/{job_id:str}/runs", operation_id="listJobRuns")
    async def list_runs(
        self,
        db: Db,
        job_id: FromPath[str],
        run_state: Annotated[RunState | None, QueryParameter(name="state")] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[RunOut]:
        """The job's runs, newest first, optionally of one state."""
        _known(job_id)
        query = select(JobRun).where(JobRun.job_id == job_id)
        after = decode_cursor(cursor)
        if after:
            query = query.where(JobRun.id < after)
        if run_state is not None:
            query = query.where(JobRun.state == run_state)
        rows = list(await db.scalars(query.order_by(JobRun.id.desc()).limit(limit + 1)))
        next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
        return Page(data=[run_out(r) for r in rows[:limit]], next_cursor=next_cursor)

    @post("/{job_id:str}/run", operation_id="runJob", status_code=202)
    async def run_now(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep, db: Db, job_id: FromPath[str]
    ) -> RunOut:
        """Run the job now: answers at once with the queued run; the lease holder starts it within a tick."""
        _known(job_id)
        return run_out(await services.request_run(db, runtime, job_id, user_id=principal_of(request).user_id))
