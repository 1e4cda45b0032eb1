"""Backups and restore: one archive holds the database, the photo store and the key file.

A backup is a ``.tar.gz`` readable only by its owner (0600) with:

* ``manifest.json``: when, which cashout, which database kind and migration, and the row count
  of every table **in the snapshot that was backed up**;
* ``database/cashout.db`` (SQLite, taken with SQLite's online backup API: safe while the server
  runs and writes) or ``database/cashout.dump`` (PostgreSQL, ``pg_dump --format=custom`` of a
  snapshot exported by the transaction that counted the rows);
* ``photos/``: the photo store (originals, cleaned copies, variants);
* ``secret.key``: the Fernet key file, when keys come from the data folder. Stored platform
  credentials cannot be decrypted without it, so **the archive holds secrets**: keep it as
  carefully as the data folder itself.

Restore refuses while a server uses the database (SQLite: the server's lock file is held;
PostgreSQL: a live scheduler lease), and keeps what it replaces beside it (``*.pre-restore-<time>``).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import URL, make_url

import cashout_server
from cashout_server.db.migrate import current_revision
from cashout_server.db.models import Base, utcnow
from cashout_server.leader import AlreadyRunning, ProcessLock, read_lease, sqlite_path
from cashout_server.runtime import Runtime, build_runtime
from cashout_server.security.crypto import KEY_FILE
from cashout_server.settings import Settings

FORMAT = 1
ARCHIVE_PREFIX = "cashout-backup-"
_DB_SQLITE = "database/cashout.db"
_DB_PG = "database/cashout.dump"


class BackupError(RuntimeError):
    """A backup or restore cannot be done; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class BackupResult:
    """A finished backup."""

    path: Path
    counts: dict[str, int]
    size: int
    has_key: bool


def _tables() -> list[str]:
    return [table.name for table in Base.metadata.sorted_tables]


def _pg_params(url: URL) -> tuple[list[str], dict[str, str]]:
    """The libpq arguments and environment for ``url`` (the password goes in the environment, not argv)."""
    args = ["--dbname", url.database or "postgres"]
    if url.host:
        args += ["--host", url.host]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return args, env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not on PATH: PostgreSQL backups use PostgreSQL's own tools. Install the PostgreSQL "
            "client package of your server's version (Debian: postgresql-client) and try again."
        )
    return found


# --- backup -----------------------------------------------------------------------------------


def _sqlite_snapshot(source: Path, target: Path) -> dict[str, int]:
    """Copy ``source`` into ``target`` with the online backup API and count the copy's rows."""
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.execute("PRAGMA busy_timeout=30000")
        # pages=-1: one step under one read transaction, so the copy is a single consistent snapshot.
        src.backup(dst, pages=-1)
        present = {row[0] for row in dst.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return {
            name: int(dst.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])  # noqa: S608 - our table names
            for name in _tables()
            if name in present
        }
    finally:
        dst.close()
        src.close()


