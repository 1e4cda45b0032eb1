"""Sales: units of an item sold, and what a sale sets off on every other platform.

When the last unit sells, every other listing of the item is taken down through the outbox in
the same transaction as the sale, so the takedowns cannot be lost and go out in the next
delivery cycle. While units remain, listings on platforms that can update are updated instead.

A sale also records what it earned: price, platform fees (computed from the platform's
:class:`~cashout_server.contract.FeeModel` when not given), shipping and how it was paid, and
the buyer's lead, which is marked won. :func:`item_profit` adds the parts up per item; a part
nobody recorded is reported as unknown, never counted as zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from cashout_server.contract import Money
from cashout_server.db.models import Connection, Item, Lead, LeadEvent, Listing, Sale
from cashout_server.domain.delivery.services import DeliveryState, cancel, open_deliveries
from cashout_server.domain.listings.services import ListingStatus, queue_updates, record, take_down
from cashout_server.ids import new_id
from cashout_server.runtime import Runtime


class SaleInvalid(ValueError):
    """The sale cannot be recorded as asked; the message says why."""


SOURCES = ("manual", "platform", "payment")
WON = "won"
"""The state of a lead whose buyer bought the item."""


async def platform_fee(session: AsyncSession, runtime: Runtime, listing: Listing, price: Money) -> int | None:
    """The platform's fee for selling at ``price`` through ``listing``, from its plugin's fee model.

    Returns:
        The fee in minor units of the price's currency, or ``None`` when it cannot be known (the
        plugin is not installed, or its fixed fees are in another currency).
    """
    platform = await session.scalar(select(Connection.platform).where(Connection.id == listing.connection_id))
    descriptor = runtime.registry.platforms.get(platform) if platform is not None else None
    if descriptor is None:
        return None
    model = descriptor.fees
    if model.currency != price.currency and (model.fixed_minor or model.minimum_minor):
        return None
    return model.fee_for(price).amount_minor


async def record_sale(
    session: AsyncSession,
    runtime: Runtime,
    *,
    item: Item,
    quantity: int,
    price: Money | None,
    listing: Listing | None,
    source: str,
    note: str = "",
    user_id: int | None = None,
    platform: str | None = None,
    lead: Lead | None = None,
    fees_minor: int | None = None,
    shipping_minor: int | None = None,
    payment_method: str | None = None,
    payment_ref: str | None = None,
) -> Sale:
    """Record that ``quantity`` units of ``item`` sold, and delist or update elsewhere (the caller commits).

    This is the one way a sale is recorded: by hand, by a plugin's ``Sold``, by the Stripe webhook.

    Args:
        session: the session; the sale, the item's new quantity and the outbox rows commit together.
        runtime: the runtime.
        item: the item sold.
        quantity: units sold (at least 1, at most what is left).
        price: what the buyer paid in total, when known.
        listing: the listing it sold through, when known (it is not taken down; it is marked sold).
        source: ``manual``, ``platform`` or ``payment``.
        note: free text kept with the sale.
        user_id: who recorded it.
        platform: where the buyer came from (default: the listing's platform, else the lead's).
        lead: the buyer's lead; it becomes ``won`` and gets a ``sale`` event.
        fees_minor: platform and payment fees; when ``None`` and the sale went through a listing,
            computed from the platform's fee model (left unknown otherwise).
        shipping_minor: shipping paid by the seller, when known.
        payment_method: ``cash``, ``stripe``, ``platform``, ... as the seller records it.
        payment_ref: the payment's id (a Stripe PaymentIntent, a platform order).

    Returns:
        The sale.

    Raises:
        SaleInvalid: nothing left to sell, a quantity outside 1..left, a price in another currency,
            negative fees or shipping, or a lead about another item.
    """
    if source not in SOURCES:
        raise SaleInvalid(f"source must be one of {', '.join(SOURCES)}")
    if fees_minor is not None and fees_minor < 0:
        raise SaleInvalid("fees_minor must not be negative")
    if shipping_minor is not None and shipping_minor < 0:
        raise SaleInvalid("shipping_minor must not be negative")
    if lead is not None and lead.item_id is not None and lead.item_id != item.id:
        raise SaleInvalid("the lead is about another item")
    # Two sales of the last unit at once (two webhooks, a webhook and a person) must not both pass
    # the check below: lock the item's row (PostgreSQL; SQLite has one writer anyway).
    await session.flush()
    await session.refresh(item, attribute_names=["quantity", "status"], with_for_update=True)
    if item.quantity < 1:
        raise SaleInvalid("the item is already sold out")
    if not 1 <= quantity <= item.quantity:
        raise SaleInvalid(f"quantity must be between 1 and {item.quantity} (the units left)")
    if price is not None and price.currency != item.currency:
        raise SaleInvalid(f"the price's currency {price.currency} is not the item's ({item.currency})")
    if listing is not None and platform is None:
        platform = await session.scalar(select(Connection.platform).where(Connection.id == listing.connection_id))
    if lead is not None and platform is None:
        platform = lead.platform
    if fees_minor is None and listing is not None and price is not None:
        fees_minor = await platform_fee(session, runtime, listing, price)
    sale = Sale(
        public_id=new_id("sale"),
        item_id=item.id,
        connection_id=listing.connection_id if listing is not None else None,
        quantity=quantity,
        price_minor=price.amount_minor if price is not None else None,
        currency=item.currency,
        source=source,
        note=note,
        created_by_id=user_id,
        platform=platform,
        lead_id=lead.id if lead is not None else None,
        fees_minor=fees_minor,
        shipping_minor=shipping_minor,
        payment_method=payment_method,
        payment_ref=payment_ref,
    )
    session.add(sale)
    item.quantity -= quantity
    listings = list(
        await session.scalars(
            select(Listing)
            .where(Listing.item_id == item.id)
            .options(selectinload(Listing.item), selectinload(Listing.connection))
            .order_by(Listing.id)
        )
    )
    if item.quantity == 0:
        item.status = "sold"
        for other in listings:
            if listing is not None and other.id == listing.id:
                for waiting in await open_deliveries(session, other):
                    if waiting.state != DeliveryState.IN_FLIGHT:
                        await cancel(session, waiting, reason="the item sold here")
                if ListingStatus(other.status) is not ListingStatus.SOLD:
                    await record(session, other, ListingStatus.SOLD, f"sold here ({quantity} unit(s))")
                continue
            await take_down(session, runtime, other, reason="the item sold", after_sale=True)
    else:
        await queue_updates(session, runtime, item, reason=f"{item.quantity} left after a sale")
    await session.flush()
    if lead is not None:
        lead.state = WON
        if lead.item_id is None:
            lead.item_id = item.id
        session.add(
            LeadEvent(
                lead_id=lead.id,
                kind="sale",
                detail=f"bought {quantity} unit(s)" + (f" for {price.format()}" if price is not None else ""),
                data={
                    "sale_id": sale.public_id,
                    "quantity": quantity,
                    "price_minor": sale.price_minor,
                    "currency": sale.currency,
                    "payment_method": payment_method,
                },
            )
        )
        await session.flush()
    return sale


async def sales_of(session: AsyncSession, item: Item) -> list[Sale]:
    """The item's sales, oldest first."""
    return list(await session.scalars(select(Sale).where(Sale.item_id == item.id).order_by(Sale.id)))


