"""``/api/v1/listings``: an item on one connection, publishing and its history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import Row, select

from cashout_server.db.models import Connection, Delivery, Item, Listing, ListingEvent
from cashout_server.deps import Db, RuntimeDep
from cashout_server.domain.accounts.services import get_connection
from cashout_server.domain.delivery.controllers import DeliveryBrief, brief
from cashout_server.domain.delivery.services import latest_deliveries
from cashout_server.domain.items.services import get_item
from cashout_server.domain.listings import services
from cashout_server.domain.listings.services import ListingStatus
from cashout_server.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, encode_cursor
from cashout_server.problems import ProblemError, conflict, not_found

_EDITABLE = services.NOT_LIVE


class ListingOut(msgspec.Struct, kw_only=True):
    """A listing. ``action`` holds what a person must do when ``status`` is ``needs_action``."""

    id: str
    item_id: str
    connection_id: str
    platform: str
    status: ListingStatus
    external_id: str | None
    url: str | None
    manage_url: str | None
    options: dict[str, str]
    action: dict[str, Any] | None
    last_error: str | None
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime
    delivery: DeliveryBrief | None = None
    """The latest delivery to the platform: state, attempts, next attempt, last error."""


class ListingEventOut(msgspec.Struct, kw_only=True):
    """One step in a listing's history."""

    status: ListingStatus
    detail: str
    at: datetime


class ListingCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new (draft) listing of an item on a connection."""

    item_id: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    connection_id: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    options: dict[str, Annotated[str, msgspec.Meta(max_length=500)]] = {}


class ListingUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """New per-listing options (e.g. a category override); only while the listing is not live."""

    options: dict[str, Annotated[str, msgspec.Meta(max_length=500)]]


class ListingConfirm(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A person's confirmation: the URL or id of the listing on the platform."""

    url: Annotated[str, msgspec.Meta(pattern=r"^https?://", max_length=2000)] | None = None
    external_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None


