"""The scheduler in-process: fixed ids, a stable job store, missed runs once, leadership and recorded runs."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest
from counting_jobs import counted
from sqlalchemy import func, select

from cashout_server.db.models import JobRun, SchedulerLease, ServerState, utcnow
from cashout_server.ids import new_id
from cashout_server.plugins import PluginRegistry
from cashout_server.runtime import Runtime, build_runtime
from cashout_server.scheduler import JOBS, STORE_PREFIX, JobSpec, Scheduler, current_run, safe_error, store_rows
from cashout_server.settings import Settings

TICK = 0.1
CALLS: list[str | None] = []


async def hourly(runtime: Runtime) -> dict[str, int]:
    CALLS.append(current_run.get())
    return {"done": 1}


async def broken(runtime: Runtime) -> dict[str, int]:
    raise RuntimeError("upstream said no: https://user:hunter2@api.test/x?token=abc123 Bearer eyJabc.def")


async def slow(runtime: Runtime) -> dict[str, int]:
    await asyncio.sleep(30)
    return {}


SPECS = {
    "test.hourly": JobSpec("test.hourly", hourly, 3600, "hourly"),
    "test.broken": JobSpec("test.broken", broken, 0, "fails"),
    "test.slow": JobSpec("test.slow", slow, 0, "takes long"),
}


@pytest.fixture
def quick(settings: Settings) -> Settings:
    return dataclasses.replace(settings, scheduler=settings.scheduler.model_copy(update={"lease_seconds": 2.0}))


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> float:  # noqa: ASYNC109
    """Wait until ``check()`` is true; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if await check():
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


async def runs(runtime: Runtime, job_id: str) -> list[JobRun]:
    async with runtime.session() as session:
        return list(await session.scalars(select(JobRun).where(JobRun.job_id == job_id).order_by(JobRun.id)))


@pytest.fixture
async def sched_rt(quick: Settings, registry: PluginRegistry) -> AsyncIterator[Runtime]:
    rt = build_runtime(quick, registry=registry)
    yield rt
    await rt.close()


async def start(runtime: Runtime, specs: dict[str, JobSpec] = SPECS) -> Scheduler:
    sched = Scheduler(runtime, tick=TICK, specs=specs)
    await sched.start()

    async def leads() -> bool:
        return sched.is_leader

    await until(leads)
    return sched


async def test_twenty_restarts_keep_the_job_store_the_same_size_and_run_nothing_early(sched_rt: Runtime) -> None:
    sizes = []
    for _ in range(20):
        sched = await start(sched_rt)
        assert sched.aps is not None
        sizes.append((len(sched.aps.get_jobs()), len(await _store(sched_rt))))
        await sched.stop()
    # One APScheduler job per scheduled job (on-demand jobs are not scheduled), one store row per job.
    assert sizes == [(1, 3)] * 20
    assert CALLS == [] and await runs(sched_rt, "test.hourly") == []


async def _store(runtime: Runtime) -> dict[str, object]:
    async with runtime.session() as session:
        return dict(await store_rows(session))


async def test_an_hourly_job_after_two_hours_of_downtime_runs_once(sched_rt: Runtime) -> None:
    sched = await start(sched_rt)
    await sched.stop()
    # The last run was two hours ago and the job was registered long before: two fires were missed.
    async with sched_rt.session() as session:
        session.add(
            JobRun(
                public_id=new_id("job_run"),
                job_id="test.hourly",
                trigger="schedule",
                state="ok",
                queued_at=utcnow() - timedelta(hours=2),
                started_at=utcnow() - timedelta(hours=2),
                finished_at=utcnow() - timedelta(hours=2),
                summary={},
            )
        )
        await session.commit()
    sched = await start(sched_rt)

    async def ran() -> bool:
        return len(await runs(sched_rt, "test.hourly")) == 2 and (await runs(sched_rt, "test.hourly"))[-1].state == "ok"

    await until(ran)
    await asyncio.sleep(10 * TICK)
    rows = await runs(sched_rt, "test.hourly")
    assert [(r.trigger, r.state) for r in rows] == [("schedule", "ok"), ("missed", "ok")]
    assert len(CALLS) == 1 and CALLS[0] == rows[-1].public_id
    assert rows[-1].summary == {"done": 1} and rows[-1].runner and ":" in rows[-1].runner
    assert sched.aps is not None
    next_run = sched.aps.get_job("test.hourly").next_run_time
    assert timedelta(minutes=59) < next_run - utcnow() <= timedelta(hours=1)
    await sched.stop()
    # A restart right after: nothing is due any more.
    sched = await start(sched_rt)
    await asyncio.sleep(5 * TICK)
    await sched.stop()
    assert len(await runs(sched_rt, "test.hourly")) == 2 and len(CALLS) == 1


async def test_a_miss_older_than_the_grace_time_is_skipped(sched_rt: Runtime, quick: Settings) -> None:
    spec = {"test.hourly": JobSpec("test.hourly", hourly, 3600, "hourly")}
    rt = build_runtime(
        dataclasses.replace(quick, scheduler=quick.scheduler.model_copy(update={"misfire_grace": 60})),
        registry=sched_rt.registry,
    )
    try:
        async with rt.session() as session:
            session.add(
                ServerState(
                    key=STORE_PREFIX + "test.hourly",
                    value=f'{{"registered_at": "{(utcnow() - timedelta(minutes=150)).isoformat()}", "interval": 3600}}',
                )
            )
            await session.commit()
        sched = await start(rt, spec)
        await asyncio.sleep(5 * TICK)
        assert sched.aps is not None
        next_run = sched.aps.get_job("test.hourly").next_run_time
        await sched.stop()
    finally:
        await rt.close()
    # Due 90 and 30 minutes ago; the latest miss is 30 minutes late, beyond 60 s of grace: skipped.
    assert CALLS == []
    assert timedelta(minutes=29) < next_run - utcnow() <= timedelta(minutes=30)


