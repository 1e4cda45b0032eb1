"""``/feeds/{connection_id}/{token}``: a connection's product feed, fetched by its platform.

The platform cannot send our API token, so the URL carries a per-connection secret instead
(compared in constant time). The plugin renders the document from the listings that should be
on the platform now; the core decides which those are.
"""

from __future__ import annotations

import hmac
import logging

from litestar import Controller, Response, get
from litestar.params import FromPath
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from cashout_server.contract import Capability, FeedDocument
from cashout_server.db.models import Connection, Listing
from cashout_server.deps import Db, RuntimeDep
from cashout_server.domain.accounts.services import plugin_context
from cashout_server.domain.listings.services import ListingStatus, build_request
from cashout_server.hooks import call_targeted
from cashout_server.problems import ProblemError, not_found

log = logging.getLogger("cashout.feeds")

FEED_STATUSES = (ListingStatus.QUEUED, ListingStatus.PUBLISHING, ListingStatus.PENDING, ListingStatus.PUBLISHED)
"""Listings in these states are in the feed: on the platform, or on their way there."""


class FeedController(Controller):
    """Feeds platforms fetch; authenticated by the secret in the URL, not by a token."""

    path = "/feeds"
    tags = ["feeds"]

    @get("/{connection_id:str}/{token:str}", operation_id="getFeed", security=[{}])
    async def feed(
        self, runtime: RuntimeDep, db: Db, connection_id: FromPath[str], token: FromPath[str]
    ) -> Response[bytes]:
        """The connection's product feed (for example a catalog CSV), as its plugin renders it."""
        connection = await db.scalar(select(Connection).where(Connection.public_id == connection_id))
        if (
            connection is None
            or not connection.feed_token
            or not hmac.compare_digest(connection.feed_token.encode(), token.encode())
        ):
            raise not_found("feed", connection_id)
        if not runtime.registry.supports(connection.platform, Capability.FEED):
            raise not_found("feed", connection_id)
        listings = await db.scalars(
            select(Listing)
            .where(
                Listing.connection_id == connection.id,
                Listing.status.in_([s.value for s in FEED_STATUSES]),
            )
            .options(selectinload(Listing.item), selectinload(Listing.connection))
            .order_by(Listing.id)
        )
        requests = [await build_request(db, runtime, listing, listing.item) for listing in listings]
        async with plugin_context(runtime, connection) as ctx:
            try:
                document = await call_targeted(
                    runtime.registry, connection.platform, "render_feed", ctx=ctx, listings=requests
                )
            except Exception:
                log.exception("rendering the feed of %s failed", connection.public_id)
                raise ProblemError(500, "the plugin could not render the feed", slug="feed-failed") from None
        if not isinstance(document, FeedDocument):
            raise ProblemError(500, "the plugin returned no feed document", slug="feed-failed")
        return Response(
            content=document.body,
            media_type=document.content_type,
            headers={
                "Content-Disposition": f'inline; filename="{document.filename}"',
                "Cache-Control": "no-store",
            },
        )
