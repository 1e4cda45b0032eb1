"""Platform connections: a seller's account on one platform, with encrypted credentials."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cashout_server.contract import (
    Action,
    AuthExpired,
    Capability,
    ConfigField,
    ConnectionInfo,
    PlatformDescriptor,
    PluginContext,
)
from cashout_server.db.models import Connection, ConnectionState, utcnow
from cashout_server.domain.mail.smtp import mailer_for
from cashout_server.hooks import HookNotImplemented, call_targeted
from cashout_server.ids import new_id
from cashout_server.runtime import Runtime

BASE_URL_SETTING = "base_url"
"""A connection setting every platform accepts: where its API is (tests, proxies, sandboxes)."""


class ConnectionInvalid(ValueError):
    """Settings or credentials that do not fit the platform's descriptor."""


def _check_fields(
    fields: tuple[ConfigField, ...], values: Mapping[str, str], what: str, *, partial: bool
) -> dict[str, str]:
    known = {f.name: f for f in fields}
    extra = set(values) - set(known) - ({BASE_URL_SETTING} if what == "settings" else set())
    if extra:
        raise ConnectionInvalid(
            f"unknown {what} field(s): {', '.join(sorted(extra))}; expected {', '.join(known) or 'none'}"
        )
    out: dict[str, str] = {}
    for name, value in values.items():
        if not isinstance(value, str):
            raise ConnectionInvalid(f"{what}.{name} must be a string")
        field = known.get(name)
        if field is not None and field.choices and value not in field.choices:
            raise ConnectionInvalid(f"{what}.{name} must be one of {', '.join(field.choices)}")
        out[name] = value
    if BASE_URL_SETTING in out and not out[BASE_URL_SETTING].startswith(("http://", "https://")):
        raise ConnectionInvalid("settings.base_url must start with http:// or https://")
    if not partial:
        for field in fields:
            if field.name not in out and field.default is not None:
                out[field.name] = field.default
            if field.required and not out.get(field.name):
                raise ConnectionInvalid(f"{what}.{field.name} ({field.label}) is required")
    return out


def validate_settings(desc: PlatformDescriptor, values: Mapping[str, str], *, partial: bool = False) -> dict[str, str]:
    """Check connection settings against the descriptor, filling defaults.

    Raises:
        ConnectionInvalid: unknown fields, missing required ones, or values outside their choices.
    """
    return _check_fields(desc.setting_fields, values, "settings", partial=partial)


def validate_credentials(
    desc: PlatformDescriptor, values: Mapping[str, str], *, partial: bool = False
) -> dict[str, str]:
    """Check credentials against the descriptor (as :func:`validate_settings`)."""
    return _check_fields(desc.credential_fields, values, "credentials", partial=partial)


async def create_connection(
    session: AsyncSession,
    runtime: Runtime,
    *,
    platform: str,
    name: str,
    settings: Mapping[str, str],
    credentials: Mapping[str, str],
    created_by_id: int | None,
) -> Connection:
    """Create a connection after validating it against the platform's descriptor.

    Raises:
        ConnectionInvalid: the platform is not installed or the fields do not fit it.
    """
    desc = runtime.registry.platforms.get(platform)
    if desc is None:
        installed = ", ".join(sorted(runtime.registry.platforms)) or "none"
        raise ConnectionInvalid(f"no installed plugin serves platform {platform!r} (installed: {installed})")
    clean_settings = validate_settings(desc, settings)
    clean_credentials = validate_credentials(desc, credentials)
    row = Connection(
        public_id=new_id("connection"),
        platform=platform,
        name=name,
        settings=clean_settings,
        credentials_encrypted=runtime.keyring.encrypt(clean_credentials) if clean_credentials else None,
        created_by_id=created_by_id,
        feed_token=secrets.token_urlsafe(32) if Capability.FEED in desc.capabilities else None,
    )
    session.add(row)
    await session.flush()
    return row


async def update_connection(
    session: AsyncSession,
    runtime: Runtime,
    row: Connection,
    *,
    name: str | None = None,
    settings: Mapping[str, str] | None = None,
    credentials: Mapping[str, str] | None = None,
) -> Connection:
    """Change a connection; settings and credentials given are merged over the stored ones."""
    desc = runtime.registry.platforms.get(row.platform)
    if desc is None:
        raise ConnectionInvalid(f"the plugin for platform {row.platform!r} is not installed")
    if name is not None:
        row.name = name
    if settings is not None:
        merged = {**row.settings, **validate_settings(desc, settings, partial=True)}
        row.settings = validate_settings(desc, merged)
    if credentials is not None:
        current = credential_values(runtime, row)
        merged_creds = {**current, **validate_credentials(desc, credentials, partial=True)}
        row.credentials_encrypted = runtime.keyring.encrypt(validate_credentials(desc, merged_creds))
        if row.status == "needs_reauth":
            row.status, row.status_detail = "active", None
    await session.flush()
    return row


def credential_values(runtime: Runtime, row: Connection) -> dict[str, str]:
    """The decrypted credentials of ``row`` (never return these from the API)."""
    return runtime.keyring.decrypt(row.credentials_encrypted) if row.credentials_encrypted else {}


def credential_names(runtime: Runtime, row: Connection) -> list[str]:
    """Which credential fields are set (safe to show)."""
    return sorted(credential_values(runtime, row))


