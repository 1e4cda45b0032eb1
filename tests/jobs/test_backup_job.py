"""The ``backup.run`` job: a backup in the backup folder, only the newest ``backup_keep`` kept."""

from __future__ import annotations

import dataclasses
import tarfile
from pathlib import Path

import pytest

from cashout_server.backup import read_manifest, run_backup
from cashout_server.plugins import PluginRegistry
from cashout_server.runtime import build_runtime
from cashout_server.security.crypto import KEY_FILE
from cashout_server.settings import Settings

pytestmark = pytest.mark.db


async def test_scheduled_backups_keep_the_newest(settings: Settings, registry: PluginRegistry, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    keep_two = dataclasses.replace(
        settings, scheduler=settings.scheduler.model_copy(update={"backup_dir": folder, "backup_keep": 2})
    )
    runtime = build_runtime(keep_two, registry=registry)
    try:
        results = [await run_backup(runtime) for _ in range(3)]
    finally:
        await runtime.close()
    assert [r["deleted"] for r in results] == [0, 0, 1]
    kept = sorted(folder.iterdir())
    assert len(kept) == 2 and all(p.stat().st_mode & 0o777 == 0o600 for p in kept)
    manifest = read_manifest(kept[-1])
    assert manifest["database"] in ("sqlite", "postgresql") and "job_runs" in manifest["counts"]
    with tarfile.open(kept[-1]) as archive:
        names = archive.getnames()
    assert KEY_FILE in names and any(n.startswith("database/") for n in names)
