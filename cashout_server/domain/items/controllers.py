"""``/api/v1/items``."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy import func, select

from cashout_server.db.models import Item, Listing
from cashout_server.deps import Db
from cashout_server.domain.items import services
from cashout_server.domain.items.schemas import Condition, ItemCreate, ItemOut, ItemStatus, ItemUpdate
from cashout_server.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, fetch_page
from cashout_server.problems import ProblemError, conflict, not_found

_LIVE = ("published", "pending", "publishing", "unknown", "needs_action")


def item_out(item: Item, photo_count: int) -> ItemOut:
    """The API view of an item."""
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
        query = select(Item)
        if status is not None:
            query = query.where(Item.status == status.value)
        if category:
            query = query.where(Item.category == category)
        if sku:
            query = query.where(Item.sku == sku)
        for word in (q or "").split():
            escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(func.lower(Item.title).like(f"%{escaped}%", escape="\\"))
        page, after = await fetch_page(db, query, Item.id, limit, cursor)
        counts = await services.photo_counts(db, [i.id for i in page])
        return Page(
            data=[item_out(i, counts.get(i.id, 0)) for i in page],
            next_cursor=after,
        )

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
    async def update_item(self, db: Db, item_id: FromPath[str], data: JSONBody[ItemUpdate]) -> ItemOut:
        """Change an item; only the fields sent change."""
        item = await load_item(db, item_id)
        try:
            await services.update_item(db, item, data)
        except services.ItemInvalid as exc:
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
