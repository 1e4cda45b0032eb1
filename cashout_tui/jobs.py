"""The jobs screen: every scheduled job, when it runs next, how it went, its recent failures, and run it now."""

from __future__ import annotations

import asyncio
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, Static

from cashout_tui.client import ApiError, CashoutClient
from cashout_tui.common import ApiFailed, Polling, show_error, show_info
from cashout_tui.formatting import relative_time

__all__ = ["JobsScreen"]

_DONE = frozenset({"ok", "failed", "abandoned"})


class JobsLoaded(Message, bubble=False):
    """The jobs (and the lease holder) arrived."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__()
        self.body = body


class FailuresLoaded(Message, bubble=False):
    """A job's recent failures arrived."""

    def __init__(self, job_id: str, runs: list[dict[str, Any]]) -> None:
        super().__init__()
        self.job_id = job_id
        self.runs = runs


class RunChanged(Message, bubble=False):
    """A run asked for from this screen moved on (queued, running, then its outcome)."""

    def __init__(self, run: dict[str, Any], final: bool) -> None:
        super().__init__()
        self.run = run
        self.final = final


def _every(seconds: float | None) -> str:
    if not seconds:
        return "on demand"
    if seconds < 3600:
        return f"{seconds / 60:g}m"
    return f"{seconds / 3600:g}h"


def _outcome(job: dict[str, Any]) -> str:
    if job.get("running"):
        return "running"
    last = job.get("last_run")
    if not last:
        return "never run"
    return f"{last['state']} {relative_time(last.get('finished_at') or last.get('started_at'))}"


def _summary(run: dict[str, Any]) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in (run.get("summary") or {}).items())
    return counts or "nothing to report"


