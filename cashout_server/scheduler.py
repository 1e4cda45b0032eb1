"""The one module that owns APScheduler: the job table, leadership, and every run recorded in ``job_runs``.

How it fits together (docs/architecture.md, "The scheduler"):

* :data:`JOBS` lists every job: a fixed id, a plain ``async def job(runtime) -> dict[str, int]``,
  its interval and a description. Add a job with one line there.
* Every server process runs a :class:`Scheduler`. Each tick it renews or tries to take the
  scheduler lease (:mod:`cashout_server.leader`); only the holder runs an APScheduler
  ``AsyncIOScheduler`` with the jobs registered under their fixed ids (``replace_existing``,
  ``coalesce``, bounded ``misfire_grace_time``), and picks up runs queued through the API by
  any process.
* The job store is APScheduler's memory store; what must survive a restart lives in the
  database: every run in ``job_runs`` and each job's registration time in ``server_state``
  (``scheduler.job.<id>``, one row per job, upserted). A new leader computes each job's next
  run from the last scheduled run, so a run missed during downtime runs once, at start.
* A run is started only in a transaction that finds the lease still ours (a fencing check),
  and queued runs are claimed with ``UPDATE ... WHERE state = 'queued'``: no run starts twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import math
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cashout_server.backup import run_backup
from cashout_server.db.models import JobRun, ServerState, utcnow
from cashout_server.domain.automation.jobs import run_rules
from cashout_server.domain.delivery.jobs import sweep_pending
from cashout_server.domain.jobs.credentials import refresh_expiring_credentials
from cashout_server.domain.leads.jobs import TICK_SECONDS as LEADS_TICK_SECONDS
from cashout_server.domain.leads.jobs import fetch_leads, poll_mail, refit_scores
from cashout_server.domain.metrics.jobs import sync_metrics
from cashout_server.idempotency import purge_idempotency_keys
from cashout_server.ids import new_id
from cashout_server.leader import Lease, process_name
from cashout_server.runtime import Runtime
from cashout_server.settings import Settings

log = logging.getLogger("cashout.scheduler")

Job = Callable[[Runtime], Awaitable[dict[str, int]]]
"""A job: a plain async function over the runtime, returning counts of what it did."""


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One scheduled job.

    Attributes:
        id: fixed id (``area.action``); restarts re-register under it.
        func: the job, an importable top-level ``async def job(runtime) -> dict[str, int]``.
        interval_seconds: seconds between runs, or a function of the settings; 0 or less: only on demand.
        description: one line a person reads in ``GET /api/v1/jobs`` and the TUI.
        first_delay_seconds: wait before the very first run after the job is registered
            (default: one interval).
    """

    id: str
    func: Job
    interval_seconds: float | Callable[[Settings], float]
    description: str
    first_delay_seconds: float | None = None

    def interval(self, settings: Settings) -> float:
        """Seconds between scheduled runs under ``settings`` (0: not scheduled)."""
        value = self.interval_seconds(settings) if callable(self.interval_seconds) else self.interval_seconds
        return max(0.0, float(value))


def _mail_interval(settings: Settings) -> float:
    return settings.mail.poll_interval if settings.mail.imap_host else 0


def _backup_interval(settings: Settings) -> float:
    return settings.scheduler.backup_interval_hours * 3600


JOBS: dict[str, JobSpec] = {
    spec.id: spec
    for spec in (
        JobSpec("deliveries.sweep_pending", sweep_pending, 300, "Check listings the platform left pending or unknown"),
        JobSpec("idempotency.purge", purge_idempotency_keys, 3600, "Delete expired Idempotency-Key responses"),
        JobSpec("credentials.refresh", refresh_expiring_credentials, 300, "Refresh credentials before they expire"),
        JobSpec("backup.run", run_backup, _backup_interval, "Back up the database, photos and key"),
        JobSpec("leads.fetch", fetch_leads, LEADS_TICK_SECONDS, "Fetch new buyer messages from accounts that are due"),
        JobSpec("mail.poll", poll_mail, _mail_interval, "Read buyer mail from the IMAP mailbox"),
        JobSpec("leads.refit_scores", refit_scores, 86400, "Refit lead-score weights from won and lost leads"),
        JobSpec("metrics.sync", sync_metrics, 300, "Fetch views, clicks and spend from accounts that are due"),
        JobSpec("automation.run", run_rules, 3600, "Apply price-drop, relist and follow-up rules"),
    )
}
"""Job id to its :class:`JobSpec`. Ids are fixed so restarts re-register, not add."""

