"""``/api/v1/connections``: accounts on platforms. Credentials are write-only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import func, select

from cashout_server.auth import principal_of
from cashout_server.contract import Action, RateLimit
from cashout_server.db.models import Connection, Listing
from cashout_server.deps import Db, RuntimeDep
from cashout_server.domain.accounts import services
from cashout_server.domain.delivery.services import wake_after_commit
from cashout_server.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, fetch_page
from cashout_server.problems import ProblemError, conflict, not_found

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ConnectionOut(msgspec.Struct, kw_only=True):
    """A connection. ``credentials_set`` names the credential fields stored, never their values."""

    id: str
    platform: str
    name: str
    settings: dict[str, str]
    credentials_set: list[str]
    status: str
    status_detail: str | None
    max_concurrency: int
    """Deliveries to this account at once (the account's override, else the plugin's default)."""
    requests_per_minute: int | None
    """Requests per minute to this account (override, else the plugin's default; null: no limit)."""
    approvals: dict[str, bool]
    """Per action, whether a person must approve it (the account's policy over the plugin's default)."""
    throttled_until: datetime | None
    """The platform asked to wait until then; nothing is sent before."""
    feed_url: str | None
    """Where the platform fetches this account's product feed (feed platforms); it carries a secret."""
    created_at: datetime
    updated_at: datetime


class ConnectionCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new connection; fields are checked against the platform's descriptor."""

    platform: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    name: Name
    settings: dict[str, str] = {}
    credentials: dict[str, str] = {}


class ConnectionUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Changes to a connection; given settings and credentials are merged over the stored ones."""

    name: Name | None = None
    settings: dict[str, str] | None = None
    credentials: dict[str, str] | None = None
    max_concurrency: Annotated[int, msgspec.Meta(ge=1, le=1000)] | msgspec.UnsetType | None = msgspec.UNSET
    """Override the plugin's concurrency for this account; null goes back to the default."""
    requests_per_minute: Annotated[int, msgspec.Meta(ge=1, le=100000)] | msgspec.UnsetType | None = msgspec.UNSET
    """Override the plugin's rate for this account; null goes back to the default."""
    approvals: dict[Action, bool | None] | None = None
    """Per action, require a person's approval (true) or not (false); null removes the override."""


def connection_out(runtime: RuntimeDep, row: Connection) -> ConnectionOut:
    """The API view of a connection (no secret ever)."""
    desc = runtime.registry.platforms.get(row.platform)
    default_limit = desc.rate_limit if desc is not None else RateLimit()
    return ConnectionOut(
        id=row.public_id,
        platform=row.platform,
        name=row.name,
        settings=services.public_settings(row),
        credentials_set=services.credential_names(runtime, row),
        status=row.status,
        status_detail=row.status_detail,
        max_concurrency=row.max_concurrency or default_limit.max_concurrency,
        requests_per_minute=row.requests_per_minute or default_limit.requests_per_minute,
        approvals=services.effective_approvals(runtime, row),
        throttled_until=row.throttled_until,
        feed_url=services.feed_url(runtime, row),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _get(db: Db, connection_id: FromPath[str]) -> Connection:
    row = await services.get_connection(db, connection_id)
    if row is None:
        raise not_found("connection", connection_id)
    return row


class ConnectionController(Controller):
    """Accounts on platforms."""

    path = "/api/v1/connections"
    tags = ["connections"]

    @get("/", operation_id="listConnections")
    async def list_connections(
        self,
        runtime: RuntimeDep,
        db: Db,
        platform: FromQuery[str | None] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[ConnectionOut]:
        """Connections, optionally of one platform."""
        query = select(Connection)
        if platform:
            query = query.where(Connection.platform == platform)
        rows, after = await fetch_page(db, query, Connection.id, limit, cursor)
        return Page(data=[connection_out(runtime, r) for r in rows], next_cursor=after)

    @post("/", operation_id="createConnection")
    async def create_connection(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep, db: Db, data: JSONBody[ConnectionCreate]
    ) -> ConnectionOut:
        """Connect an account on a platform."""
        try:
            row = await services.create_connection(
                db,
                runtime,
                platform=data.platform,
                name=data.name,
                settings=data.settings,
                credentials=data.credentials,
                created_by_id=principal_of(request).user_id,
            )
        except services.ConnectionInvalid as exc:
            raise ProblemError(422, str(exc), slug="invalid-connection") from None
        await db.commit()
        return connection_out(runtime, row)

    @get("/{connection_id:str}", operation_id="getConnection")
    async def get_connection(self, runtime: RuntimeDep, db: Db, connection_id: FromPath[str]) -> ConnectionOut:
        """One connection."""
        return connection_out(runtime, await _get(db, connection_id))

    @patch("/{connection_id:str}", operation_id="updateConnection")
    async def update_connection(
        self, runtime: RuntimeDep, db: Db, connection_id: FromPath[str], data: JSONBody[ConnectionUpdate]
    ) -> ConnectionOut:
        """Rename a connection, change its settings or credentials, its pacing, or its approval policy."""
        row = await _get(db, connection_id)
        try:
            await services.update_connection(
                db, runtime, row, name=data.name, settings=data.settings, credentials=data.credentials
            )
            if data.max_concurrency is not msgspec.UNSET:
                row.max_concurrency = data.max_concurrency
            if data.requests_per_minute is not msgspec.UNSET:
                row.requests_per_minute = data.requests_per_minute
            if data.approvals is not None:
                policy = dict(row.approval_policy or {})
                for action, required in data.approvals.items():
                    if required is None:
                        policy.pop(action.value, None)
                    else:
                        policy[action.value] = required
                row.approval_policy = policy
            wake_after_commit(db, runtime)
        except services.ConnectionInvalid as exc:
            raise ProblemError(422, str(exc), slug="invalid-connection") from None
        await db.commit()
        return connection_out(runtime, row)

    @delete("/{connection_id:str}", operation_id="deleteConnection")
    async def delete_connection(self, db: Db, connection_id: FromPath[str]) -> None:
        """Remove a connection that has no listings."""
        row = await _get(db, connection_id)
        count = await db.scalar(select(func.count()).select_from(Listing).where(Listing.connection_id == row.id))
        if count:
            raise conflict(f"the connection has {count} listing(s); delete or delist them first")
        await db.delete(row)
        await db.commit()
