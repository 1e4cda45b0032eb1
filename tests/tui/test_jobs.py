"""The jobs screen against the real app and a running scheduler: next runs, outcomes, failures, run now."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from textual.widgets import DataTable
from tui.pilot_support import SIZE, column, make_app, screen_text, settle, wait_for

from cashout_server.db.models import JobRun, utcnow
from cashout_server.ids import new_id
from cashout_server.runtime import Runtime
from cashout_server.scheduler import Scheduler
from cashout_tui.client import CashoutClient
from cashout_tui.jobs import JobsScreen


@pytest.fixture
async def leader(runtime: Runtime) -> AsyncIterator[Scheduler]:
    sched = Scheduler(runtime, tick=0.05)
    await sched.start()
    yield sched
    await sched.stop()


async def test_the_jobs_screen_shows_failures_and_runs_a_job_now(
    tui_client: CashoutClient, runtime: Runtime, leader: Scheduler
) -> None:
    async with runtime.session() as session:
        session.add(
            JobRun(
                public_id=new_id("job_run"),
                job_id="backup.run",
                trigger="schedule",
                state="failed",
                queued_at=utcnow() - timedelta(minutes=10),
                started_at=utcnow() - timedelta(minutes=10),
                finished_at=utcnow() - timedelta(minutes=9),
                error="BackupError: pg_dump is not on PATH",
                runner="box:42",
            )
        )
        await session.commit()
    app = make_app(tui_client)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("j")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        await wait_for(pilot, lambda: "Jobs run in" in screen_text(pilot, "#leader"), "the lease holder")
        await pilot.press("g")
        await settle(pilot)
        table = screen.query_one("#jobs", DataTable)
        ids = column(table, "id")
        assert {"deliveries.sweep_pending", "idempotency.purge", "credentials.refresh", "backup.run"} <= set(ids)
        row = dict(zip(ids, column(table, "last"), strict=True))
        assert row["backup.run"].startswith("failed ") and row["idempotency.purge"] == "never run"
        assert dict(zip(ids, column(table, "every"), strict=True))["idempotency.purge"] == "1h"
        assert dict(zip(ids, column(table, "next"), strict=True))["idempotency.purge"].startswith("in ")
        assert "1 failing" in screen_text(pilot, "#status")

        table.move_cursor(row=ids.index("backup.run"))
        await settle(pilot)
        failures = screen_text(pilot, "#failures")
        assert "backup.run: 1 recent failure(s)" in failures
        assert "(schedule, box:42): BackupError: pg_dump is not on PATH" in failures

        table.move_cursor(row=ids.index("idempotency.purge"))
        await settle(pilot)
        assert screen_text(pilot, "#failures") == "idempotency.purge: no failures."
        await pilot.press("r")
        await wait_for(
            pilot, lambda: "idempotency.purge finished: deleted 0" in screen_text(pilot, "#status"), "the outcome"
        )
        await settle(pilot)
        row = dict(zip(column(table, "id"), column(table, "last"), strict=True))
        assert row["idempotency.purge"].startswith("ok ")
        assert "idempotency.purge finished: deleted 0" in screen_text(pilot, "#status"), "the outcome stays"
