"""Sales: units of an item sold, and what a sale sets off on every other platform.

When the last unit sells, every other listing of the item is taken down through the outbox in
the same transaction as the sale, so the takedowns cannot be lost and go out in the next
delivery cycle. While units remain, listings on platforms that can update are updated instead.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from cashout_server.contract import Money
from cashout_server.db.models import Item, Listing, Sale
from cashout_server.domain.delivery.services import DeliveryState, cancel, open_deliveries
from cashout_server.domain.listings.services import ListingStatus, queue_updates, record, take_down
from cashout_server.ids import new_id
from cashout_server.runtime import Runtime


class SaleInvalid(ValueError):
    """The sale cannot be recorded as asked; the message says why."""


SOURCES = ("manual", "platform", "payment")


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
) -> Sale:
    """Record that ``quantity`` units of ``item`` sold, and delist or update elsewhere (the caller commits).

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

    Returns:
        The sale.

    Raises:
        SaleInvalid: nothing left to sell, or a quantity outside 1..left.
    """
    if source not in SOURCES:
        raise SaleInvalid(f"source must be one of {', '.join(SOURCES)}")
    if item.quantity < 1:
        raise SaleInvalid("the item is already sold out")
    if not 1 <= quantity <= item.quantity:
        raise SaleInvalid(f"quantity must be between 1 and {item.quantity} (the units left)")
    if price is not None and price.currency != item.currency:
        raise SaleInvalid(f"the price's currency {price.currency} is not the item's ({item.currency})")
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
    return sale


async def sales_of(session: AsyncSession, item: Item) -> list[Sale]:
    """The item's sales, oldest first."""
    return list(await session.scalars(select(Sale).where(Sale.item_id == item.id).order_by(Sale.id)))
