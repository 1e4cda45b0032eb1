"""Load: the main list endpoints under concurrent clients, on SQLite and PostgreSQL (1 and 3 replicas).

Run: ``.venv/bin/python benchmarks/load.py`` (``make bench-load``; about 12 minutes on two cores),
``--quick`` for a short run, ``--databases sqlite`` for one database.

The database holds 10,000 items, 30,000 listings (3 accounts), 30,000 deliveries, 10,000 leads and
100,000 lead messages, written with SQLAlchemy Core bulk inserts. Real ``cashout serve`` processes
answer; the load generator (``load_client.py``, aiohttp) runs in its own process with N keep-alive
connections for a fixed time and records every request's latency. Each list endpoint is measured
alone (servers started with ``--no-scheduler``) and while the scheduler runs its jobs (servers with
the scheduler, every job triggered again through ``POST /api/v1/jobs/{id}/run`` as soon as its
previous run finishes). The baseline, measured in the same run: a bare Litestar app
(``load_bare.py``, same uvicorn settings) answering the same JSON bytes from memory.

Targets (SQLite, 50-row page, against the bare endpoint's requests per second):

* ``GET /api/v1/items`` and ``/api/v1/listings``: >= 10 % of the bare rps, p99 <= 150 ms, no errors;
* the production middleware on a DB-free endpoint (``/healthz``, the same handler in the bare app):
  costs <= 20 % of its requests per second.

Exits with status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from load_client import LoadResult  # noqa: E402
from load_seed import Sizes, seed  # noqa: E402

CASHOUT = Path(sys.executable).with_name("cashout")
LIST_PATHS = ("/api/v1/items", "/api/v1/listings", "/api/v1/leads", "/api/v1/deliveries")
TARGET_PATHS = ("/api/v1/items", "/api/v1/listings")
HEALTH = "/healthz"
ME = "/api/v1/users/me"
TOKEN_ENV = "CASHOUT_BENCH_TOKEN"  # noqa: S105 - the name of a variable, not a secret
MIN_RATIO = 0.10
MAX_P99_MS = 150.0
MAX_MIDDLEWARE_COST = 0.20
PG_ADMIN = os.environ.get("PG_ADMIN", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")


@dataclass(slots=True)
class Options:
    """How to run."""

    sizes: Sizes
    databases: list[str]
    connections: int
    duration: float
    warmup: float
    pg_admin: str = PG_ADMIN


@dataclass(slots=True)
class Row:
    """One measurement in the report."""

    setup: str
    path: str
    phase: str
    result: LoadResult


@dataclass(slots=True)
class Report:
    """Every measurement, the job runs seen during the scheduler phases, and the checks."""

    rows: list[Row] = field(default_factory=list)
    jobs: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    checks: list[tuple[str, str, str, bool]] = field(default_factory=list)

    def find(self, setup: str, path: str, phase: str) -> LoadResult | None:
        """The measurement of ``path`` in ``setup`` and ``phase``, if taken."""
        for row in self.rows:
            if (row.setup, row.path, row.phase) == (setup, path, phase):
                return row.result
        return None


# --- processes ---------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(url: str, proc: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}{HEALTH}", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{url} did not start:\n{log.read_text()[-3000:]}")


def _stop(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextmanager
def servers(data_dir: Path, database_url: str | None, replicas: int, *, scheduler: bool) -> Iterator[list[str]]:
    """``replicas`` ``cashout serve`` processes on one database; yields their base URLs.

    The environment is production's defaults (log level INFO, so uvicorn's access log is on,
    written to a file as a service manager would) plus the data folder, database and port.
    """
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CASHOUT_")}
    base_env["CASHOUT_DATA_DIR"] = str(data_dir)
    if database_url:
        base_env["CASHOUT_DATABASE_URL"] = database_url
    procs: list[subprocess.Popen[str]] = []
    urls: list[str] = []
    try:
        for n in range(replicas):
            port = _free_port()
            log = data_dir / f"serve-{port}.log"
            args = [str(CASHOUT), "serve", *([] if scheduler else ["--no-scheduler"])]
            with log.open("a") as out:
                procs.append(
                    subprocess.Popen(
                        args,
                        env={**base_env, "CASHOUT_PORT": str(port)},
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        text=True,
                    )
                )
            url = f"http://127.0.0.1:{port}"
            _wait_ready(url, procs[n], log)
            urls.append(url)
        yield urls
    finally:
        _stop(procs)


@contextmanager
def bare_app(bodies: dict[str, bytes], workdir: Path) -> Iterator[str]:
    """The bare Litestar app serving ``bodies``; yields its base URL."""
    spec = workdir / "bare-bodies.json"
    spec.write_text(json.dumps({path: body.decode() for path, body in bodies.items()}))
    port = _free_port()
    log = workdir / "bare.log"
    with log.open("a") as out:
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "load_bare.py"), str(spec), str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log)
        yield url
    finally:
        _stop([proc])


# --- measuring ---------------------------------------------------------------------------


async def measure(urls: list[str], path: str, token: str | None, opts: Options) -> LoadResult:
    """One measurement by the load generator in its own process."""
    args = [sys.executable, str(HERE / "load_client.py"), *(f"--url={u}" for u in urls), f"--path={path}"]
    args += [f"--connections={opts.connections}", f"--duration={opts.duration}", f"--warmup={opts.warmup}"]
    env = dict(os.environ)
    if token:
        env[TOKEN_ENV] = token
        args.append(f"--token-env={TOKEN_ENV}")
    proc = await asyncio.create_subprocess_exec(*args, env=env, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"the load generator failed on {path} (exit {proc.returncode})")
    return LoadResult(**json.loads(out))


async def keep_jobs_running(url: str, token: str, stop: asyncio.Event, seen: dict[str, dict[str, int]]) -> None:
    """Trigger every job listed by ``GET /api/v1/jobs``, and again as soon as each run ends, until ``stop``.

    ``seen`` counts finished runs per job and outcome.
    """
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        listed = await client.get("/api/v1/jobs")
        listed.raise_for_status()
        job_ids = [job["id"] for job in listed.json()["data"]]
        runs: dict[str, str | None] = dict.fromkeys(job_ids)
        while not stop.is_set():
            for job_id in job_ids:
                run_id = runs[job_id]
                if run_id is not None:
                    state = (await client.get(f"/api/v1/jobs/runs/{run_id}")).json().get("state", "?")
                    if state in ("queued", "running"):
                        continue
                    counts = seen.setdefault(job_id, {})
                    counts[state] = counts.get(state, 0) + 1
                answer = await client.post(f"/api/v1/jobs/{job_id}/run")
                runs[job_id] = answer.json()["id"] if answer.status_code == 202 else None
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)


async def measure_with_jobs(
    urls: list[str], path: str, token: str, opts: Options, seen: dict[str, dict[str, int]]
) -> LoadResult:
    """Measure ``path`` while :func:`keep_jobs_running` keeps the scheduler busy."""
    stop = asyncio.Event()
    jobs = asyncio.create_task(keep_jobs_running(urls[0], token, stop, seen))
    try:
        return await measure(urls, path, token, opts)
    finally:
        stop.set()
        await jobs


def fetch_bodies(url: str, token: str) -> dict[str, bytes]:
    """The real server's answers for every measured path, for the bare app to repeat."""
    bodies: dict[str, bytes] = {}
    for path in (*LIST_PATHS, ME, HEALTH):
        answer = httpx.get(url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        answer.raise_for_status()
        bodies[path] = answer.content
    return bodies


# --- the run -----------------------------------------------------------------------------


@contextmanager
def database(kind: str, workdir: Path, opts: Options) -> Iterator[str]:
    """A fresh database's URL (SQLite: the data folder's own file, which ``cashout serve`` uses by default)."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / 'cashout.db'}"
        return
    script = str(ROOT / "scripts" / "pg_test_db.py")
    created = subprocess.run(
        [sys.executable, script, "create", opts.pg_admin], capture_output=True, text=True, check=False
    )
    if created.returncode != 0:
        raise RuntimeError(f"cannot create a PostgreSQL database: {created.stderr.strip()}")
    url = created.stdout.strip()
    try:
        yield url
    finally:
        subprocess.run([sys.executable, script, "drop", opts.pg_admin, url], check=False)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def run_setup(
    report: Report, setup: str, data_dir: Path, url: str | None, replicas: int, token: str, opts: Options
) -> dict[str, bytes]:
    """Measure every list endpoint alone and with the jobs running; returns the bodies served."""
    with servers(data_dir, url, replicas, scheduler=False) as urls:
        bodies = fetch_bodies(urls[0], token)
        for path in LIST_PATHS:
            _log(f"  {setup} {path} alone")
            report.rows.append(Row(setup, path, "alone", await measure(urls, path, token, opts)))
        if setup == "sqlite":
            for path, auth in ((HEALTH, None), (ME, token)):
                _log(f"  {setup} {path}")
                report.rows.append(Row(setup, path, "alone", await measure(urls, path, auth, opts)))
    with servers(data_dir, url, replicas, scheduler=True) as urls:
        for path in LIST_PATHS:
            _log(f"  {setup} {path} with jobs")
            seen = report.jobs.setdefault(setup, {})
            result = await measure_with_jobs(urls, path, token, opts, seen)
            report.rows.append(Row(setup, path, "jobs", result))
    return bodies


async def run(opts: Options, workdir: Path) -> Report:
    """Seed, serve and measure every setup in ``opts.databases``; the bare app on the SQLite bodies."""
    report = Report()
    bodies: dict[str, bytes] | None = None
    for kind in opts.databases:
        replica_counts = [1] if kind == "sqlite" else [1, 3]
        data_dir = workdir / kind
        data_dir.mkdir()
        _log(f"seeding {kind} ...")
        started = time.monotonic()
        with database(kind, data_dir, opts) as url:
            # Alembic's env runs its own event loop: seed from a thread.
            seeded = await asyncio.to_thread(seed, url, opts.sizes)
            _log(f"  seeded {seeded.counts} in {time.monotonic() - started:.0f} s")
            for replicas in replica_counts:
                setup = kind if kind == "sqlite" else f"postgresql x{replicas}"
                server_url = None if kind == "sqlite" else url
                got = await run_setup(report, setup, data_dir, server_url, replicas, seeded.token, opts)
                bodies = bodies or got
    if bodies is not None:
        with bare_app(bodies, workdir) as bare:
            for path in (*LIST_PATHS, HEALTH, ME):
                _log(f"  bare {path}")
                report.rows.append(Row("bare", path, "alone", await measure([bare], path, None, opts)))
    _checks(report)
    return report


def _checks(report: Report) -> None:
    for path in TARGET_PATHS:
        got, bare = report.find("sqlite", path, "alone"), report.find("bare", path, "alone")
        if got is None or bare is None:
            continue
        ratio = got.rps / bare.rps if bare.rps else 0.0
        report.checks.append(
            (
                f"{path} (SQLite) vs bare",
                f"{ratio:.1%} of {bare.rps:,.0f} rps",
                f">= {MIN_RATIO:.0%}",
                ratio >= MIN_RATIO,
            )
        )
        report.checks.append(
            (f"{path} (SQLite) p99", f"{got.p99_ms:.1f} ms", f"<= {MAX_P99_MS:.0f} ms", got.p99_ms <= MAX_P99_MS)
        )
    for row in report.rows:
        if row.setup != "bare" and row.result.errors:
            report.checks.append((f"{row.setup} {row.path} {row.phase} errors", str(row.result.errors), "0", False))
    if any(r.setup != "bare" for r in report.rows):
        errors = sum(r.result.errors for r in report.rows)
        report.checks.append(("errors, every measurement", str(errors), "0", errors == 0))
    got, bare = report.find("sqlite", HEALTH, "alone"), report.find("bare", HEALTH, "alone")
    if got is not None and bare is not None and bare.rps:
        cost = 1 - got.rps / bare.rps
        report.checks.append(
            ("middleware cost on /healthz", f"{cost:.1%}", f"<= {MAX_MIDDLEWARE_COST:.0%}", cost <= MAX_MIDDLEWARE_COST)
        )


def print_report(report: Report, opts: Options) -> None:
    """The setup, every measurement and the checks, as Markdown tables."""
    s = opts.sizes
    print(
        f"\nSetup: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; {s.items:,} items, {s.listings:,} listings,"
        f" {s.leads:,} leads, {s.messages:,} messages; {opts.connections} connections, {opts.duration:g} s measured"
        f" after {opts.warmup:g} s warm-up per row; 50-row pages (the default limit).\n"
    )
    print("| setup | path | phase | req/s | p50 ms | p99 ms | errors | vs bare |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for row in report.rows:
        r = row.result
        bare = report.find("bare", row.path, "alone")
        ratio = f"{r.rps / bare.rps:.1%}" if bare and bare.rps and row.setup != "bare" else ""
        print(
            f"| {row.setup} | {row.path} | {row.phase} | {r.rps:,.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} |"
            f" {r.errors} | {ratio} |"
        )
    if report.jobs:
        print("\nJob runs finished during the 'jobs' rows:")
        for setup, jobs in report.jobs.items():
            text = ", ".join(f"{job} {dict(sorted(c.items()))}" for job, c in sorted(jobs.items()))
            print(f"- {setup}: {text or 'none'}")
    if report.checks:
        print("\n| figure | measured | target | |")
        print("|---|---|---|---|")
        for name, measured, target, ok in report.checks:
            print(f"| {name} | {measured} | {target} | {'PASS' if ok else 'FAIL'} |")


def parse(argv: list[str] | None) -> tuple[Options, Path | None]:
    """Command-line options."""
    parser = argparse.ArgumentParser(description="Load benchmark: list endpoints vs. a bare Litestar endpoint.")
    parser.add_argument("--quick", action="store_true", help="3 s per row, SQLite and PostgreSQL x1/x3")
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--listings", type=int, default=30_000)
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=None, help="seconds per row (10; --quick 3)")
    parser.add_argument("--warmup", type=float, default=None, help="warm-up seconds per row (1; --quick 0.5)")
    parser.add_argument("--json", type=Path, default=None, help="also write the report here as JSON")
    args = parser.parse_args(argv)
    opts = Options(
        sizes=Sizes(items=args.items, listings=args.listings, leads=args.leads, messages=args.messages),
        databases=[d.strip() for d in args.databases.split(",") if d.strip()],
        connections=args.connections,
        duration=args.duration if args.duration is not None else (3.0 if args.quick else 10.0),
        warmup=args.warmup if args.warmup is not None else (0.5 if args.quick else 1.0),
    )
    unknown = set(opts.databases) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown database {sorted(unknown)[0]!r}")
    return opts, args.json


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 when a target is missed."""
    opts, json_path = parse(argv)
    with tempfile.TemporaryDirectory(prefix="cashout-load-") as tmp:
        report = asyncio.run(run(opts, Path(tmp)))
    print_report(report, opts)
    if json_path is not None:
        payload: dict[str, Any] = {
            "rows": [{**asdict(r), "result": asdict(r.result)} for r in report.rows],
            "jobs": report.jobs,
            "checks": [{"figure": c[0], "measured": c[1], "target": c[2], "ok": c[3]} for c in report.checks],
        }
        json_path.write_text(json.dumps(payload, indent=2))
    return 0 if all(c[3] for c in report.checks) else 1


if __name__ == "__main__":
    sys.exit(main())
