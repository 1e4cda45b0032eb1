"""Sales: ``/api/v1/items/{item_id}/sales`` (mark units sold), ``/api/v1/items/{item_id}/profit``, ``/api/v1/sales``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select

from cashout_server.auth import principal_of
from cashout_server.contract import Money
from cashout_server.db.models import Connection, Item, Lead, Listing, Sale
from cashout_server.deps import Db, RuntimeDep
from cashout_server.domain.items.services import get_item
from cashout_server.domain.listings.services import load_listing
from cashout_server.domain.sales import services
from cashout_server.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, fetch_page
from cashout_server.problems import ProblemError, not_found

Name = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_]{1,40}$", description="lower-case name, e.g. facebook, cash")]
Minor = Annotated[int, msgspec.Meta(ge=0, le=10**12, description="amount in minor units (cents)")]


class SaleCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Units of the item sold (by default one, price unknown, through no particular listing)."""

    quantity: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1
    price_minor: Minor | None = None
    """What the buyer paid in total, in minor units of the item's currency."""
    listing_id: Annotated[str, msgspec.Meta(min_length=1, max_length=40)] | None = None
    """The listing it sold through; that listing is marked sold instead of taken down."""
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    platform: Name | None = None
    """Where the buyer came from (default: the listing's platform, else the lead's)."""
    lead_id: Annotated[str, msgspec.Meta(min_length=1, max_length=40)] | None = None
    """The buyer's lead (``led_...``); it is marked won."""
    fees_minor: Minor | None = None
    """Platform and payment fees; computed from the platform's fee model when a listing is given."""
    shipping_minor: Minor | None = None
    """Shipping paid by the seller."""
    payment_method: Name | None = None
    """``cash``, ``stripe``, ``platform``, ..."""
    payment_ref: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    """The payment's id (a Stripe PaymentIntent, a platform order)."""


class SaleOut(msgspec.Struct, kw_only=True):
    """A recorded sale (``null`` amounts are unknown, not zero)."""

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
    platform: str | None
    lead_id: str | None
    fees_minor: int | None
    shipping_minor: int | None
    payment_method: str | None
    payment_ref: str | None


class SaleProfitOut(msgspec.Struct, kw_only=True):
    """What one sale earned."""

    sale_id: str
    created_at: datetime
    quantity: int
    price_minor: int | None
    fees_minor: int | None
    shipping_minor: int | None
    cost_basis_minor: int | None
    profit_minor: int | None
    unknown: list[str]
    """Parts nobody recorded (``price``, ``fees``, ``shipping``, ``cost_basis``); ``profit_minor`` is then null."""


class ProfitOut(msgspec.Struct, kw_only=True):
    """An item's profit over all its sales: revenue - fees - shipping - cost basis.

    A total is ``null`` when it is unknown for at least one sale; ``unknown`` names those parts.
    """

    item_id: str
    currency: str
    quantity_sold: int
    revenue_minor: int | None
    fees_minor: int | None
    shipping_minor: int | None
    cost_basis_minor: int | None
    """The item's cost basis (per unit) times the units sold."""
    profit_minor: int | None
    unknown: list[str]
    sales: list[SaleProfitOut]


async def _item(db: Db, item_id: str) -> Item:
    item = await get_item(db, item_id)
    if item is None:
        raise not_found("item", item_id)
    return item


async def _outs(db: Db, sales: list[Sale], items: dict[int, Item] | None = None) -> list[SaleOut]:
    items = dict(items or {})
    missing = {s.item_id for s in sales} - set(items)
    if missing:
        items.update({i.id: i for i in await db.scalars(select(Item).where(Item.id.in_(missing)))})
    connection_ids = {s.connection_id for s in sales if s.connection_id is not None}
    connections = (
        dict(
            (
                await db.execute(select(Connection.id, Connection.public_id).where(Connection.id.in_(connection_ids)))
            ).all()
        )
        if connection_ids
        else {}
    )
    lead_ids = {s.lead_id for s in sales if s.lead_id is not None}
    leads = (
        dict((await db.execute(select(Lead.id, Lead.public_id).where(Lead.id.in_(lead_ids)))).all()) if lead_ids else {}
    )
    return [
        SaleOut(
            id=s.public_id,
            item_id=items[s.item_id].public_id,
            quantity=s.quantity,
            price_minor=s.price_minor,
            currency=s.currency,
            connection_id=connections.get(s.connection_id) if s.connection_id is not None else None,
            source=s.source,
            note=s.note,
            created_at=s.created_at,
            quantity_left=items[s.item_id].quantity,
            platform=s.platform,
            lead_id=leads.get(s.lead_id) if s.lead_id is not None else None,
            fees_minor=s.fees_minor,
            shipping_minor=s.shipping_minor,
            payment_method=s.payment_method,
            payment_ref=s.payment_ref,
        )
        for s in sales
    ]


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ProblemError(422, f"{name} needs a time zone (e.g. 2026-01-31T00:00:00Z)", slug="invalid-request")
    return value