def sales_query(
    *,
    platform: str | None = None,
    item_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[Sale]:
    """Sales filtered by platform, item and time (``since`` inclusive, ``until`` exclusive), unordered."""
    query = select(Sale)
    if platform is not None:
        query = query.where(Sale.platform == platform)
    if item_id is not None:
        query = query.where(Sale.item_id == item_id)
    if since is not None:
        query = query.where(Sale.created_at >= since)
    if until is not None:
        query = query.where(Sale.created_at < until)
    return query


@dataclass(frozen=True, slots=True)
class SaleProfit:
    """What one sale earned; ``None`` parts are unknown (nobody recorded them)."""

    sale: Sale
    cost_basis_minor: int | None
    profit_minor: int | None
    unknown: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ItemProfit:
    """What an item's sales earned in total; a total is ``None`` when any sale's part is unknown."""

    currency: str
    quantity_sold: int
    revenue_minor: int | None
    fees_minor: int | None
    shipping_minor: int | None
    cost_basis_minor: int | None
    profit_minor: int | None
    unknown: tuple[str, ...]
    """Which parts are unknown for at least one sale: ``price``, ``fees``, ``shipping``, ``cost_basis``."""
    sales: list[SaleProfit] = field(default_factory=list)


def _total(values: list[int | None]) -> int | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def item_profit(item: Item, sales: list[Sale]) -> ItemProfit:
    """Profit of ``item`` over ``sales``: price - fees - shipping - cost basis.

    The item's ``cost_basis_minor`` is what one unit cost; a sale of ``n`` units carries ``n`` times it.
    """
    rows = []
    for sale in sales:
        cost = item.cost_basis_minor * sale.quantity if item.cost_basis_minor is not None else None
        parts = {
            "price": sale.price_minor,
            "fees": sale.fees_minor,
            "shipping": sale.shipping_minor,
            "cost_basis": cost,
        }
        unknown = tuple(name for name, value in parts.items() if value is None)
        profit = None
        if not unknown:
            profit = (sale.price_minor or 0) - (sale.fees_minor or 0) - (sale.shipping_minor or 0) - (cost or 0)
        rows.append(SaleProfit(sale=sale, cost_basis_minor=cost, profit_minor=profit, unknown=unknown))
    revenue = _total([s.price_minor for s in sales])
    fees = _total([s.fees_minor for s in sales])
    shipping = _total([s.shipping_minor for s in sales])
    cost_basis = _total([r.cost_basis_minor for r in rows])
    unknown = tuple(
        name for name in ("price", "fees", "shipping", "cost_basis") if any(name in r.unknown for r in rows)
    )
    profit = None
    if not unknown:
        profit = (revenue or 0) - (fees or 0) - (shipping or 0) - (cost_basis or 0)
    return ItemProfit(
        currency=item.currency,
        quantity_sold=sum(s.quantity for s in sales),
        revenue_minor=revenue,
        fees_minor=fees,
        shipping_minor=shipping,
        cost_basis_minor=cost_basis,
        profit_minor=profit,
        unknown=unknown,
        sales=rows,
    )