EXTRA_JOBS_ENV = "CASHOUT_SCHEDULER_EXTRA_JOBS"
"""Tests only: ``module:attr`` (comma-separated), each an iterable of :class:`JobSpec` to add."""

TRIGGERS = ("schedule", "manual", "missed")
STATES = ("queued", "running", "ok", "failed", "abandoned")
STORE_PREFIX = "scheduler.job."
"""``server_state`` keys holding each job's registration (the persistent half of the job store)."""

current_run: ContextVar[str | None] = ContextVar("cashout_current_run", default=None)
"""The public id of the job run the current task executes (``None`` outside a run)."""


def job_specs() -> dict[str, JobSpec]:
    """Every job this process knows: :data:`JOBS` plus the test-only extras of ``CASHOUT_SCHEDULER_EXTRA_JOBS``."""
    specs = dict(JOBS)
    for ref in filter(None, (part.strip() for part in os.environ.get(EXTRA_JOBS_ENV, "").split(","))):
        module, _, attr = ref.partition(":")
        extra = cast("Iterable[JobSpec]", getattr(importlib.import_module(module), attr))
        specs.update({spec.id: spec for spec in extra})
    return specs


_SECRETS = (
    (re.compile(r"(://[^/\s:@]*:)[^@\s/]+@"), r"\1***@"),
    (
        re.compile(
            r"(?i)\b(token|secret|password|passwd|key|code|authorization|bearer)([\"']?\s*[=:]\s*[\"']?)[^\s&\"',]+"
        ),
        r"\1\2***",
    ),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 ***"),
)


def safe_error(exc: BaseException) -> str:
    """A failure as a person reads it, with anything that looks like a secret masked."""
    text = f"{type(exc).__name__}: {exc}"
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text[:2000]


# --- the scheduler ----------------------------------------------------------------------------

_ACTIVE: dict[str, Scheduler] = {}
"""Running schedulers by key: APScheduler calls :func:`_fire` with a key, never with an object."""


def active_scheduler(runtime: Runtime) -> Scheduler | None:
    """The scheduler running in this process for ``runtime``, if any."""
    for sched in _ACTIVE.values():
        if sched.runtime is runtime:
            return sched
    return None


async def _fire(key: str, job_id: str) -> None:
    """APScheduler's entry point: a top-level function taking only strings."""
    sched = _ACTIVE.get(key)
    if sched is not None:
        await sched.run_scheduled(job_id)