async def test_a_failure_is_recorded_without_secrets(sched_rt: Runtime) -> None:
    sched = await start(sched_rt)
    try:
        async with sched_rt.session() as session:
            session.add(JobRun(public_id=new_id("job_run"), job_id="test.broken", trigger="manual", state="queued"))
            await session.commit()
        sched.wake()

        async def failed() -> bool:
            return [r.state for r in await runs(sched_rt, "test.broken")] == ["failed"]

        await until(failed)
    finally:
        await sched.stop()
    error = (await runs(sched_rt, "test.broken"))[0].error or ""
    assert error.startswith("RuntimeError: upstream said no")
    assert "hunter2" not in error and "abc123" not in error and "eyJabc" not in error
    assert safe_error(ValueError("password=swordfish")) == "ValueError: password=***"


async def test_runs_left_running_by_a_dead_process_are_abandoned_and_shutdown_abandons_its_own(
    sched_rt: Runtime,
) -> None:
    async with sched_rt.session() as session:
        session.add(
            JobRun(
                public_id=new_id("job_run"),
                job_id="test.hourly",
                trigger="schedule",
                state="running",
                started_at=utcnow() - timedelta(minutes=5),
                runner="deadhost:1",
            )
        )
        session.add(JobRun(public_id=new_id("job_run"), job_id="test.slow", trigger="manual", state="queued"))
        await session.commit()
    sched = await start(sched_rt)

    async def slow_running() -> bool:
        return [r.state for r in await runs(sched_rt, "test.slow")] == ["running"]

    await until(slow_running)
    hourly_runs = await runs(sched_rt, "test.hourly")
    assert [(r.state, r.runner) for r in hourly_runs] == [("abandoned", "deadhost:1")]
    assert hourly_runs[0].finished_at is not None
    await sched.stop(grace=0.2)
    slow_run = (await runs(sched_rt, "test.slow"))[0]
    assert slow_run.state == "abandoned" and slow_run.error == "the server stopped while it ran"
    async with sched_rt.session() as session:
        lease = await session.get(SchedulerLease, "scheduler")
    assert lease is not None and lease.expires_at <= utcnow(), "a clean stop gives the lease up at once"


async def test_one_leader_among_replicas_and_takeover_after_the_leader_vanishes(
    quick: Settings, registry: PluginRegistry
) -> None:
    replicas = [build_runtime(quick, registry=registry) for _ in range(3)]
    scheds = [Scheduler(rt, tick=TICK, specs=SPECS) for rt in replicas]
    try:
        for sched in scheds:
            await sched.start()

        async def one_leads() -> bool:
            return sum(s.is_leader for s in scheds) == 1

        await until(one_leads)
        await asyncio.sleep(5 * TICK)
        assert sum(s.is_leader for s in scheds) == 1
        leader = next(s for s in scheds if s.is_leader)
        # The leader freezes (no renewal, no release): the lease must run out before anyone takes over.
        assert leader._loop_task is not None
        leader._loop_task.cancel()
        leader._shutdown_aps()
        vanished = time.monotonic()
        others = [s for s in scheds if s is not leader]

        async def taken() -> bool:
            return any(s.is_leader for s in others)

        await until(taken, timeout=10)
        took = time.monotonic() - vanished
        assert took <= quick.scheduler.lease_seconds + 2 * TICK + 0.5, took
        assert sum(s.is_leader for s in others) == 1
        # The stale leader cannot start a run any more: its fencing token is out of date.
        async with replicas[0].session() as session:
            assert not await leader.lease.guard(session)
    finally:
        for sched in scheds:
            await sched.stop()
        for rt in replicas:
            await rt.close()


async def test_exactly_once_with_two_replicas_and_one_hundred_jobs_due_together(
    quick: Settings, registry: PluginRegistry, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import counting_jobs

    counter = str(tmp_path) + "/counter"
    monkeypatch.setenv("COUNTING_JOBS_FILE", counter)
    specs = {s.id: dataclasses.replace(s, first_delay_seconds=0.5) for s in counting_jobs.ONE_SHOT}
    replicas = [build_runtime(quick, registry=registry) for _ in range(2)]
    scheds = [Scheduler(rt, tick=TICK, specs=specs) for rt in replicas]
    try:
        for sched in scheds:
            await sched.start()

        async def all_ran() -> bool:
            return len(counted(counter)) >= 100

        await until(all_ran, timeout=20)
        await asyncio.sleep(10 * TICK)
    finally:
        for sched in scheds:
            await sched.stop()
        for rt in replicas:
            await rt.close()
    ids = counted(counter)
    assert len(ids) == 100 and len(set(ids)) == 100
    rt = build_runtime(quick, registry=registry)
    try:
        async with rt.session() as session:
            states = dict((await session.execute(select(JobRun.state, func.count()).group_by(JobRun.state))).all())
            jobs = await session.scalar(select(func.count(func.distinct(JobRun.job_id))))
    finally:
        await rt.close()
    assert states == {"ok": 100} and jobs == 100


def test_the_job_table_has_the_core_jobs_with_fixed_ids() -> None:
    assert {"deliveries.sweep_pending", "idempotency.purge", "backup.run", "credentials.refresh"} <= set(JOBS)
    for job_id, spec in JOBS.items():
        assert spec.id == job_id and spec.description
        assert spec.func.__module__ and "<locals>" not in spec.func.__qualname__, "jobs are importable functions"
