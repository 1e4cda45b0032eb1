"""Who runs the scheduled jobs: a lease row with a TTL and a fencing token, and SQLite's process lock.

* :class:`Lease` is one row of ``scheduler_leases``. A process takes it when it is free or its
  holder let it run out, renews it every ``lease_seconds / 3``, and gives it up on shutdown.
  Each change of holder increments ``token`` (a fencing token): a job run is only started in a
  transaction that finds the lease still held by us with our token (:meth:`Lease.guard`), so a
  leader that stalled past its lease can never start a run its successor also starts.
* :class:`ProcessLock` is an exclusive ``flock`` on ``<database>.lock``, held for the life of a
  ``cashout serve`` on SQLite: a second server on the same file is refused with a clear message.
"""

from __future__ import annotations

import fcntl
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cashout_server.db.models import SchedulerLease, utcnow
from cashout_server.runtime import Runtime

LEASE_NAME = "scheduler"


def process_name() -> str:
    """This process as ``host:pid`` (what ``job_runs.runner`` and the lease holder show)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """The current holder of the scheduler lease."""

    holder: str
    since: datetime
    expires_at: datetime
    token: int

    @property
    def live(self) -> bool:
        """Whether the lease has not run out."""
        return self.expires_at > utcnow()


async def read_lease(runtime: Runtime) -> LeaseInfo | None:
    """The scheduler lease as stored (``None`` when nobody ever held it)."""
    async with runtime.session() as session:
        row = await session.get(SchedulerLease, LEASE_NAME)
        if row is None:
            return None
        return LeaseInfo(holder=row.holder, since=row.acquired_at, expires_at=row.expires_at, token=row.token)


class Lease:
    """The scheduler lease as seen by one process (see the module docstring)."""

    def __init__(self, runtime: Runtime, *, holder: str, seconds: float) -> None:
        self.runtime = runtime
        self.holder = holder
        self.seconds = seconds
        self.token: int | None = None
        """Our fencing token while we hold the lease."""

    @property
    def held(self) -> bool:
        """Whether this process believes it holds the lease (confirmed at each renewal)."""
        return self.token is not None

    async def acquire(self) -> bool:
        """Take the lease if it is free or has run out.

        Returns:
            Whether we hold it now.
        """
        now = utcnow()
        until = now + timedelta(seconds=self.seconds)
        async with self.runtime.session() as session:
            token = await session.scalar(
                update(SchedulerLease)
                .where(
                    SchedulerLease.name == LEASE_NAME,
                    or_(SchedulerLease.expires_at <= now, SchedulerLease.holder == self.holder),
                )
                .values(holder=self.holder, token=SchedulerLease.token + 1, acquired_at=now, expires_at=until)
                .returning(SchedulerLease.token)
            )
            if token is None:
                exists = await session.scalar(select(SchedulerLease.name).where(SchedulerLease.name == LEASE_NAME))
                if exists is not None:
                    await session.rollback()
                    return False
                session.add(
                    SchedulerLease(name=LEASE_NAME, holder=self.holder, token=1, acquired_at=now, expires_at=until)
                )
                token = 1
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                return False
        self.token = int(token)
        return True

    async def renew(self) -> bool:
        """Extend our lease; ``False`` (and we no longer hold it) when someone else took it."""
        if self.token is None:
            return False
        async with self.runtime.session() as session:
            result = cast(
                "CursorResult[Any]",
                await session.execute(
                    update(SchedulerLease)
                    .where(
                        SchedulerLease.name == LEASE_NAME,
                        SchedulerLease.holder == self.holder,
                        SchedulerLease.token == self.token,
                    )
                    .values(expires_at=utcnow() + timedelta(seconds=self.seconds))
                ),
            )
            await session.commit()
        if result.rowcount != 1:
            self.token = None
            return False
        return True

    async def release(self) -> None:
        """Give the lease up now, so another process takes over at its next tick."""
        if self.token is None:
            return
        token, self.token = self.token, None
        async with self.runtime.session() as session:
            await session.execute(
                update(SchedulerLease)
                .where(
                    SchedulerLease.name == LEASE_NAME,
                    SchedulerLease.holder == self.holder,
                    SchedulerLease.token == token,
                )
                .values(expires_at=utcnow())
            )
            await session.commit()

    async def guard(self, session: AsyncSession) -> bool:
        """In the caller's transaction: whether we still hold the lease (the row stays locked on PostgreSQL).

        A successor's takeover (an ``UPDATE`` of the same row) waits for this transaction, so
        whatever the caller commits with a ``True`` answer is visible to the next leader.
        """
        if self.token is None:
            return False
        found = await session.scalar(
            select(SchedulerLease.token)
            .where(
                SchedulerLease.name == LEASE_NAME,
                SchedulerLease.holder == self.holder,
                SchedulerLease.token == self.token,
                SchedulerLease.expires_at > utcnow(),
            )
            .with_for_update()
        )
        return found is not None


# --- SQLite: one server process per database file ---------------------------------------------


class AlreadyRunning(RuntimeError):
    """Another server process holds the database; the message names it and says what to do."""


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite database URL (``None`` for other databases and in-memory SQLite)."""
    if not database_url.startswith("sqlite"):
        return None
    _, _, rest = database_url.partition(":///")
    path = rest.split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


def lock_path(database: Path) -> Path:
    """The lock file next to a SQLite database."""
    return database.with_name(database.name + ".lock")


class ProcessLock:
    """An exclusive, non-blocking ``flock`` on ``<database>.lock``, held until :meth:`release` or exit.

    The kernel drops the lock when the process dies, however it dies, so a crash never leaves a
    stale lock behind.
    """

    def __init__(self, database: Path) -> None:
        self.path = lock_path(database)
        self._file: IO[str] | None = None

    def acquire(self, *, what: str = "a cashout server") -> None:
        """Take the lock.

        Raises:
            AlreadyRunning: another process holds it.
        """
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise AlreadyRunning(
                f"{owner} is already running on {self.path.with_suffix('')} (lock {self.path}). SQLite allows one "
                f"server process per database, and {what} must not run beside it: stop the other one first, "
                "or move to PostgreSQL to run several processes."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"cashout server pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        """Let the lock go (it also goes when the process exits)."""
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def held_by_other(self) -> str | None:
        """Who holds the lock, if another process does (the lock is not taken)."""
        if not self.path.exists():
            return None
        with self.path.open("a+") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                return handle.read().strip() or "another process"
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return None