class JobsScreen(Screen[None]):
    """Scheduled jobs: next run, last outcome, recent failures; ``r`` runs the selected job now.

    Args:
        client: the API client.
        polling: how to follow a run until it finishes.
    """

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("g", "reload", "Refresh"),
        Binding("r", "run_now", "Run now"),
    ]

    def __init__(self, client: CashoutClient, polling: Polling | None = None) -> None:
        super().__init__()
        self.client = client
        self.polling = polling or Polling()
        self.jobs: dict[str, dict[str, Any]] = {}
        self._outcome: str | None = None

    def compose(self) -> ComposeResult:
        """Lay out the screen."""
        yield Header()
        yield Static("", id="leader", markup=False)
        yield DataTable(id="jobs", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="failures-box"):
            yield Label("Recent failures", classes="section")
            yield Static("Select a job to see its recent failures.", id="failures", markup=False)
        yield Static("", id="status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        """Set up the table and start loading."""
        self.sub_title = "Jobs"
        table = self.query_one("#jobs", DataTable)
        for label, key in [
            ("Job", "id"),
            ("Every", "every"),
            ("Next run", "next"),
            ("Last outcome", "last"),
            ("Last failure", "failure"),
            ("What it does", "description"),
        ]:
            table.add_column(label, key=key)
        self.load_jobs()

    # workers

    @work(exclusive=True, group="load")
    async def load_jobs(self) -> None:
        """Fetch the jobs (in a worker)."""
        try:
            body = await self.client.list_jobs()
        except ApiError as exc:
            self.post_message(ApiFailed("Could not load the jobs", exc))
            return
        self.post_message(JobsLoaded(body))

    @work(exclusive=True, group="failures")
    async def load_failures(self, job_id: str) -> None:
        """Fetch a job's recent failures (in a worker).

        Args:
            job_id: the job's id.
        """
        try:
            runs = await self.client.list_job_runs(job_id, state="failed", limit=5)
        except ApiError as exc:
            self.post_message(ApiFailed("Could not load the job's runs", exc))
            return
        self.post_message(FailuresLoaded(job_id, runs))

    @work(exclusive=True, group="run")
    async def run_job(self, job_id: str) -> None:
        """Queue a run now, then follow it until it finishes (in a worker).

        Args:
            job_id: the job's id.
        """
        try:
            run = await self.client.run_job(job_id)
            self.post_message(RunChanged(run, final=False))
            for _ in range(self.polling.limit):
                await asyncio.sleep(self.polling.interval)
                run = await self.client.get_job_run(run["id"])
                if run["state"] in _DONE:
                    self.post_message(RunChanged(run, final=True))
                    return
                self.post_message(RunChanged(run, final=False))
        except ApiError as exc:
            self.post_message(ApiFailed(f"Could not run {job_id}", exc))
            return
        show_info(
            self.query_one("#status", Static),
            f"{job_id} has not finished yet ({run['state']}); press g to look again.",
        )

    # results

    def on_jobs_loaded(self, message: JobsLoaded) -> None:
        """Show the jobs, keeping the cursor on the same job."""
        table = self.query_one("#jobs", DataTable)
        current = self._current_id()
        table.clear()
        self.jobs = {job["id"]: job for job in message.body["data"]}
        for job in message.body["data"]:
            failure = job.get("last_failure")
            table.add_row(
                job["id"],
                _every(job.get("interval_seconds")),
                relative_time(job.get("next_run_at")) if job.get("next_run_at") else "-",
                _outcome(job) + (f" (+{job['queued']} queued)" if job.get("queued") else ""),
                relative_time(failure.get("finished_at")) if failure else "-",
                job.get("description", ""),
                key=job["id"],
            )
        if current in self.jobs:
            table.move_cursor(row=table.get_row_index(current))
        leader = message.body.get("leader")
        if leader and leader.get("live"):
            text = f"Jobs run in {leader['holder']} (since {relative_time(leader['since'])})."
        else:
            text = "No server process is running the jobs right now: runs wait until one is."
        self.query_one("#leader", Static).update(text)
        failing = sum(1 for job in self.jobs.values() if (job.get("last_run") or {}).get("state") == "failed")
        status = (
            f"{len(self.jobs)} jobs" + (f", {failing} failing" if failing else "") + ". r runs the selected one now."
        )
        # The outcome of a run asked for here stays on the status line through the reload it causes.
        show_info(self.query_one("#status", Static), self._outcome or status)
        self._outcome = None
        self._show_selected()

    def on_failures_loaded(self, message: FailuresLoaded) -> None:
        """Show a job's recent failures with their errors."""
        if message.job_id != self._current_id():
            return
        box = self.query_one("#failures", Static)
        if not message.runs:
            box.update(f"{message.job_id}: no failures.")
            return
        lines = [f"{message.job_id}: {len(message.runs)} recent failure(s)"]
        for run in message.runs:
            when = relative_time(run.get("finished_at") or run.get("started_at"))
            lines.append(f"  {when} ({run['trigger']}, {run.get('runner') or '?'}): {run.get('error') or run['state']}")
        box.update("\n".join(lines))

    def on_run_changed(self, message: RunChanged) -> None:
        """Say where a run asked for here stands; reload the table when it is done."""
        run = message.run
        status = self.query_one("#status", Static)
        if not message.final:
            show_info(status, f"{run['job_id']}: {run['state']} ({run['id']})")
            return
        if run["state"] == "ok":
            self._outcome = f"{run['job_id']} finished: {_summary(run)}"
        else:
            self._outcome = f"{run['job_id']} {run['state']}: {run.get('error') or 'no error recorded'}"
        show_info(status, self._outcome)
        self.load_jobs()

    def on_api_failed(self, message: ApiFailed) -> None:
        """Show a failed call on the status line."""
        show_error(self.query_one("#status", Static), message.doing, message.error)

    def _current_id(self) -> str | None:
        table = self.query_one("#jobs", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return str(key) if key is not None else None

    def _show_selected(self) -> None:
        job_id = self._current_id()
        if job_id is not None:
            self.load_failures(job_id)

    @on(DataTable.RowHighlighted, "#jobs")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_selected()

    # actions

    def action_back(self) -> None:
        """Back to the items."""
        self.app.pop_screen()

    def action_reload(self) -> None:
        """Load the jobs again."""
        self.load_jobs()

    def action_run_now(self) -> None:
        """Run the selected job now."""
        job_id = self._current_id()
        if job_id is None:
            show_info(self.query_one("#status", Static), "No job selected.")
            return
        self.run_job(job_id)