class Scheduler:
    """Takes part in the scheduler lease; while it holds it, runs the jobs (see the module docstring)."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        tick: float = 1.0,
        specs: dict[str, JobSpec] | None = None,
        holder: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = runtime.settings.scheduler
        self.tick = tick
        self.specs = specs if specs is not None else job_specs()
        self.runner = process_name()
        self.key = f"{self.runner}:{secrets.token_hex(4)}"
        self.lease = Lease(runtime, holder=holder or self.key, seconds=self.settings.lease_seconds)
        self.aps: AsyncIOScheduler | None = None
        self.leader_since: datetime | None = None
        self._busy: set[str] = set()
        self._running: dict[int, asyncio.Task[Any]] = {}
        self._missed: set[str] = set()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def is_leader(self) -> bool:
        """Whether this process holds the lease and runs the jobs."""
        return self.lease.held and self.aps is not None

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Join the lease contest in the background (the first attempt happens at once)."""
        _ACTIVE[self.key] = self
        self._loop_task = asyncio.create_task(self._loop(), name="cashout-scheduler")

    def wake(self) -> None:
        """Look at the lease and queued runs now, not at the next tick."""
        self._wake.set()

    async def stop(self, grace: float = 10.0) -> None:
        """Stop scheduling; give running jobs ``grace`` seconds, then cancel them; give the lease up."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            # Let the loop finish its tick rather than cancel it inside a database call.
            await asyncio.wait([self._loop_task], timeout=grace)
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        self._shutdown_aps()
        tasks = list(self._running.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.lease.release()
        _ACTIVE.pop(self.key, None)

    def _shutdown_aps(self) -> None:
        if self.aps is not None:
            if self.aps.running:
                self.aps.shutdown(wait=False)
            self.aps = None
        self.leader_since = None

    async def _loop(self) -> None:
        last_renew = time.monotonic()
        while not self._stopping:
            self._wake.clear()
            try:
                if self.lease.held and time.monotonic() - last_renew >= self.lease.seconds / 3:
                    if await self.lease.renew():
                        last_renew = time.monotonic()
                    else:
                        log.warning("scheduler: another process took the lease; this one stops running jobs")
                        self._shutdown_aps()
                if not self.lease.held and await self.lease.acquire():
                    last_renew = time.monotonic()
                    await self._lead()
                if self.is_leader:
                    await self._take_queued()
            except Exception:
                log.exception("scheduler: lease or queue check failed; trying again next tick")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.tick)

    async def _lead(self) -> None:
        """Just took the lease: settle runs a dead leader left, register the jobs, start APScheduler."""
        started = utcnow()
        self._shutdown_aps()
        async with self.runtime.session() as session:
            if not await self.lease.guard(session):
                return
            abandoned = await self._abandon_stale(session)
            anchors = await self._register(session, started)
            await session.commit()
        if abandoned:
            log.warning("scheduler: %d run(s) left running by a stopped process marked abandoned", abandoned)
        aps = AsyncIOScheduler(timezone="UTC")
        grace = max(1, int(self.settings.misfire_grace))
        self._missed.clear()
        for job_id, (interval, first, missed) in anchors.items():
            if missed:
                self._missed.add(job_id)
            aps.add_job(
                _fire,
                IntervalTrigger(seconds=interval, start_date=first, timezone="UTC"),
                args=[self.key, job_id],
                id=job_id,
                name=job_id,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=grace,
                next_run_time=max(first, started),
            )
        aps.start()
        self.aps = aps
        self.leader_since = started
        log.info(
            "scheduler: %s leads (lease token %s); %d job(s) scheduled", self.runner, self.lease.token, len(anchors)
        )

    async def _abandon_stale(self, session: AsyncSession) -> int:
        query = update(JobRun).where(JobRun.state == "running")
        if self._running:
            query = query.where(JobRun.id.not_in(list(self._running)))
        result = cast(
            "CursorResult[Any]",
            await session.execute(
                query.values(
                    state="abandoned",
                    finished_at=utcnow(),
                    error="the process running it stopped before it finished",
                )
            ),
        )
        return int(result.rowcount or 0)

    async def _register(self, session: AsyncSession, now: datetime) -> dict[str, tuple[float, datetime, bool]]:
        """Upsert each job's store row and work out its next run.

        Returns:
            Job id to (interval, next due time, whether that due time was missed while no leader ran).
        """
        rows = {
            row.key: row
            for row in await session.scalars(
                select(ServerState).where(ServerState.key.in_([STORE_PREFIX + i for i in self.specs]))
            )
        }
        lasts = await last_scheduled_starts(session)
        grace = self.settings.misfire_grace
        out: dict[str, tuple[float, datetime, bool]] = {}
        for job_id, spec in self.specs.items():
            interval = spec.interval(self.runtime.settings)
            row = rows.get(STORE_PREFIX + job_id)
            record = _store_value(row)
            registered = record.get("registered_at")
            registered_at = datetime.fromisoformat(registered) if isinstance(registered, str) else now
            value = json.dumps({"registered_at": registered_at.isoformat(), "interval": interval})
            if row is None:
                session.add(ServerState(key=STORE_PREFIX + job_id, value=value, updated_at=now))
            elif row.value != value:
                row.value = value
            if interval <= 0:
                continue
            due = first_due(spec, interval, registered_at, lasts.get(job_id))
            missed = False
            if due <= now:
                # Only the latest missed fire counts (coalescing), and only within the grace time.
                latest = due + timedelta(seconds=interval * math.floor((now - due).total_seconds() / interval))
                if (now - latest).total_seconds() <= grace:
                    due, missed = now, latest < now and lasts.get(job_id, registered_at) < now
                else:
                    due = latest + timedelta(seconds=interval)
            out[job_id] = (interval, due, missed)
        await session.flush()
        return out

    # --- running ------------------------------------------------------------------------

    async def run_scheduled(self, job_id: str) -> None:
        """A scheduled fire of ``job_id`` (called by APScheduler in the leader)."""
        if job_id in self._busy:
            log.info("scheduler: %s is still running; this fire is skipped", job_id)
            return
        trigger = "missed" if job_id in self._missed else "schedule"
        self._missed.discard(job_id)
        now = utcnow()
        async with self.runtime.session() as session:
            if not await self.lease.guard(session):
                log.warning("scheduler: %s not started: the lease is no longer ours", job_id)
                return
            run = JobRun(
                public_id=new_id("job_run"),
                job_id=job_id,
                trigger=trigger,
                state="running",
                queued_at=now,
                started_at=now,
                runner=self.runner,
                summary={},
            )
            session.add(run)
            await session.commit()
        task = asyncio.current_task()
        assert task is not None
        await self._execute(run.id, run.public_id, job_id, task)

    async def _take_queued(self) -> None:
        """Start the runs people queued (through any process), oldest first, one per job at a time."""
        async with self.runtime.session() as session:
            queued = (
                await session.execute(
                    select(JobRun.id, JobRun.public_id, JobRun.job_id)
                    .where(JobRun.state == "queued")
                    .order_by(JobRun.id)
                    .limit(200)
                )
            ).all()
        for run_id, public_id, job_id in queued:
            if job_id in self._busy or self._stopping:
                continue
            async with self.runtime.session() as session:
                if not await self.lease.guard(session):
                    return
                unknown = job_id not in self.specs
                result = cast(
                    "CursorResult[Any]",
                    await session.execute(
                        update(JobRun)
                        .where(JobRun.id == run_id, JobRun.state == "queued")
                        .values(
                            state="failed" if unknown else "running",
                            started_at=utcnow(),
                            finished_at=utcnow() if unknown else None,
                            error=f"no job {job_id!r} in this version of cashout" if unknown else None,
                            runner=self.runner,
                        )
                    ),
                )
                await session.commit()
            if result.rowcount != 1 or unknown:
                continue
            self._busy.add(job_id)
            task = asyncio.create_task(self._execute(run_id, public_id, job_id, None), name=f"job-{public_id}")
            self._running[run_id] = task

    async def _execute(self, run_id: int, public_id: str, job_id: str, task: asyncio.Task[Any] | None) -> None:
        spec = self.specs[job_id]
        self._busy.add(job_id)
        if task is not None:
            self._running[run_id] = task
        token = current_run.set(public_id)
        started = time.perf_counter()
        try:
            summary = await spec.func(self.runtime)
        except asyncio.CancelledError:
            await self._finish(run_id, "abandoned", {}, "the server stopped while it ran")
            raise
        except Exception as exc:
            log.exception("job %s (%s) failed", job_id, public_id)
            await self._finish(run_id, "failed", {}, safe_error(exc))
        else:
            log.info("job %s (%s): %s in %.2f s", job_id, public_id, summary, time.perf_counter() - started)
            await self._finish(run_id, "ok", summary, None)
        finally:
            current_run.reset(token)
            self._busy.discard(job_id)
            self._running.pop(run_id, None)
            self._wake.set()

    async def _finish(self, run_id: int, state: str, summary: dict[str, Any], error: str | None) -> None:
        async def write() -> None:
            async with self.runtime.session() as session:
                await session.execute(
                    update(JobRun)
                    .where(JobRun.id == run_id)
                    .values(state=state, finished_at=utcnow(), summary=_json_counts(summary), error=error)
                )
                await session.commit()

        try:
            # Shielded: a cancelled run must still be recorded as what it was.
            await asyncio.shield(write())
        except Exception:
            log.exception("could not record the end of job run %s", run_id)

    def next_run_times(self) -> dict[str, datetime | None]:
        """Job id to APScheduler's next run time (empty unless this process leads)."""
        if self.aps is None:
            return {}
        return {job.id: job.next_run_time for job in self.aps.get_jobs()}