class SaleController(Controller):
    """Sales: of one item, all of them, and what they earned."""

    path = "/api/v1"
    tags = ["sales"]

    @get("/sales", operation_id="listAllSales")
    async def list_all_sales(
        self,
        db: Db,
        platform: FromQuery[str | None] = None,
        item_id: FromQuery[str | None] = None,
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[SaleOut]:
        """Every sale, oldest first, by platform, item, and time (``since`` inclusive, ``until`` exclusive)."""
        item_pk: int | None = None
        if item_id:
            item_pk = (await _item(db, item_id)).id
        query = services.sales_query(
            platform=platform or None,
            item_id=item_pk,
            since=_aware("since", since),
            until=_aware("until", until),
        )
        rows, after = await fetch_page(db, query, Sale.id, limit, cursor)
        return Page(data=await _outs(db, rows), next_cursor=after)

    @get("/items/{item_id:str}/sales", operation_id="listSales")
    async def list_sales(self, db: Db, item_id: FromPath[str]) -> Page[SaleOut]:
        """The item's sales, oldest first."""
        item = await _item(db, item_id)
        return Page(data=await _outs(db, await services.sales_of(db, item), {item.id: item}), next_cursor=None)

    @get("/items/{item_id:str}/profit", operation_id="getItemProfit")
    async def profit(self, db: Db, item_id: FromPath[str]) -> ProfitOut:
        """What the item's sales earned: revenue - platform fees - shipping - cost basis, in total and per sale.

        Parts nobody recorded are ``null`` and named in ``unknown``; they are never counted as zero.
        """
        item = await _item(db, item_id)
        result = services.item_profit(item, await services.sales_of(db, item))
        return ProfitOut(
            item_id=item.public_id,
            currency=result.currency,
            quantity_sold=result.quantity_sold,
            revenue_minor=result.revenue_minor,
            fees_minor=result.fees_minor,
            shipping_minor=result.shipping_minor,
            cost_basis_minor=result.cost_basis_minor,
            profit_minor=result.profit_minor,
            unknown=list(result.unknown),
            sales=[
                SaleProfitOut(
                    sale_id=row.sale.public_id,
                    created_at=row.sale.created_at,
                    quantity=row.sale.quantity,
                    price_minor=row.sale.price_minor,
                    fees_minor=row.sale.fees_minor,
                    shipping_minor=row.sale.shipping_minor,
                    cost_basis_minor=row.cost_basis_minor,
                    profit_minor=row.profit_minor,
                    unknown=list(row.unknown),
                )
                for row in result.sales
            ],
        )

    @post("/items/{item_id:str}/sales", operation_id="recordSale")
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
        A lead given is marked won. Without ``fees_minor``, a sale through a listing gets the fees
        its platform's fee model says.
        """
        item = await _item(db, item_id)
        listing: Listing | None = None
        if data.listing_id is not None:
            listing = await load_listing(db, data.listing_id)
            if listing is None or listing.item_id != item.id:
                raise ProblemError(422, f"the item has no listing {data.listing_id!r}", slug="invalid-sale")
        lead: Lead | None = None
        if data.lead_id is not None:
            lead = await db.scalar(select(Lead).where(Lead.public_id == data.lead_id))
            if lead is None:
                raise not_found("lead", data.lead_id)
            if lead.item_id is not None and lead.item_id != item.id:
                raise ProblemError(422, f"the lead {data.lead_id!r} is about another item", slug="invalid-sale")
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
                platform=data.platform,
                lead=lead,
                fees_minor=data.fees_minor,
                shipping_minor=data.shipping_minor,
                payment_method=data.payment_method,
                payment_ref=data.payment_ref,
            )
        except services.SaleInvalid as exc:
            raise ProblemError(409, str(exc), slug="invalid-sale") from None
        await db.commit()
        return (await _outs(db, [sale], {item.id: item}))[0]
