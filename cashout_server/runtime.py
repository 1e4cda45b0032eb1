"""The long-lived parts the API, CLI and jobs share: settings, database, plugins, keys, photos."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cashout_server.db.engine import create_engine, session_factory
from cashout_server.db.models import Connection
from cashout_server.domain.photos.store import PhotoStore
from cashout_server.http import ClientPool
from cashout_server.plugins import PluginRegistry, create_plugin_manager
from cashout_server.security.crypto import CredentialsUndecryptable, KeyRing, load_keyring
from cashout_server.settings import Settings


class WorkerView(Protocol):
    """What the API may ask of this process's delivery worker."""

    def breaker_states(self) -> dict[str, str]:
        """Platform to its circuit breaker's state."""
        ...


log = logging.getLogger("cashout")


class StartupError(RuntimeError):
    """The server must not start; the message says why and what to do."""


@dataclass
class Runtime:
    """Everything a request, a CLI command or a job needs beyond its own arguments."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    registry: PluginRegistry
    keyring: KeyRing
    photos: PhotoStore
    http: ClientPool
    """Plugins' HTTP clients, one per connection, kept open between calls."""
    delivery_wakers: list[Callable[[], None]] = field(default_factory=list)
    """Delivery workers of this process to wake when something is enqueued."""
    delivery_worker: WorkerView | None = None
    """The delivery worker this server process runs, if any."""

    def wake_delivery(self) -> None:
        """Tell this process's delivery workers that something is due."""
        for wake in list(self.delivery_wakers):
            wake()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A database session (the caller commits)."""
        async with self.sessions() as session:
            yield session

    async def close(self) -> None:
        """Release HTTP and database connections and stop the photo workers."""
        await self.http.aclose()
        await self.photos.close()
        await self.engine.dispose()


def ensure_data_dir(settings: Settings) -> None:
    """Create the data folder private to this user (it holds the database, photos and the key)."""
    if not settings.data_dir.exists():
        settings.data_dir.mkdir(parents=True, mode=0o700)


def build_runtime(settings: Settings, *, registry: PluginRegistry | None = None) -> Runtime:
    """Create the runtime for ``settings``; nothing is connected until first use."""
    ensure_data_dir(settings)
    engine = create_engine(settings.database_url, echo=settings.database.echo, pool_size=settings.database.pool_size)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        registry=registry
        or create_plugin_manager(
            allow=settings.plugins.plugins,
            modules=settings.plugins.plugin_modules,
            trace=settings.plugins.trace_plugins,
        ),
        keyring=load_keyring(settings),
        photos=PhotoStore(settings.data_dir / "photos", settings.photos),
        http=ClientPool(timeout=settings.plugins.http_timeout),
    )


async def check_credentials_decrypt(runtime: Runtime) -> None:
    """Refuse to run when stored platform credentials do not decrypt with the configured keys.

    Raises:
        StartupError: naming the connections affected and how to fix it.
    """
    async with runtime.session() as session:
        rows = (await session.execute(select(Connection.public_id, Connection.credentials_encrypted))).all()
    bad = []
    for public_id, token in rows:
        if token is None:
            continue
        try:
            runtime.keyring.decrypt(token)
        except CredentialsUndecryptable:
            bad.append(public_id)
    if bad:
        raise StartupError(
            f"stored credentials of {len(bad)} connection(s) ({', '.join(bad[:5])}) do not decrypt with the "
            f"keys from {runtime.keyring.source}. Restore the key file from your backup, or set "
            "CASHOUT_SECRET_KEYS to the key(s) they were encrypted with. Refusing to start."
        )
