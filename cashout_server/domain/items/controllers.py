"""``/api/v1/items``."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy import Row, func, select

from cashout_server.auth import principal_of
from cashout_server.db.models import Item, Listing
from cashout_server.deps import Db, RuntimeDep
from cashout_server.domain.items import services
from cashout_server.domain.items.schemas import Condition, ItemCreate, ItemOut, ItemStatus, ItemUpdate
from cashout_server.domain.listings.services import LISTED_FIELDS, queue_updates
from cashout_server.domain.sales.services import SaleInvalid, record_sale
from cashout_server.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, encode_cursor
from cashout_server.problems import ProblemError, conflict, not_found

_LIVE = ("published", "pending", "publishing", "unknown", "needs_action")


_ITEM_COLUMNS = tuple(Item.__table__.c)


def item_out(item: Item | Row[Any], photo_count: int) -> ItemOut:
    """The API view of an item: a loaded :class:`Item`, or a Core row of :data:`_ITEM_COLUMNS` (lists)."""
    return ItemOut(
        id=item.public_id,
        sku=item.sku,
        title=item.title,
        description=item.description,
        condition=Condition(item.condition),
        category=item.category,
        brand=item.brand,
        identifiers=dict(item.identifiers),
        quantity=item.quantity,
        currency=item.currency,
        cost_basis_minor=item.cost_basis_minor,
        list_price_minor=item.list_price_minor,
        floor_price_minor=item.floor_price_minor,
        facts=dict(item.facts or {}),
        negotiation=dict(item.negotiation or {}),
        status=ItemStatus(item.status),
        photo_count=photo_count,
        created_at=item.created_at,
        updated_at=item.updated_at,
    )


async def load_item(db: Db, item_id: FromPath[str]) -> Item:
    """The item or a 404 problem."""
    item = await services.get_item(db, item_id)
    if item is None:
        raise not_found("item", item_id)
    return item


class ItemController(Controller):
    """Things the seller owns and may sell."""

    path = "/api/v1/items"
    tags = ["items"]

    @get("/", operation_id="listItems")
    async def list_items(
        self,
        db: Db,
        status: FromQuery[ItemStatus | None] = None,
        category: FromQuery[str | None] = None,
        sku: FromQuery[str | None] = None,
        q: Annotated[
            str | None, QueryParameter(description="words that must appear in the title", max_length=200)
        ] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[ItemOut]:
        """Items, oldest first, filtered by status, category, SKU or title words."""
        # Core columns straight into ItemOut: no ORM identity map or attribute instrumentation per row.
        query = select(*_ITEM_COLUMNS)
        if status is not None:
            query = query.where(Item.status == status.value)
        if category:
            query = query.where(Item.category == category)
        if sku:
            query = query.where(Item.sku == sku)
        for word in (q or "").split():
            escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(func.lower(Item.title).like(f"%{escaped}%", escape="\\"))
        query = query.where(Item.id > decode_cursor(cursor)).order_by(Item.id).limit(limit + 1)
        page = (await db.execute(query)).all()
        after = encode_cursor(page[limit - 1].id) if len(page) > limit else None
        page = page[:limit]
        counts = await services.photo_counts(db, [r.id for r in page])
        return Page(data=[item_out(r, counts.get(r.id, 0)) for r in page], next_cursor=after)

    @post("/", operation_id="createItem")
    async def create_item(self, db: Db, data: JSONBody[ItemCreate]) -> ItemOut:
        """Add an item."""
        try:
            item = await services.create_item(db, data)
        except services.ItemInvalid as exc:
            raise ProblemError(422, str(exc), slug="invalid-item") from None
        await db.commit()
        return item_out(item, 0)

    @get("/{item_id:str}", operation_id="getItem")
    async def get_item(self, db: Db, item_id: FromPath[str]) -> ItemOut:
        """One item."""
        item = await load_item(db, item_id)
        counts = await services.photo_counts(db, [item.id])
        return item_out(item, counts.get(item.id, 0))

    @patch("/{item_id:str}", operation_id="updateItem")
    async def update_item(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        db: Db,
        item_id: FromPath[str],
        data: JSONBody[ItemUpdate],
    ) -> ItemOut:
        """Change an item; only the fields sent change.

        Live listings on platforms that can update are updated through the outbox when a field
        they show changes (a reprice, a new title). ``status: sold`` records a sale of every unit
        left, which takes the item down everywhere (see ``POST /items/{id}/sales``).
        """
        item = await load_item(db, item_id)
        selling = data.status is ItemStatus.SOLD and item.status != ItemStatus.SOLD.value
        if selling:
            data = msgspec.structs.replace(data, status=msgspec.UNSET)
        before = {name: getattr(item, name) for name in (*LISTED_FIELDS, "list_price_minor", "currency")}
        try:
            await services.update_item(db, item, data)
            if selling and item.quantity > 0:
                await record_sale(
                    db,
                    runtime,
                    item=item,
                    quantity=item.quantity,
                    price=None,
                    listing=None,
                    source="manual",
                    note="marked sold",
                    user_id=principal_of(request).user_id,
                )
            elif selling:
                item.status = ItemStatus.SOLD.value
            changed = sorted(name for name, value in before.items() if getattr(item, name) != value)
            if changed and not selling:
                await queue_updates(db, runtime, item, reason=f"changed: {', '.join(changed)}")
        except (services.ItemInvalid, SaleInvalid) as exc:
            await db.rollback()
            raise ProblemError(422, str(exc), slug="invalid-item") from None
        await db.commit()
        counts = await services.photo_counts(db, [item.id])
        return item_out(item, counts.get(item.id, 0))

    @delete("/{item_id:str}", operation_id="deleteItem")
    async def delete_item(self, db: Db, item_id: FromPath[str]) -> None:
        """Delete an item that is not live anywhere (its photos and past listings go with it)."""
        item = await load_item(db, item_id)
        live = await db.scalar(
            select(func.count()).select_from(Listing).where(Listing.item_id == item.id, Listing.status.in_(_LIVE))
        )
        if live:
            raise conflict(f"the item has {live} live listing(s); delist them first")
        await db.delete(item)
        await db.commit()