async def _pg_snapshot(runtime: Runtime, target: Path) -> dict[str, int]:
    """``pg_dump`` a snapshot into ``target`` and count the rows of that same snapshot."""
    pg_dump = _tool("pg_dump")
    args, env = _pg_params(make_url(runtime.settings.database_url))
    async with runtime.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            snapshot = (await conn.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
            counts = {
                name: int(
                    (await conn.execute(select(func.count()).select_from(Base.metadata.tables[name]))).scalar_one()
                )
                for name in _tables()
            }
            proc = await asyncio.create_subprocess_exec(
                pg_dump,
                *args,
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--snapshot={snapshot}",
                f"--file={target}",
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await proc.communicate()
            if proc.returncode != 0:
                raise BackupError(f"pg_dump failed ({proc.returncode}): {err.decode(errors='replace').strip()[-2000:]}")
    return counts


def _add_tree(archive: tarfile.TarFile, root: Path, name: str) -> None:
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith(".tmp"):
            with contextlib.suppress(FileNotFoundError):  # deleted while we walked: not in the snapshot either
                archive.add(path, arcname=f"{name}/{path.relative_to(root).as_posix()}", recursive=False)


def _write_private(path: Path) -> io.BufferedWriter:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


async def create_backup(runtime: Runtime, output: Path | None = None) -> BackupResult:
    """Back up the database, photos and key file of ``runtime`` into one archive.

    Args:
        runtime: the runtime whose database and data folder to back up (the server may be running).
        output: the archive to write (default: a timestamped file in the backup folder). An existing
            folder gets a timestamped file inside it.

    Returns:
        The archive, with the row counts of the snapshot it holds.

    Raises:
        BackupError: the database's tools are missing or the dump failed.
    """
    settings = runtime.settings
    stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
    name = f"{ARCHIVE_PREFIX}{stamp}.tar.gz"
    if output is None:
        output = backup_dir(settings) / name
    elif output.is_dir():
        output = output / name
    output.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if output.exists():
        raise BackupError(f"{output} exists; choose another name")
    migration = await current_revision(runtime.engine)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".backup-") as scratch:
        work = Path(scratch)
        db_file = sqlite_path(settings.database_url)
        if db_file is not None:
            dump, member = work / "cashout.db", _DB_SQLITE
            counts = await asyncio.to_thread(_sqlite_snapshot, db_file, dump)
            kind = "sqlite"
        else:
            dump, member = work / "cashout.dump", _DB_PG
            counts = await _pg_snapshot(runtime, dump)
            kind = "postgresql"
        key_file = settings.data_dir / KEY_FILE
        has_key = key_file.is_file()
        manifest = {
            "format": FORMAT,
            "created_at": utcnow().isoformat(),
            "cashout_version": cashout_server.__version__,
            "database": kind,
            "migration": migration,
            "counts": counts,
            "secret_key": has_key,
        }
        partial = work / "archive.tar.gz"

        def write() -> None:
            with _write_private(partial) as raw, tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as archive:
                data = json.dumps(manifest, indent=2).encode()
                info = tarfile.TarInfo("manifest.json")
                info.size, info.mtime, info.mode = len(data), int(utcnow().timestamp()), 0o600
                archive.addfile(info, io.BytesIO(data))
                archive.add(dump, arcname=member)
                if has_key:
                    archive.add(key_file, arcname=KEY_FILE)
                _add_tree(archive, settings.data_dir / "photos", "photos")
            os.replace(partial, output)

        await asyncio.to_thread(write)
    return BackupResult(path=output, counts=counts, size=output.stat().st_size, has_key=has_key)


def backup_dir(settings: Settings) -> Path:
    """Where scheduled backups go: ``scheduler.backup_dir``, else ``backups`` in the data folder."""
    return settings.scheduler.backup_dir or settings.data_dir / "backups"


def prune_backups(folder: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest backups in ``folder`` (only files this server named).

    Returns:
        The files deleted.
    """
    found = sorted(folder.glob(f"{ARCHIVE_PREFIX}*.tar.gz"), key=lambda p: p.name, reverse=True)
    gone = found[keep:]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


async def run_backup(runtime: Runtime) -> dict[str, int]:
    """The ``backup.run`` job: a backup into the backup folder, keeping ``scheduler.backup_keep`` newest.

    Returns:
        ``{"bytes": size, "rows": rows backed up, "deleted": old backups removed}``.
    """
    result = await create_backup(runtime)
    gone = await asyncio.to_thread(prune_backups, result.path.parent, runtime.settings.scheduler.backup_keep)
    return {"bytes": result.size, "rows": sum(result.counts.values()), "deleted": len(gone)}


# --- restore ----------------------------------------------------------------------------------


def read_manifest(archive: Path) -> dict[str, Any]:
    """The manifest of a backup archive.

    Raises:
        BackupError: the file is not a cashout backup.
    """
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile("manifest.json")
            if member is None:
                raise KeyError("manifest.json")
            manifest: dict[str, Any] = json.loads(member.read())
    except (OSError, KeyError, tarfile.TarError, ValueError) as exc:
        raise BackupError(f"{archive} is not a cashout backup: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{archive} is a backup of format {manifest.get('format')}; this cashout reads {FORMAT}")
    return manifest


def _aside(path: Path, stamp: str) -> Path | None:
    """Move ``path`` out of the way (kept as ``<name>.pre-restore-<stamp>``)."""
    if not path.exists():
        return None
    target = path.with_name(f"{path.name}.pre-restore-{stamp}")
    path.rename(target)
    return target


async def _pg_busy(settings: Settings) -> str | None:
    runtime = build_runtime(settings)
    try:
        lease = await read_lease(runtime)
    finally:
        await runtime.close()
    if lease is not None and lease.live:
        return f"{lease.holder} holds the scheduler lease until {lease.expires_at.isoformat()}"
    return None


async def restore_backup(settings: Settings, archive: Path) -> dict[str, Any]:
    """Replace the database, photos and key file of ``settings`` with those in ``archive``.

    The server must be stopped. What is replaced is kept beside it (``*.pre-restore-<time>``).

    Returns:
        The archive's manifest.

    Raises:
        BackupError: not a backup, the wrong kind of database, a server still running, or the
            database tools failed.
    """
    manifest = read_manifest(archive)
    db_file = sqlite_path(settings.database_url)
    kind = "sqlite" if db_file is not None else "postgresql"
    if manifest["database"] != kind:
        raise BackupError(
            f"the backup holds a {manifest['database']} database and this server is configured for {kind}; "
            "restore it into the same kind of database"
        )
    lock: ProcessLock | None = None
    if db_file is not None:
        lock = ProcessLock(db_file)
        try:
            lock.acquire(what="a restore")
        except AlreadyRunning as exc:
            raise BackupError(f"stop the server before restoring: {exc}") from None
    else:
        busy = await _pg_busy(settings)
        if busy:
            raise BackupError(f"a cashout server is running on this database ({busy}); stop every replica first")
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    data = settings.data_dir
    try:
        data.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.TemporaryDirectory(dir=data, prefix=".restore-") as scratch:
            work = Path(scratch)
            await asyncio.to_thread(_extract, archive, work)
            if db_file is not None:
                for suffix in ("", "-wal", "-shm"):
                    _aside(db_file.with_name(db_file.name + suffix), stamp)
                (work / _DB_SQLITE).rename(db_file)
            else:
                await _pg_restore(settings, work / _DB_PG)
            restored_photos = work / "photos"
            _aside(data / "photos", stamp)
            if restored_photos.is_dir():
                restored_photos.rename(data / "photos")
            key = work / KEY_FILE
            if key.is_file():
                current = data / KEY_FILE
                if current.is_file() and current.read_bytes() != key.read_bytes():
                    _aside(current, stamp)
                os.chmod(key, 0o600)
                key.replace(current)
    finally:
        if lock is not None:
            lock.release()
    return manifest


def _extract(archive: Path, target: Path) -> None:
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(target, filter="data")


async def _pg_restore(settings: Settings, dump: Path) -> None:
    pg_restore = _tool("pg_restore")
    args, env = _pg_params(make_url(settings.database_url))
    proc = await asyncio.create_subprocess_exec(
        pg_restore,
        *args,
        "--clean",
        "--if-exists",
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
        str(dump),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise BackupError(f"pg_restore failed ({proc.returncode}): {err.decode(errors='replace').strip()[-2000:]}")


async def count_rows(runtime: Runtime, tables: Iterable[str] | None = None) -> dict[str, int]:
    """Row counts of ``tables`` (default: every table of the schema) in the runtime's database."""
    out: dict[str, int] = {}
    async with runtime.engine.connect() as conn:
        for name in tables if tables is not None else _tables():
            table = Base.metadata.tables.get(name)
            if table is None:
                raise BackupError(f"the backup names a table {name!r} this cashout does not have")
            out[name] = int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
    return out


def describe(manifest: dict[str, Any]) -> str:
    """One line about a backup for a person."""
    created = datetime.fromisoformat(manifest["created_at"]).strftime("%Y-%m-%d %H:%M:%S UTC")
    rows = sum(int(v) for v in manifest.get("counts", {}).values())
    return (
        f"{manifest['database']} backup of {created} (cashout {manifest.get('cashout_version')}, migration "
        f"{manifest.get('migration')}): {rows} rows, key file "
        + ("included" if manifest.get("secret_key") else "not included")
    )