class ListingMarkFailed(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A person checked the platform and the listing is not there."""

    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)] = "not found on the platform"


def listing_out(listing: Listing, delivery: Delivery | None = None) -> ListingOut:
    """The API view of a listing (item and connection loaded) with its latest delivery."""
    return ListingOut(
        id=listing.public_id,
        item_id=listing.item.public_id,
        connection_id=listing.connection.public_id,
        platform=listing.connection.platform,
        status=ListingStatus(listing.status),
        external_id=listing.external_id,
        url=listing.url,
        manage_url=listing.manage_url,
        options=dict(listing.options),
        action=listing.action,
        last_error=listing.last_error,
        published_at=listing.published_at,
        created_at=listing.created_at,
        updated_at=listing.updated_at,
        delivery=brief(delivery) if delivery is not None else None,
    )


_LISTING_COLUMNS = (
    *Listing.__table__.c,
    Item.public_id.label("item_public_id"),
    Connection.public_id.label("connection_public_id"),
    Connection.platform.label("platform"),
)


def _listing_row_out(row: Row[Any], delivery: Delivery | None) -> ListingOut:
    """:func:`listing_out` for a Core row of :data:`_LISTING_COLUMNS`."""
    return ListingOut(
        id=row.public_id,
        item_id=row.item_public_id,
        connection_id=row.connection_public_id,
        platform=row.platform,
        status=ListingStatus(row.status),
        external_id=row.external_id,
        url=row.url,
        manage_url=row.manage_url,
        options=dict(row.options),
        action=row.action,
        last_error=row.last_error,
        published_at=row.published_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        delivery=brief(delivery) if delivery is not None else None,
    )


async def _view(db: Db, listing: Listing) -> ListingOut:
    latest = await latest_deliveries(db, [listing.id])
    return listing_out(listing, latest.get(listing.id))


async def _load(db: Db, listing_id: FromPath[str]) -> Listing:
    listing = await services.load_listing(db, listing_id)
    if listing is None:
        raise not_found("listing", listing_id)
    return listing


def _conflict(exc: services.ListingConflict) -> ProblemError:
    return conflict(str(exc))


class ListingController(Controller):
    """Items on platforms."""

    path = "/api/v1/listings"
    tags = ["listings"]

    @get("/", operation_id="listListings")
    async def list_listings(
        self,
        db: Db,
        item_id: FromQuery[str | None] = None,
        connection_id: FromQuery[str | None] = None,
        platform: FromQuery[str | None] = None,
        status: FromQuery[ListingStatus | None] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[ListingOut]:
        """Listings, filtered by item, connection, platform or status."""
        # One Core select with the item's and account's ids joined in, straight into ListingOut (no ORM
        # hydration, no per-relationship queries); one batched query for the latest deliveries.
        query = (
            select(*_LISTING_COLUMNS)
            .join(Item, Listing.item_id == Item.id)
            .join(Connection, Listing.connection_id == Connection.id)
        )
        if item_id:
            query = query.where(Item.public_id == item_id)
        if connection_id:
            query = query.where(Connection.public_id == connection_id)
        if platform:
            query = query.where(Connection.platform == platform)
        if status is not None:
            query = query.where(Listing.status == status.value)
        query = query.where(Listing.id > decode_cursor(cursor)).order_by(Listing.id).limit(limit + 1)
        rows = (await db.execute(query)).all()
        after = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
        rows = rows[:limit]
        latest = await latest_deliveries(db, [r.id for r in rows])
        return Page(data=[_listing_row_out(r, latest.get(r.id)) for r in rows], next_cursor=after)

    @post("/", operation_id="createListing")
    async def create_listing(self, runtime: RuntimeDep, db: Db, data: JSONBody[ListingCreate]) -> ListingOut:
        """Create a draft listing of an item on a connection (publish it with ``.../publish``)."""
        item = await get_item(db, data.item_id)
        if item is None:
            raise ProblemError(422, f"no item with id {data.item_id!r}", slug="invalid-listing")
        connection = await get_connection(db, data.connection_id)
        if connection is None:
            raise ProblemError(422, f"no connection with id {data.connection_id!r}", slug="invalid-listing")
        try:
            listing = await services.create_listing(db, runtime, item=item, connection=connection, options=data.options)
        except services.ListingConflict as exc:
            raise _conflict(exc) from None
        await db.commit()
        return await _view(db, await _load(db, listing.public_id))

    @get("/{listing_id:str}", operation_id="getListing")
    async def get_listing(self, db: Db, listing_id: FromPath[str]) -> ListingOut:
        """One listing."""
        return await _view(db, await _load(db, listing_id))

    @patch("/{listing_id:str}", operation_id="updateListing")
    async def update_listing(self, db: Db, listing_id: FromPath[str], data: JSONBody[ListingUpdate]) -> ListingOut:
        """Change a listing's options before it is published (or after a rejection)."""
        listing = await _load(db, listing_id)
        if ListingStatus(listing.status) not in _EDITABLE:
            raise conflict(f"the listing is {listing.status}; options can change only before it goes live")
        listing.options = dict(data.options)
        await db.commit()
        return await _view(db, await _load(db, listing_id))

    @get("/{listing_id:str}/history", operation_id="getListingHistory")
    async def history(self, db: Db, listing_id: FromPath[str]) -> Page[ListingEventOut]:
        """Every status the listing went through, oldest first."""
        listing = await _load(db, listing_id)
        rows = await db.scalars(
            select(ListingEvent).where(ListingEvent.listing_id == listing.id).order_by(ListingEvent.id)
        )
        return Page(
            data=[ListingEventOut(status=ListingStatus(e.status), detail=e.detail, at=e.created_at) for e in rows],
            next_cursor=None,
        )

    @post("/{listing_id:str}/publish", operation_id="publishListing", status_code=202)
    async def publish(self, runtime: RuntimeDep, db: Db, listing_id: FromPath[str]) -> ListingOut:
        """Queue the listing for publication; the delivery worker sends it and records the outcome.

        The response is the listing as ``queued`` with its ``delivery`` (``queued``, or
        ``awaiting_approval`` when the account's policy wants a person to approve it). Follow the
        listing: ``published``; ``pending`` (the platform decides later, it is checked again);
        ``needs_action`` (a person posts it by hand with the ready-to-paste copy in ``action``,
        then confirms); ``rejected`` or ``failed`` (see ``last_error``); ``unknown`` (it may have
        been posted: it is never sent again until the platform's status is checked).
        """
        listing = await _load(db, listing_id)
        if listing.connection.status == "needs_reauth":
            raise conflict("the connection needs to be re-authorised; update its credentials first")
        try:
            await services.publish(db, runtime, listing)
        except services.ListingConflict as exc:
            raise _conflict(exc) from None
        await db.commit()
        return await _view(db, await _load(db, listing_id))

    @post("/{listing_id:str}/confirm", operation_id="confirmListing", status_code=200)
    async def confirm(self, db: Db, listing_id: FromPath[str], data: JSONBody[ListingConfirm]) -> ListingOut:
        """Confirm a step a person did on the platform (posted by hand, or taken down by hand)."""
        listing = await _load(db, listing_id)
        try:
            await services.confirm(db, listing, external_id=data.external_id, url=data.url)
        except services.ListingConflict as exc:
            raise _conflict(exc) from None
        return await _view(db, await _load(db, listing_id))

    @post("/{listing_id:str}/mark-failed", operation_id="markListingFailed", status_code=200)
    async def mark_failed(self, db: Db, listing_id: FromPath[str], data: JSONBody[ListingMarkFailed]) -> ListingOut:
        """Settle an unknown outcome as 'not posted' after checking the platform."""
        listing = await _load(db, listing_id)
        try:
            await services.mark_failed(db, listing, reason=data.reason)
        except services.ListingConflict as exc:
            raise _conflict(exc) from None
        return await _view(db, await _load(db, listing_id))

    @post("/{listing_id:str}/delist", operation_id="delistListing", status_code=202)
    async def delist(self, runtime: RuntimeDep, db: Db, listing_id: FromPath[str]) -> ListingOut:
        """Take the listing down through the outbox (or, on assisted platforms, tell a person how).

        A publication that has not been sent yet is cancelled instead.
        """
        listing = await _load(db, listing_id)
        try:
            await services.withdraw_or_delist(db, runtime, listing)
        except services.ListingConflict as exc:
            raise _conflict(exc) from None
        await db.commit()
        return await _view(db, await _load(db, listing_id))

    @delete("/{listing_id:str}", operation_id="deleteListing")
    async def delete_listing(self, db: Db, listing_id: FromPath[str]) -> None:
        """Delete a listing that is not live (draft, rejected, failed or delisted)."""
        listing = await _load(db, listing_id)
        if ListingStatus(listing.status) not in _EDITABLE:
            raise conflict(f"the listing is {listing.status}; delist it first")
        await db.delete(listing)
        await db.commit()