class DbState:
    """The per-connection :class:`~cashout_server.contract.StateStore`, in the database.

    Each write commits at once in its own session: a plugin records "about to send" before it
    sends, and that record must survive a crash that follows.
    """

    def __init__(self, runtime: Runtime, connection_id: int) -> None:
        self._runtime = runtime
        self._connection_id = connection_id

    async def get(self, key: str) -> str | None:
        """Return the stored value or ``None``."""
        async with self._runtime.session() as session:
            row = await session.get(ConnectionState, (self._connection_id, key))
            return row.value if row else None

    async def set(self, key: str, value: str | None) -> None:
        """Store ``value``; ``None`` deletes the key."""
        async with self._runtime.session() as session:
            await session.execute(
                delete(ConnectionState).where(
                    ConnectionState.connection_id == self._connection_id, ConnectionState.key == key
                )
            )
            if value is not None:
                session.add(ConnectionState(connection_id=self._connection_id, key=key, value=value))
            await session.commit()


@asynccontextmanager
async def plugin_context(runtime: Runtime, row: Connection) -> AsyncIterator[PluginContext]:
    """Build the :class:`PluginContext` for one hook call on connection ``row``."""
    desc = runtime.registry.descriptor(row.platform)
    base_url = row.settings.get(BASE_URL_SETTING) or desc.default_base_url or ""
    connection_id = row.id

    async def save_credentials(values: Mapping[str, str]) -> None:
        async with runtime.session() as session:
            stored = await session.get_one(Connection, connection_id)
            merged = {**credential_values(runtime, stored), **dict(values)}
            stored.credentials_encrypted = runtime.keyring.encrypt(merged)
            stored.updated_at = utcnow()
            await session.commit()

    info = ConnectionInfo(
        id=row.public_id,
        platform=row.platform,
        name=row.name,
        settings={k: v for k, v in row.settings.items() if k != BASE_URL_SETTING},
        credentials=credential_values(runtime, row),
    )
    yield PluginContext(
        connection=info,
        http=runtime.http.get(row.public_id, base_url),
        state=DbState(runtime, row.id),
        save_credentials=save_credentials,
        public_base_url=runtime.settings.server.base_url,
        log=logging.getLogger(f"cashout.plugin.{row.platform}"),
        feed_url=feed_url(runtime, row),
        send_email=mailer_for(runtime.settings.mail),
    )


def feed_url(runtime: Runtime, row: Connection) -> str | None:
    """The secret URL the server serves ``row``'s product feed at (feed platforms only)."""
    if not row.feed_token:
        return None
    return f"{runtime.settings.server.base_url}/feeds/{row.public_id}/{row.feed_token}"


_refresh_locks: dict[int, asyncio.Lock] = {}


async def refresh_credentials(runtime: Runtime, row: Connection, ctx: PluginContext) -> bool:
    """Ask the plugin for fresh credentials and store them; one refresh at a time per connection.

    Returns:
        ``True`` when new credentials were stored (``row`` is updated in memory too),
        ``False`` when the plugin has no ``refresh_credentials`` hook.

    Raises:
        ReauthRequired: as raised by the plugin; the caller marks the connection.
    """
    lock = _refresh_locks.setdefault(row.id, asyncio.Lock())
    async with lock:
        async with runtime.session() as session:
            current = await session.scalar(select(Connection.credentials_encrypted).where(Connection.id == row.id))
        if current is not None and current != row.credentials_encrypted:
            # Refreshed by someone else while we waited: a second refresh would spend the old refresh token.
            row.credentials_encrypted = current
            return True
        try:
            fresh = await call_targeted(runtime.registry, row.platform, "refresh_credentials", ctx=ctx)
        except HookNotImplemented:
            return False
        merged = {**credential_values(runtime, row), **{str(k): str(v) for k, v in dict(fresh).items()}}
        token = runtime.keyring.encrypt(merged)
        async with runtime.session() as session:
            stored = await session.get_one(Connection, row.id)
            stored.credentials_encrypted = token
            await session.commit()
        row.credentials_encrypted = token
        return True


async def call_with_refresh(runtime: Runtime, row: Connection, hook: str, **kwargs: Any) -> Any:
    """Call the targeted ``hook`` for connection ``row``; on ``AuthExpired`` refresh once and retry once."""
    async with plugin_context(runtime, row) as ctx:
        try:
            return await call_targeted(runtime.registry, row.platform, hook, ctx=ctx, **kwargs)
        except AuthExpired:
            if not await refresh_credentials(runtime, row, ctx):
                raise
    async with plugin_context(runtime, row) as ctx:
        return await call_targeted(runtime.registry, row.platform, hook, ctx=ctx, **kwargs)


async def get_connection(session: AsyncSession, public_id: str) -> Connection | None:
    """The connection with ``public_id``, if any."""
    return await session.scalar(select(Connection).where(Connection.public_id == public_id))


def effective_approvals(runtime: Runtime, row: Connection) -> dict[str, bool]:
    """Per action, whether it waits for a person: the connection's policy over the plugin's default."""
    desc = runtime.registry.platforms.get(row.platform)
    defaults = desc.approval_required if desc is not None else frozenset()
    policy = row.approval_policy or {}
    return {action.value: bool(policy.get(action.value, action in defaults)) for action in Action}


def public_settings(row: Connection) -> dict[str, Any]:
    """Settings as shown by the API (settings are not secret; credentials live elsewhere)."""
    return dict(row.settings)
