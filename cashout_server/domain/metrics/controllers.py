"""``/api/v1/metrics``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.params import FromQuery, QueryParameter
from sqlalchemy import select

from cashout_server.db.models import Connection, MetricSample
from cashout_server.deps import Db
from cashout_server.domain.accounts.services import get_connection
from cashout_server.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, fetch_page
from cashout_server.problems import ProblemError, not_found


class MetricOut(msgspec.Struct, kw_only=True):
    """One measured value of a listing, post or campaign on one account."""

    connection_id: str
    subject: str
    external_id: str
    name: str
    value: int
    at: datetime
    fetched_at: datetime


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ProblemError(400, f"{name} needs a time zone, e.g. 2026-01-01T00:00:00Z", slug="invalid-request")
    return value


class MetricController(Controller):
    """Views, clicks and spend fetched from the platforms."""

    path = "/api/v1/metrics"
    tags = ["metrics"]

    @get("/", operation_id="listMetrics")
    async def list_metrics(
        self,
        db: Db,
        connection_id: FromQuery[str | None] = None,
        subject: FromQuery[str | None] = None,
        external_id: FromQuery[str | None] = None,
        name: FromQuery[str | None] = None,
        since: Annotated[datetime | None, QueryParameter(description="points at or after this time")] = None,
        until: Annotated[datetime | None, QueryParameter(description="points before this time")] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[MetricOut]:
        """Stored metric points in the order they were stored, filtered by account, subject, name and time."""
        query = select(MetricSample)
        if connection_id is not None:
            connection = await get_connection(db, connection_id)
            if connection is None:
                raise not_found("connection", connection_id)
            query = query.where(MetricSample.connection_id == connection.id)
        if subject is not None:
            query = query.where(MetricSample.subject == subject)
        if external_id is not None:
            query = query.where(MetricSample.external_id == external_id)
        if name is not None:
            query = query.where(MetricSample.name == name)
        start, end = _aware("since", since), _aware("until", until)
        if start is not None:
            query = query.where(MetricSample.at >= start)
        if end is not None:
            query = query.where(MetricSample.at < end)
        page, after = await fetch_page(db, query, MetricSample.id, limit, cursor)
        ids = {row.connection_id for row in page}
        names: dict[int, str] = {}
        if ids:
            found = await db.execute(select(Connection.id, Connection.public_id).where(Connection.id.in_(ids)))
            names = dict(found.all())
        return Page(
            data=[
                MetricOut(
                    connection_id=names[row.connection_id],
                    subject=row.subject,
                    external_id=row.external_id,
                    name=row.name,
                    value=row.value,
                    at=row.at,
                    fetched_at=row.fetched_at,
                )
                for row in page
            ],
            next_cursor=after,
        )
