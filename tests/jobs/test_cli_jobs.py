"""``cashout jobs list`` and ``cashout jobs run`` against a database with no server running."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cashout_server.cli import main


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_env: None) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("CASHOUT_DATA_DIR", str(folder))
    assert CliRunner().invoke(main, ["db", "upgrade"]).exit_code == 0
    return folder


def test_jobs_list_and_run_without_a_server(data: Path) -> None:
    queued = CliRunner().invoke(main, ["jobs", "run", "idempotency.purge"])
    assert queued.exit_code == 0, queued.output
    assert queued.output.startswith("queued run_")
    assert "no server is running the jobs right now: the run starts when one does" in queued.output
    listed = CliRunner().invoke(main, ["jobs", "list"])
    assert listed.exit_code == 0, listed.output
    assert "leader: none" in listed.output
    lines = {line.split()[0]: line for line in listed.output.splitlines()[2:] if line.strip()}
    assert {"deliveries.sweep_pending", "idempotency.purge", "credentials.refresh", "backup.run"} <= set(lines)
    assert "60m" in lines["idempotency.purge"] and "never" in lines["idempotency.purge"]
    unknown = CliRunner().invoke(main, ["jobs", "run", "nope"])
    assert unknown.exit_code == 1 and "no job 'nope'" in unknown.output


def test_backup_refuses_an_existing_file_and_restore_refuses_a_non_backup(data: Path, tmp_path: Path) -> None:
    made = CliRunner().invoke(main, ["backup", "--output", str(tmp_path / "b.tar.gz")])
    assert made.exit_code == 0, made.output
    again = CliRunner().invoke(main, ["backup", "--output", str(tmp_path / "b.tar.gz")])
    assert again.exit_code == 1 and "exists" in again.output
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tarball")
    refused = CliRunner().invoke(main, ["restore", str(junk), "--yes"])
    assert refused.exit_code == 1 and "is not a cashout backup" in refused.output
