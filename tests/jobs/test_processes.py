"""Real ``cashout serve`` processes: SQLite's one-process rule, graceful SIGTERM, and three replicas on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from cashout_test_support import CASHOUT, ServerProcess, queue_publications, start_server
from counting_jobs import counted

from cashout_server.db.migrate import upgrade
from cashout_server.domain.users.services import ensure_owner
from cashout_server.plugins import create_plugin_manager
from cashout_server.runtime import build_runtime
from cashout_server.settings import load_settings
from cashout_server.testing.fakeplatform import FakePlatformPlugin, FakePlatformServer, Faults

HERE = Path(__file__).resolve().parent


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, **extra}


def test_a_second_server_on_the_same_sqlite_file_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_server(data, tmp_path / "first.log")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CASHOUT_")}
        env.update(CASHOUT_DATA_DIR=str(data), CASHOUT_PORT="1")
        second = subprocess.run([str(CASHOUT), "serve"], env=env, capture_output=True, text=True, timeout=60)
        assert first.proc.poll() is None and httpx.get(f"{first.url}/readyz").status_code == 200
    finally:
        first.stop()
    assert second.returncode == 1
    assert f"cashout server pid {first.proc.pid}" in second.stderr
    assert "SQLite allows one server process per database" in second.stderr
    assert "PostgreSQL" in second.stderr
    # Once the first has stopped, a server starts again on the same file.
    again = start_server(data, tmp_path / "again.log")
    again.stop()
    assert again.proc.returncode in (0, -15), "a graceful stop (uvicorn re-raises SIGTERM once shut down)"


# --- graceful shutdown ---------------------------------------------------------------------------

FAKE_ENV = {
    "CASHOUT_PLUGIN_MODULES": "cashout_server.testing.fake_platforms",
    "CASHOUT_FAKE_PLATFORMS": "fake_a:8",
    "CASHOUT_PLUGINS": "none",
    "CASHOUT_DELIVERY_POLL_INTERVAL": "0.2",
}


@pytest.fixture
def slow_fake() -> Iterator[FakePlatformServer]:
    server = FakePlatformServer(faults=Faults(latency=0.4, max_concurrency=8), seed=1, name="fake_a").start()
    yield server
    server.stop()


def _prepare(data: Path, fake: FakePlatformServer, items: int) -> str:
    settings = load_settings(server={"data_dir": data})
    data.mkdir(mode=0o700)
    upgrade(settings.database_url)

    async def run() -> str:
        registry = create_plugin_manager(load_entrypoints=False, extra=[("fakes", FakePlatformPlugin([("fake_a", 8)]))])
        runtime = build_runtime(settings, registry=registry)
        try:
            async with runtime.session() as session:
                owner = await ensure_owner(session, "owner@example.com")
                assert owner is not None
                await session.commit()
            await queue_publications(runtime, [(fake.name, fake.url)], items)
        finally:
            await runtime.close()
        return owner.secret

    return asyncio.run(run())


def _creates(fake: FakePlatformServer) -> int:
    return sum(1 for m in fake.mutations if m.result in ("created", "hung"))


def test_sigterm_during_delivery_finishes_in_flight_rows_and_loses_nothing(
    tmp_path: Path, slow_fake: FakePlatformServer
) -> None:
    data = tmp_path / "data"
    token = _prepare(data, slow_fake, 60)
    server = start_server(data, tmp_path / "server.log", **FAKE_ENV)
    deadline = time.monotonic() + 60
    while slow_fake.in_flight < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert slow_fake.in_flight >= 4, "deliveries were in flight when SIGTERM came"
    in_flight_at_term = slow_fake.in_flight
    started = time.monotonic()
    server.stop()
    stopped_in = time.monotonic() - started
    assert server.proc.returncode in (0, -15), server.log()[-2000:]
    with sqlite3.connect(data / "cashout.db") as db:
        states = dict(db.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall())
    assert "in_flight" not in states, f"in-flight rows finished before exit: {states}"
    done_at_stop = states.get("done", 0)
    assert done_at_stop >= in_flight_at_term and stopped_in < 10

    survivor = start_server(data, tmp_path / "server.log", **FAKE_ENV)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            counts = httpx.get(f"{survivor.url}/api/v1/deliveries/counts", headers=headers).json()["by_state"]
            if counts.get("done") == 60:
                break
            time.sleep(0.2)
    finally:
        survivor.stop()
    assert counts == {"done": 60}
    assert slow_fake.duplicates() == {} and _creates(slow_fake) == 60 and len(slow_fake.live()) == 60


# --- three replicas on PostgreSQL -------------------------------------------------------------------


def _jobs(server: ServerProcess, token: str) -> dict[str, object]:
    answer = httpx.get(f"{server.url}/api/v1/jobs", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    return dict(answer.json())


def _holder_pid(info: dict[str, object]) -> int | None:
    leader = info.get("leader")
    if not isinstance(leader, dict) or not leader.get("live"):
        return None
    return int(str(leader["holder"]).split(":")[1])


@pytest.mark.postgres
def test_three_replicas_run_every_job_exactly_once_and_survive_the_leader_being_killed(
    tmp_path: Path, fresh_pg_database: str
) -> None:
    counter = tmp_path / "counter"
    lease = 3.0
    env = _env(
        CASHOUT_DATABASE_URL=fresh_pg_database,
        CASHOUT_SCHEDULER_LEASE_SECONDS=str(lease),
        CASHOUT_SCHEDULER_EXTRA_JOBS="counting_jobs:ONE_SHOT,counting_jobs:MANUAL",
        COUNTING_JOBS_FILE=str(counter),
        COUNTING_JOBS_DELAY="3",
        COUNTING_JOBS_SLEEP="0.03",
    )
    data = tmp_path / "data"  # shared by the replicas: one key file, one photo store
    servers = [start_server(data, tmp_path / f"replica{n}.log", **env) for n in range(3)]
    token = servers[0].token
    assert token is not None
    try:
        # 1. A hundred one-shot jobs fall due in the same second: each runs once, on the leader.
        deadline = time.monotonic() + 60
        while len(counted(str(counter))) < 100 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2)
        one_shot = counted(str(counter))
        assert len(one_shot) == 100 and len(set(one_shot)) == 100

        # 2. A hundred manual runs asked of all three replicas at once; the leader is killed midway.
        def ask(n: int) -> str:
            server = servers[n % 3]
            answer = httpx.post(
                f"{server.url}/api/v1/jobs/test.count/run", headers={"Authorization": f"Bearer {token}"}, timeout=10
            )
            assert answer.status_code == 202
            return str(answer.json()["id"])

        with ThreadPoolExecutor(max_workers=12) as pool:
            manual = list(pool.map(ask, range(100)))
        old = _holder_pid(_jobs(servers[0], token))
        victim = next(s for s in servers if s.proc.pid == old)
        while len(counted(str(counter))) < 130:
            time.sleep(0.01)
        victim.stop(kill=True)
        killed = time.monotonic()
        survivors = [s for s in servers if s is not victim]
        new = None
        while time.monotonic() - killed < 30:
            new = _holder_pid(_jobs(survivors[0], token))
            if new is not None and new != old:
                break
            time.sleep(0.05)
        takeover = time.monotonic() - killed
        assert new in {s.proc.pid for s in survivors}
        assert takeover <= lease + 1.0 + 1.0, f"took {takeover:.2f} s"

        states: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            page = httpx.get(
                f"{survivors[0].url}/api/v1/jobs/test.count/runs",
                params={"limit": 200},
                headers={"Authorization": f"Bearer {token}"},
            ).json()
            states = {r["id"]: r["state"] for r in page["data"]}
            if not any(s in ("queued", "running") for s in states.values()):
                break
            time.sleep(0.2)
    finally:
        for server in servers:
            server.stop()
    lines = counted(str(counter))
    manual_counted = [i for i in lines if i in set(manual)]
    assert len(manual_counted) == len(set(manual_counted)), "no manual run ran twice"
    assert set(states) == set(manual)
    ok = {i for i, s in states.items() if s == "ok"}
    abandoned = {i for i, s in states.items() if s == "abandoned"}
    assert ok | abandoned == set(manual) and len(abandoned) <= 1, states
    assert ok <= set(manual_counted), "every run reported ok did run"
    assert set(one_shot) == {i for i in lines if i not in set(manual)}, "no one-shot job ran again after the takeover"
    print(f"\ntakeover after SIGKILL: {takeover:.2f} s (lease {lease} s, tick 1 s); manual runs ok={len(ok)}")


# --- backups of a live database ---------------------------------------------------------------------


class Writer(threading.Thread):
    """Creates items through the API until stopped."""

    def __init__(self, server: ServerProcess, token: str) -> None:
        super().__init__(daemon=True)
        self.server, self.token, self.stopped, self.created = server, token, threading.Event(), 0

    def run(self) -> None:
        with httpx.Client(base_url=self.server.url, headers={"Authorization": f"Bearer {self.token}"}) as api:
            while not self.stopped.is_set():
                if (
                    api.post(
                        "/api/v1/items", json={"title": f"Lamp {self.created}", "list_price_minor": 2500}
                    ).status_code
                    == 201
                ):
                    self.created += 1


def _cli(data: Path, *args: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASHOUT_")}
    env.update(CASHOUT_DATA_DIR=str(data), **env_extra)
    return subprocess.run([str(CASHOUT), *args], env=env, capture_output=True, text=True, timeout=120)


def _round_trip(tmp_path: Path, **env: str) -> None:
    data = tmp_path / "data"
    (tmp_path / "backups").mkdir()
    server = start_server(data, tmp_path / "server.log", **env)
    assert server.token is not None
    writer = Writer(server, server.token)
    writer.start()
    try:
        while writer.created < 30:
            time.sleep(0.01)
        made = _cli(data, "backup", "--output", str(tmp_path / "backups"), **env)
        assert made.returncode == 0, made.stderr
        during = writer.created
        time.sleep(0.3)
        refused = _cli(data, "restore", str(next((tmp_path / "backups").iterdir())), "--yes", **env)
    finally:
        writer.stopped.set()
        writer.join()
        server.stop()
    archive = next((tmp_path / "backups").iterdir())
    assert (archive.stat().st_mode & 0o777) == 0o600
    assert "keep it as safe" in made.stdout
    assert refused.returncode == 1 and "stop" in refused.stderr.lower()
    assert writer.created > during, "writes went on during the backup"
    restored = _cli(data, "restore", str(archive), "--yes", **env)
    assert restored.returncode == 0, restored.stderr
    assert "equal to the backup's counts" in restored.stdout
    # The restored database is the snapshot: fewer items than were written in the end, and it serves.
    server = start_server(data, tmp_path / "server.log", **env)
    try:
        items = httpx.get(
            f"{server.url}/api/v1/items",
            params={"limit": 200},
            headers={"Authorization": f"Bearer {server.token or writer.token}"},
        )
    finally:
        server.stop()
    assert items.status_code == 200
    assert 30 <= len(items.json()["data"]) < writer.created


def test_backup_and_restore_round_trip_a_live_sqlite_database(tmp_path: Path) -> None:
    _round_trip(tmp_path)


@pytest.mark.postgres
def test_backup_and_restore_round_trip_a_live_postgresql_database(tmp_path: Path, fresh_pg_database: str) -> None:
    _round_trip(tmp_path, CASHOUT_DATABASE_URL=fresh_pg_database)
