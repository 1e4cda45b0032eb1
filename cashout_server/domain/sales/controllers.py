"""``/api/v1/items/{item_id}/sales``: mark units sold; the item comes down everywhere else."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody
from sqlalchemy import select

from cashout_server.auth import principal_of
from cashout_server.contract import Money
from cashout_server.db.models import Connection, Item, Listing, Sale
from cashout_server.deps import Db, RuntimeDep
from cashout_server.domain.items.services import get_item
from cashout_server.domain.listings.services import load_listing
from cashout_server.domain.sales import services
from cashout_server.pagination import Page
from cashout_server.problems import ProblemError, not_found


class SaleCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Units of the item sold (by default one, price unknown, through no particular listing)."""

    quantity: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1
    price_minor: Annotated[int, msgspec.Meta(ge=0)] | None = None
    """What the buyer paid in total, in minor units of the item's currency."""
    listing_id: Annotated[str, msgspec.Meta(min_length=1, max_length=40)] | None = None
    """The listing it sold through; that listing is marked sold instead of taken down."""
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class SaleOut(msgspec.Struct, kw_only=True):
    """A recorded sale."""

    id: str
    item_id: str
    quantity: int
    price_minor: int | None
    currency: str
    connection_id: str | None
    source: str
    note: str
    created_at: datetime
    quantity_left: int
    """Units of the item left after every sale so far."""


async def _item(db: Db, item_id: str) -> Item:
    item = await get_item(db, item_id)
    if item is None:
        raise not_found("item", item_id)
    return item


async def _outs(db: Db, item: Item, sales: list[Sale]) -> list[SaleOut]:
    ids = {s.connection_id for s in sales if s.connection_id is not None}
    names = (
        dict((await db.execute(select(Connection.id, Connection.public_id).where(Connection.id.in_(ids)))).all())
        if ids
        else {}
    )
    return [
        SaleOut(
            id=s.public_id,
            item_id=item.public_id,
            quantity=s.quantity,
            price_minor=s.price_minor,
            currency=s.currency,
            connection_id=names.get(s.connection_id) if s.connection_id is not None else None,
            source=s.source,
            note=s.note,
            created_at=s.created_at,
            quantity_left=item.quantity,
        )
        for s in sales
    ]


class SaleController(Controller):
    """Sales of one item."""

    path = "/api/v1/items/{item_id:str}/sales"
    tags = ["sales"]

    @get("/", operation_id="listSales")
    async def list_sales(self, db: Db, item_id: FromPath[str]) -> Page[SaleOut]:
        """The item's sales, oldest first."""
        item = await _item(db, item_id)
        return Page(data=await _outs(db, item, await services.sales_of(db, item)), next_cursor=None)

    @post("/", operation_id="recordSale")
    async def record_sale(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        db: Db,
        item_id: FromPath[str],
        data: JSONBody[SaleCreate],
    ) -> SaleOut:
        """Mark units sold. When none are left, every other listing is delisted in the next delivery cycle.

        While units remain, listings on platforms that can update are updated with the new quantity.
        """
        item = await _item(db, item_id)
        listing: Listing | None = None
        if data.listing_id is not None:
            listing = await load_listing(db, data.listing_id)
            if listing is None or listing.item_id != item.id:
                raise ProblemError(422, f"the item has no listing {data.listing_id!r}", slug="invalid-sale")
        price = Money(amount_minor=data.price_minor, currency=item.currency) if data.price_minor is not None else None
        try:
            sale = await services.record_sale(
                db,
                runtime,
                item=item,
                quantity=data.quantity,
                price=price,
                listing=listing,
                source="manual",
                note=data.note,
                user_id=principal_of(request).user_id,
            )
        except services.SaleInvalid as exc:
            raise ProblemError(409, str(exc), slug="invalid-sale") from None
        await db.commit()
        return (await _outs(db, item, [sale]))[0]
