"""``/api/v1/jobs``: list jobs with the lease holder, page through runs, run a job now on any replica."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from cashout_server.app import create_app
from cashout_server.db.models import JobRun
from cashout_server.runtime import Runtime
from cashout_server.scheduler import Scheduler

pytestmark = pytest.mark.db


@pytest.fixture
async def leader(runtime: Runtime) -> AsyncIterator[Scheduler]:
    sched = Scheduler(runtime, tick=0.05)
    await sched.start()
    for _ in range(200):
        if sched.is_leader:
            break
        await asyncio.sleep(0.02)
    yield sched
    await sched.stop()


async def test_run_a_job_now_and_see_it_in_the_list(api: httpx.AsyncClient, leader: Scheduler) -> None:
    answer = await api.post("/api/v1/jobs/idempotency.purge/run")
    assert answer.status_code == 202
    queued = answer.json()
    assert queued["state"] == "queued" and queued["trigger"] == "manual" and queued["id"].startswith("run_")
    for _ in range(200):
        run = (await api.get(f"/api/v1/jobs/runs/{queued['id']}")).json()
        if run["state"] not in ("queued", "running"):
            break
        await asyncio.sleep(0.02)
    assert run["state"] == "ok" and run["summary"] == {"deleted": 0} and run["started_at"] and run["finished_at"]
    listed = (await api.get("/api/v1/jobs")).json()
    jobs = {job["id"]: job for job in listed["data"]}
    assert jobs["idempotency.purge"]["last_run"]["id"] == queued["id"]
    assert jobs["idempotency.purge"]["interval_seconds"] == 3600
    assert jobs["idempotency.purge"]["next_run_at"] is not None and jobs["idempotency.purge"]["running"] is False
    assert listed["leader"]["holder"] == leader.key and listed["leader"]["live"] is True
    assert listed["this_process_leads"] is True


async def test_runs_are_paged_newest_first_and_filtered_by_state(api: httpx.AsyncClient, runtime: Runtime) -> None:
    ids = [(await api.post("/api/v1/jobs/backup.run/run")).json()["id"] for _ in range(5)]
    async with runtime.session() as session:
        await session.execute(
            update(JobRun).where(JobRun.public_id == ids[1]).values(state="failed", error="disk full")
        )
        await session.commit()
    first = (await api.get("/api/v1/jobs/backup.run/runs", params={"limit": 3})).json()
    second = (await api.get("/api/v1/jobs/backup.run/runs", params={"limit": 3, "cursor": first["next_cursor"]})).json()
    assert [r["id"] for r in first["data"] + second["data"]] == ids[::-1]
    assert second["next_cursor"] is None
    failed = (await api.get("/api/v1/jobs/backup.run/runs", params={"state": "failed"})).json()["data"]
    assert [(r["id"], r["error"]) for r in failed] == [(ids[1], "disk full")]
    listed = {j["id"]: j for j in (await api.get("/api/v1/jobs")).json()["data"]}
    assert listed["backup.run"]["last_failure"]["id"] == ids[1] and listed["backup.run"]["queued"] == 4


async def test_unknown_jobs_are_404_problems_and_read_tokens_cannot_run_jobs(
    client: httpx.AsyncClient, tokens: Any
) -> None:
    owner = {"Authorization": f"Bearer {tokens.owner}"}
    for answer in (
        await client.post("/api/v1/jobs/nope.nothing/run", headers=owner),
        await client.get("/api/v1/jobs/nope.nothing/runs", headers=owner),
        await client.get("/api/v1/jobs/runs/run_nothing", headers=owner),
    ):
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("application/problem+json")
    read = {"Authorization": f"Bearer {tokens.read}"}
    assert (await client.get("/api/v1/jobs", headers=read)).status_code == 200
    assert (await client.post("/api/v1/jobs/idempotency.purge/run", headers=read)).status_code == 403
    assert (await client.get("/api/v1/jobs")).status_code == 401


async def test_a_run_queued_on_a_replica_without_the_lease_runs_on_the_leader(
    runtime: Runtime, leader: Scheduler, tokens: Any
) -> None:
    # A second "replica": its own app and runtime on the same database, not holding the lease.
    from cashout_server.runtime import build_runtime

    other = build_runtime(runtime.settings, registry=runtime.registry)
    follower = Scheduler(other, tick=0.05)
    await follower.start()
    try:
        app = create_app(runtime=other, scheduler=False, delivery_worker=False)
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {tokens.member}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://replica", headers=headers) as api:
            queued = (await api.post("/api/v1/jobs/idempotency.purge/run")).json()
            for _ in range(200):
                run = (await api.get(f"/api/v1/jobs/runs/{queued['id']}")).json()
                if run["state"] == "ok":
                    break
                await asyncio.sleep(0.02)
            listed = (await api.get("/api/v1/jobs")).json()
        assert run["state"] == "ok" and follower.is_leader is False
        assert listed["this_process_leads"] is False and listed["leader"]["holder"] == leader.key
        assert {j["id"]: j for j in listed["data"]}["idempotency.purge"]["next_run_at"] is not None
    finally:
        await follower.stop()
        await other.close()