def _json_counts(summary: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in dict(summary or {}).items():
        out[str(key)] = value if isinstance(value, int | float | str | bool) or value is None else str(value)
    return out


def _store_value(row: ServerState | None) -> dict[str, Any]:
    if row is None:
        return {}
    try:
        value = json.loads(row.value)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def first_due(spec: JobSpec, interval: float, registered_at: datetime, last: datetime | None) -> datetime:
    """When a job is next due: one interval after its last scheduled run, or after its registration."""
    if last is not None:
        return last + timedelta(seconds=interval)
    delay = spec.first_delay_seconds if spec.first_delay_seconds is not None else interval
    return registered_at + timedelta(seconds=delay)


async def last_scheduled_starts(session: AsyncSession) -> dict[str, datetime]:
    """Job id to the start of its latest scheduled (or missed) run: the anchor of its schedule."""
    rows = await session.execute(
        select(JobRun.job_id, func.max(JobRun.started_at))
        .where(JobRun.trigger.in_(("schedule", "missed")), JobRun.started_at.is_not(None))
        .group_by(JobRun.job_id)
    )
    return {job_id: started for job_id, started in rows.all() if started is not None}


async def store_rows(session: AsyncSession) -> dict[str, dict[str, Any]]:
    """The persistent job store: job id to its registration (``registered_at``, ``interval``)."""
    rows = await session.scalars(select(ServerState).where(ServerState.key.startswith(STORE_PREFIX)))
    return {row.key.removeprefix(STORE_PREFIX): _store_value(row) for row in rows}


def create_scheduler(runtime: Runtime, *, tick: float = 1.0) -> Scheduler:
    """The scheduler for this process (not started: ``await scheduler.start()``)."""
    return Scheduler(runtime, tick=tick)
